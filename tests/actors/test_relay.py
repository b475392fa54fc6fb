"""Relay mode against the project's broadcast relay, and the relay-style access handshake."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.relay import Backoff
from actors.service import Service
from tests.actors.conftest import (
    Client,
    connect,
    event,
    request,
    running_service,
    service_settings,
    wait_until,
)
from websocket.broadcast_relay import BroadcastRelay

FAST_BACKOFF = {"relay_backoff_first_s": 0.02, "relay_backoff_max_s": 0.1}


async def receive_until(
    client: Client, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Every JSON frame up to the first for which ``done`` holds (others' frames pass by)."""
    seen = []
    with trio.fail_after(5):
        while True:
            raw = await client.ws.get_message()
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = {"raw": raw}
            seen.append(frame if isinstance(frame, dict) else {"raw": frame})
            if done(seen[-1]):
                return seen


def reply_to(request_id: object) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: (
        frame.get("type") in ("response", "error") and frame.get("id") == request_id
    )


async def start_relay(
    nursery: trio.Nursery, port: int = 0
) -> tuple[BroadcastRelay, int, trio.CancelScope]:
    relay = BroadcastRelay()
    scope = trio.CancelScope()

    async def run(*, task_status: trio.TaskStatus[int]) -> None:
        with scope:
            await relay.serve("127.0.0.1", port, task_status=task_status)

    bound = await nursery.start(run)
    return relay, bound, scope


@asynccontextmanager
async def following_a_relay(
    tmp_path: Path, *paths: str
) -> AsyncIterator[tuple[Service, list[str]]]:
    """A relay on a free port and the service following its streams ``paths``, connected
    to all of them; yields the service and the streams' URLs. The relay stops after it."""
    async with trio.open_nursery() as nursery:
        _, port, relay_scope = await start_relay(nursery)
        urls = [f"ws://127.0.0.1:{port}{path}" for path in paths]
        settings = service_settings(tmp_path, listen=None, connect=tuple(urls), **FAST_BACKOFF)
        async with running_service(settings) as service:
            await wait_until(lambda: all(s.connected for s in service.relays))
            yield service, urls
        relay_scope.cancel()


async def test_replies_come_back_through_the_stream_and_other_replies_are_ignored(tmp_path) -> None:
    async with (
        following_a_relay(tmp_path, "/spin30") as (_, [url]),
        connect(url) as ui,
        connect(url) as dashboard,
    ):
        for t, log in enumerate(["voltage", "speed", "voltage"]):
            await ui.send(event("u1", log, t))
        await ui.send("not json at all")  # an event-side error: counted, not answered
        await ui.send({"type": "response", "user": "u1", "content": "indicators"})
        await dashboard.send(request("u1", "indicators", id="d1"))
        # Everyone on the stream sees the reply, the UI included (relay semantics),
        # and before it, only what the other clients sent: no error for the
        # garbage, no answer to the other client's response frame.
        for client in (ui, dashboard):
            seen = await receive_until(client, reply_to("d1"))
            reply = seen[-1]
            assert reply["type"] == "response"
            assert reply["indicators"]["edges"] > 0
            assert not [f for f in seen[:-1] if f.get("type") == "error"]


async def test_the_service_follows_a_relay_that_vanishes_and_returns(tmp_path) -> None:
    async with trio.open_nursery() as nursery:
        _, port, first_life = await start_relay(nursery)
        url = f"ws://127.0.0.1:{port}/spin31"
        settings = service_settings(tmp_path, listen=None, connect=(url,), **FAST_BACKOFF)
        async with running_service(settings) as service:
            state = service.relays[0]
            await wait_until(lambda: state.connected)
            async with connect(url) as ui:
                await ui.send(event("u1", "voltage", 1))
                await ui.send(event("u1", "speed", 2))
                await ui.send(request("u1", "student_graph", id=1))
                before = (await receive_until(ui, reply_to(1)))[-1]
            assert len(before["edges"]) == 1

            first_life.cancel()  # the relay dies with every connection on it
            await wait_until(lambda: not state.connected)
            await wait_until(lambda: state.failures >= 2)  # it keeps trying while the relay is gone
            assert state.last_error

            _, again, second_life = await start_relay(nursery, port)
            assert again == port
            await wait_until(lambda: state.connected)
            assert state.connects == 2
            async with connect(url) as ui:
                await ui.send(event("u1", "position", 3))
                await ui.send(request("u1", "student_graph", id=2))
                after = (await receive_until(ui, reply_to(2)))[-1]
            # Both transitions, one from each life of the relay.
            assert {(e["from"], e["to"]) for e in after["edges"]} == {
                ("voltage_step", "speed_step"),
                ("speed_step", "position_step"),
            }
            second_life.cancel()


