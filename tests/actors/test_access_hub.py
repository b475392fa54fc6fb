"""Access control on the hub (issue 15, phase 2): a code to get in, its scopes, one user.

Real sockets against a running service with access control on: the code
comes from ``POST /session/<stream>`` with a booking token made here with
PyJWT (``tests.access.jwts``), as the booking system makes them.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio

from access.codes import CodeBook
from access.grants import Grant
from actors.guard import CHALLENGE, Door, Guard
from actors.service import Service
from store import SqliteStore
from tests.access.jwts import PUBLIC_URL, access_settings, booking_token
from tests.actors.conftest import (
    Client,
    connect,
    event,
    request,
    running_service,
    service_settings,
    wait_until,
)
from tests.actors.test_relay import http_call
from tests.actors.writing import ask, message

STREAM = "spin30-log"


async def booked(service: Service, stream: str = STREAM, **claims: Any) -> str:
    """The hub URL ``POST /session/<stream>`` hands out for a booking token with ``claims``.

    The answer's host is the public URL's; the test reaches the hub on its own port.
    """
    status, _, body = await trio.to_thread.run_sync(
        http_call,
        service.http_port,
        "POST",
        f"/session/{stream}",
        {"Authorization": booking_token(topic=stream, **claims)},
    )
    assert status == 200, body
    uri = urlsplit(json.loads(body)["uri"])
    assert uri.netloc == urlsplit(PUBLIC_URL).netloc
    return f"ws://127.0.0.1:{service.hub_port}{uri.path}?{uri.query}"


async def upgrade(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """A raw WebSocket upgrade of ``target``: the status, headers and body of the answer."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            f"GET {target} HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        answer = b""
        with trio.fail_after(5):
            while b"\r\n\r\n" not in answer and (chunk := await stream.receive_some(65536)):
                answer += chunk
            if not answer.startswith(b"HTTP/1.1 101"):  # a refusal: the body, then the close
                while chunk := await stream.receive_some(65536):
                    answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
    return int(status_line.split()[1]), headers, body


def codes_of(url: str) -> str:
    return url.partition("?code=")[2]