async def test_garbage_on_one_stream_does_not_affect_another(tmp_path) -> None:
    async with (
        following_a_relay(tmp_path, "/spin40", "/spin41") as (service, [noisy, quiet]),
        connect(noisy) as garbage,
        connect(quiet) as good,
    ):
        for frame in ["{", "[]", '{"type": "analytics"}', "x" * 1000]:
            await garbage.send(frame)
        await garbage.send(request("", "indicators"))  # a bad request IS answered
        error = (await receive_until(garbage, lambda f: f.get("type") == "error"))[-1]
        assert error["error"]["code"] == "invalid_message"
        await good.send(event("u2", "voltage", 1))
        await good.send(event("u2", "voltage", 2))
        await good.send(request("u2", "student_graph", id=7))
        reply = (await receive_until(good, reply_to(7)))[-1]
        assert reply["edges"][0]["label"] == "1"
        assert all(s.connected for s in service.relays)
        assert all(s.connects == 1 for s in service.relays)


async def test_a_flood_on_one_stream_does_not_starve_another(tmp_path) -> None:
    async with following_a_relay(tmp_path, "/spin50", "/spin51") as (service, [flood, calm]):
        flood_size = 5000
        async with (
            connect(flood) as flooder,
            connect(calm) as student,
            trio.open_nursery() as load,
        ):

            async def pour() -> None:
                for t in range(flood_size):
                    await flooder.send(event("flooder", "voltage", t))

            load.start_soon(pour)
            await trio.sleep(0.05)
            await student.send(event("u3", "speed", 1))
            await student.send(request("u3", "indicators", id=1))
            reply = (await receive_until(student, reply_to(1)))[-1]
            # Answered while the flood was still being read.
            applied = service.writer.appended_seq
            assert reply["id"] == 1
            assert applied < flood_size


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(0.1, 10.0)
    rng = random.Random(1)
    delays = [backoff.delay(failures, rng) for failures in range(12)]
    for failures, delay in enumerate(delays):
        step = min(10.0, 0.1 * 2**failures)
        assert step / 2 <= delay <= step
    assert max(delays) <= 10.0


def http_call(
    port: int, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


async def test_the_relay_access_handshake_leads_to_the_hub(tmp_path) -> None:
    settings = service_settings(tmp_path, http_listen="127.0.0.1:0")
    async with running_service(settings) as service:
        status, headers, body = await trio.to_thread.run_sync(
            http_call,
            service.http_port,
            "POST",
            "/session/spin30",
            {"Authorization": "Bearer some-token", "Origin": "https://dashboard.example"},
        )
        assert status == 200
        assert headers["access-control-allow-origin"] == "*"
        uri = json.loads(body)["uri"]
        assert uri == f"ws://127.0.0.1:{service.hub_port}/spin30"
        status, headers, _ = await trio.to_thread.run_sync(
            http_call,
            service.http_port,
            "OPTIONS",
            "/session/spin30",
            {
                "Origin": "https://dashboard.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert status == 204
        assert "POST" in headers["access-control-allow-methods"]
        assert "authorization" in headers["access-control-allow-headers"].lower()
        # The uri works: an unchanged dashboard opens it and gets answers.
        async with connect(uri) as dashboard:
            [reply] = await dashboard.ask(request("u9", "indicators", id=1), 1)
            assert reply["content"] == "indicators"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
        ("POST", "/session/..%2f", 404),
        ("GET", "/session/spin30", 405),
        ("GET", "/nope", 404),
    ],
)
async def test_the_ops_port_routes(tmp_path, method: str, path: str, status: int) -> None:
    async with running_service(service_settings(tmp_path, http_listen="127.0.0.1:0")) as service:
        got, _, _ = await trio.to_thread.run_sync(http_call, service.http_port, method, path, {})
        assert got == status


async def test_readiness_reports_a_relay_that_cannot_connect(tmp_path) -> None:
    dead = "ws://127.0.0.1:1/spin30"  # nothing listens on port 1
    settings = service_settings(
        tmp_path, connect=(dead,), http_listen="127.0.0.1:0", **FAST_BACKOFF
    )
    async with running_service(settings) as service:
        await wait_until(lambda: service.relays[0].failures >= 1)
        status, _, body = await trio.to_thread.run_sync(
            http_call, service.http_port, "GET", "/readyz", {}
        )
        # Within its backoff, a failing stream is still "ready" (it is not stuck) ...
        report = json.loads(body)
        assert report["relays"][0]["connected"] is False
        assert report["relays"][0]["failures"] >= 1
        assert status == 200