async def test_an_upgrade_without_a_valid_code_is_refused_401_and_audited(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with running_service(access_settings(tmp_path)) as service:
        port = service.hub_port
        assert port is not None
        spent = await booked(service)
        async with connect(spent):  # the code's one use
            pass
        elsewhere = await booked(service, stream="spin31-log")  # a code for another stream
        issued = [codes_of(spent), codes_of(elsewhere)]
        cases = {
            "no code": f"/{STREAM}",
            "empty code": f"/{STREAM}?code=",
            "a guess": f"/{STREAM}?code=AAAAAAAAAAAAAAAAAAAAAA",
            "reused": f"/{STREAM}?code={codes_of(spent)}",
            "other stream": f"/{STREAM}?code={codes_of(elsewhere)}",
            "the stream the other code was for, once spent": urlsplit(elsewhere).path
            + f"?code={codes_of(elsewhere)}",
        }
        for case, target in cases.items():
            status, headers, body = await upgrade(port, target)
            assert status == 401, case
            assert headers["www-authenticate"] == CHALLENGE, case
            assert b"code" in body, case  # what to do
            assert not any(code.encode() in body for code in issued), case
        await wait_until(lambda: service.hub is not None and service.hub.admission.open == 0)
        assert not service.hub.connections
    refusals = [r for r in caplog.records if r.getMessage() == "audit.credential_refused"]
    hub_refusals = [r for r in refusals if r.route == "hub"]
    assert len(hub_refusals) == len(cases)
    assert {r.status for r in hub_refusals} == {401}
    assert [r.stream for r in hub_refusals] == [STREAM] * (len(cases) - 1) + ["spin31-log"]
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for code in issued:
        assert code not in everything


async def test_an_expired_code_is_refused_and_a_good_one_is_good_once(caplog) -> None:
    caplog.set_level(logging.INFO)
    now = [100.0]
    codes = CodeBook(ttl_s=60.0, clock=lambda: now[0])
    grant = Grant(scopes=frozenset({"write"}), stream=STREAM)
    stale = codes.issue(grant)
    fresh = codes.issue(grant)
    now[0] += 60.0  # the ttl has run out for both
    late = Door(codes, "10.0.0.7")
    refusal = late(f"/{STREAM}?code={stale}")
    assert refusal is not None
    assert refusal.response.startswith(b"HTTP/1.1 401 ")
    assert late.grant is None
    good_code = codes.issue(grant)
    door = Door(codes, "10.0.0.7")
    assert door(f"/prefix/{STREAM}?code={good_code}&x=1") is None
    assert door.grant == grant
    assert Door(codes, "10.0.0.7")(f"/{STREAM}?code={good_code}") is not None  # once
    assert Door(codes, "10.0.0.7")(f"/{STREAM}?code={fresh}") is not None  # expired too
    [first, *_] = [r for r in caplog.records if r.getMessage() == "audit.credential_refused"]
    assert (first.peer, first.route, first.status) == ("10.0.0.7", "hub", 401)
    assert stale not in str(first.__dict__)


def test_the_guard_binds_the_first_user_it_lets_through() -> None:
    write_only = Guard(Grant(scopes=frozenset({"write"}), stream=STREAM))
    assert write_only.refuses(ask("ana")) is not None  # no read scope: binds nobody
    assert write_only.user is None
    assert write_only.refuses(message("ana")) is None
    assert write_only.user == "ana"
    assert write_only.refuses(message("bob")) is not None
    assert write_only.refuses(message("ana", 2)) is None
    read_only = Guard(Grant(scopes=frozenset({"read"}), stream=STREAM))
    assert read_only.refuses(message("ana")) is not None
    assert read_only.refuses(ask("bob")) is None
    assert read_only.refuses(ask("ana")) is not None


async def forbidden(client: Client, frame: dict[str, Any]) -> dict[str, Any]:
    [reply] = await client.ask(frame, 1)
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "forbidden"
    return reply


def stored(tmp_path, user: str) -> list[str]:
    with SqliteStore(tmp_path / "data") as store:
        return [row.payload["log"] for row in store.events_of(user)]


async def test_events_need_write_requests_need_read(tmp_path) -> None:
    async with running_service(access_settings(tmp_path)) as service:
        lab_ui = await booked(service, scopes=["write"])
        viewer = await booked(service, scopes=["read"])
        async with connect(lab_ui) as lab, connect(viewer) as dashboard:
            for t, log in enumerate(["voltage", "speed", "voltage"]):
                await lab.send(event("ana", log, t))
            reply = await forbidden(lab, request("ana", "student_graph", id="q1"))
            assert reply["id"] == "q1"
            reply = await forbidden(dashboard, event("ana", "current", 9))
            assert "write" in reply["error"]["message"]
            [graph] = await dashboard.ask(request("ana", "student_graph", id=2), 1)
    assert graph["id"] == 2
    assert len(graph["edges"]) == 2  # voltage -> speed -> voltage; the refused "current" is not
    assert stored(tmp_path, "ana") == ["voltage", "speed", "voltage"]


async def test_a_connection_speaks_for_the_first_user_it_names_only(tmp_path) -> None:
    async with running_service(access_settings(tmp_path)) as service:
        async with connect(await booked(service)) as dashboard:
            for t, log in enumerate(["voltage", "speed", "voltage"]):
                await dashboard.send(event("ana", log, t))
            refused = await forbidden(dashboard, event("bob", "voltage", 5))
            assert refused["user"] == "bob"
            await forbidden(dashboard, request("bob", "student_graph", id=1))
            await forbidden(dashboard, request("carl", "indicators", id=2))
            [graph] = await dashboard.ask(request("ana", "student_graph", id=3), 1)
        # Another connection may be bound to bob: one user per connection, not per stream.
        async with connect(await booked(service)) as other:
            await other.send(event("bob", "speed", 1))
            [bobs] = await other.ask(request("bob", "student_graph", id=4), 1)
    assert len(graph["edges"]) == 2
    assert bobs["edges"] == []  # one event: no transition
    assert stored(tmp_path, "ana") == ["voltage", "speed", "voltage"]
    assert stored(tmp_path, "bob") == ["speed"]  # not the refused "voltage"
    assert stored(tmp_path, "carl") == []


@pytest.mark.parametrize("path", ["/spin30", "/spin30?code=whatever"])
async def test_with_access_control_off_nothing_is_asked_and_nobody_bound(tmp_path, path) -> None:
    async with running_service(service_settings(tmp_path / "data")) as service:
        assert service.access is None
        async with connect(f"ws://127.0.0.1:{service.hub_port}{path}") as client:
            await client.send(event("ana", "voltage", 1))
            await client.send(event("bob", "voltage", 1))
            replies = [
                await client.ask(request(u, "student_graph", id=u), 1) for u in ("ana", "bob")
            ]
    assert [reply["type"] for [reply] in replies] == ["response", "response"]
    assert stored(tmp_path, "bob") == ["voltage"]


async def test_a_flood_of_refused_upgrades_writes_bounded_audit_lines(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO)
    flood = 60
    async with running_service(access_settings(tmp_path)) as service:
        assert service.hub_port is not None
        for _ in range(flood):
            status, _, _ = await upgrade(service.hub_port, f"/{STREAM}")
            assert status == 401
        # The HTTP side shares the bound: the same peer's refused POSTs are not written.
        status, _, _ = await trio.to_thread.run_sync(
            http_call, service.http_port, "POST", f"/session/{STREAM}", {"Authorization": "x"}
        )
        assert status == 401
    lines = [r for r in caplog.records if r.getMessage() == "audit.credential_refused"]
    [summary] = [r for r in caplog.records if r.getMessage() == "audit.credential_refused_summary"]
    per_peer = service.refusals.per_peer
    assert len(lines) == per_peer
    assert (summary.peer, summary.suppressed) == ("127.0.0.1", flood + 1 - per_peer)  # at stop
