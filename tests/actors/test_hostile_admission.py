"""Caps on hub connections (issue 12, finding 3): in total, per address, refused at once.

19,982 idle WebSockets once used the whole descriptor limit: a new client's
handshake hung 8 s and the log got an EMFILE traceback ten times a second.
Now the total is capped below the descriptor limit and per source address,
a connection past a cap gets ``503`` with ``Retry-After`` and is closed, a
flood of refusals makes one log line per interval, and accept() failing for
want of descriptors backs off without a traceback.
"""

from __future__ import annotations

import errno
import logging

import attrs
import pytest
import trio
from wsproto.events import AcceptConnection, CloseConnection

from actors.admission import (
    REFUSED_ADDRESS,
    REFUSED_TOTAL,
    Admission,
    SilentConnections,
    address_key,
    derived_max_connections,
)
from actors.hub import ACCEPT_BACKOFF_MAX_S, HubLimits
from tests.actors.conftest import running_service, service_settings
from tests.actors.hostile import (
    WsClient,
    connect_from,
    read_http_response,
    running_hub,
    upgrade_request,
    ws_client,
)


@pytest.mark.parametrize(
    ("fd_limit", "expected"),
    [
        (20_000, 16_000),  # a fifth kept back for the store, the ops port, backups
        (1024, 820),
        (256, 128),  # at least 128 kept back
        (100, 16),  # never below 16
        (1_048_576, 20_000),  # Docker's limit: capped by memory (~14 KB a connection)
    ],
)
def test_the_default_cap_is_derived_from_the_descriptor_limit(fd_limit, expected) -> None:
    assert derived_max_connections(fd_limit) == expected


@pytest.mark.parametrize(
    ("sockaddr", "key"),
    [
        (("192.0.2.7", 5000), "192.0.2.7"),
        (("2001:db8:1:2:aaaa::1", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::9", 5000, 0, 0), "2001:db8:1:2::/64"),  # same /64, same key
        (("2001:db8:1:3::1", 5000, 0, 0), "2001:db8:1:3::/64"),
        (("::ffff:192.0.2.7", 5000, 0, 0), "192.0.2.7"),
        (("fe80::1%eth0", 5000, 0, 2), "fe80::/64"),
    ],
)
def test_addresses_are_counted_by_ipv4_address_or_ipv6_64(sockaddr, key) -> None:
    assert address_key(sockaddr) == key


def test_admission_counts_in_total_and_per_address() -> None:
    admission = Admission(max_total=3, max_per_address=2)
    assert admission.admit("a") is None
    assert admission.admit("a") is None
    assert admission.admit("a") == REFUSED_ADDRESS
    assert admission.admit("b") is None
    assert admission.admit("c") == REFUSED_TOTAL
    assert admission.open == 3
    admission.release("a")
    assert admission.admit("c") is None
    assert (admission.from_address("a"), admission.from_address("c")) == (1, 1)
    unlimited = Admission(max_total=10, max_per_address=0)
    assert all(unlimited.admit("proxy") is None for _ in range(10))


async def test_past_the_cap_per_address_a_client_gets_503_and_others_still_get_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    limits = HubLimits(max_connections=10, max_connections_per_address=2)
    async with running_hub(limits) as (hub, _, port):
        async with ws_client(port) as first, ws_client(port) as second:
            for _ in range(5):
                stream = await connect_from(port)
                async with stream:
                    await stream.send_all(upgrade_request())
                    with trio.fail_after(5):
                        response = await read_http_response(stream)
                assert response.startswith(b"HTTP/1.1 503 ")
                assert b"\r\nretry-after: 10\r\n" in response.lower()
                assert REFUSED_ADDRESS.encode() in response
            async with ws_client(port, source="127.0.0.2"):
                assert hub.admission.open == 3
            del first, second
        refusals = [r for r in caplog.records if r.getMessage() == "hub.refused_address"]
        assert len(refusals) == 1  # five refusals, one line (the next interval has the rest)
        assert refusals[0].address == "127.0.0.1"
        with trio.fail_after(5):
            while hub.admission.open:
                await trio.sleep(0.01)
        async with ws_client(port), ws_client(port):  # the places came back
            pass


async def test_past_the_total_cap_every_address_is_refused() -> None:
    limits = HubLimits(max_connections=2, max_connections_per_address=0)
    async with (
        running_hub(limits) as (_, _, port),
        ws_client(port, source="127.0.0.2"),
        ws_client(port, source="127.0.0.3"),
    ):
        stream = await connect_from(port, "127.0.0.4")
        async with stream:
            client = WsClient(stream)
            with trio.fail_after(5):
                refused = await client.handshake()
        assert not isinstance(refused, AcceptConnection)
        assert refused.status_code == 503


async def test_a_connection_that_never_sends_its_handshake_is_dropped_and_counted_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = HubLimits(max_connections=1, handshake_timeout_s=10.0)
    async with running_hub(limits) as (hub, _, port):
        stream = await connect_from(port)
        async with stream:
            opened = trio.current_time()
            assert await stream.receive_some(100) == b""  # closed on us
            assert 10.0 <= trio.current_time() - opened < 10.5
        while hub.admission.open:
            await trio.sleep(0.01)
        async with ws_client(port):
            pass


async def test_beyond_the_refusals_in_flight_a_refused_socket_is_just_closed(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("actors.hub.MAX_REFUSING", 1)
    limits = HubLimits(max_connections=1)
    async with running_hub(limits) as (_, _, port), ws_client(port):
        silent = await connect_from(port)  # refused, and the refusal waits for its request
        await trio.sleep(0.1)
        started = trio.current_time()
        other = await connect_from(port)
        async with silent, other:
            assert await other.receive_some(100) == b""  # no slot left: closed at once
            assert trio.current_time() - started < 0.1


class FullTable:
    """A listener whose accept() finds the descriptor table full ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[float] = []

    async def accept(self) -> trio.SocketStream:
        self.calls.append(trio.current_time())
        if len(self.calls) <= self.failures:
            raise OSError(errno.EMFILE, "Too many open files")
        await trio.sleep_forever()
        raise AssertionError

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> FullTable:
        return self

    async def __aexit__(self, *_: object) -> None:
        pass


async def test_emfile_on_accept_backs_off_and_logs_one_line_per_interval(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_hub(HubLimits()) as (hub, _, _):
        table = FullTable(failures=100)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub._accept_loop, table, nursery)
            await trio.sleep(120)
            nursery.cancel_scope.cancel()
    assert len(table.calls) == 101
    gaps = [b - a for a, b in zip(table.calls, table.calls[1:], strict=False)]
    assert max(gaps) == pytest.approx(ACCEPT_BACKOFF_MAX_S)
    assert sum(1 for t in table.calls if t < 1.0) <= 8  # no spinning: 0.01 s doubling
    lines = [r for r in caplog.records if r.getMessage() == "hub.accept_failed"]
    elapsed = table.calls[-1] - table.calls[0]
    assert 1 <= len(lines) <= 1 + elapsed / 10 + 1  # one per 10 s interval, not per failure
    assert all(r.exc_info is None for r in lines)  # no traceback
    assert sum(r.times for r in lines) <= 100


async def test_the_service_refuses_past_its_settings_caps(tmp_path) -> None:
    settings = service_settings(tmp_path, max_connections_per_address=1)
    async with running_service(settings) as service:
        assert service.hub is not None
        assert service.hub.limits.max_connections_per_address == 1
        async with ws_client(service.hub_port):
            stream = await connect_from(service.hub_port)
            async with stream:
                await stream.send_all(upgrade_request())
                with trio.fail_after(5):
                    assert (await read_http_response(stream)).startswith(b"HTTP/1.1 503 ")


def test_silent_connections_give_the_oldest_that_never_spoke() -> None:
    @attrs.define(eq=False)
    class Conn:
        opened_at: float
        spoke: bool = False
        closed: bool = False

    silent = SilentConnections[Conn](after_s=5.0)
    talker, quiet, gone, late = Conn(0.0, spoke=True), Conn(1.0), Conn(2.0, closed=True), Conn(3.0)
    for connection in (talker, quiet, gone, late):
        silent.opened(connection)
    assert silent.oldest_silent(now=5.5) is None  # quiet is 4.5 s old: not yet
    assert silent.oldest_silent(now=6.0) is quiet
    assert silent.oldest_silent(now=7.9) is None  # gone is closed; late is 4.9 s old
    late.spoke = True
    assert silent.oldest_silent(now=100.0) is None


async def test_a_full_hub_gives_the_oldest_silent_place_to_a_newcomer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = HubLimits(max_connections=2, max_connections_per_address=0, make_room_after_s=5.0)
    async with (
        running_hub(limits) as (hub, _, port),
        ws_client(port, source="127.0.0.2") as oldest,
        ws_client(port, source="127.0.0.3") as talker,
    ):
        await talker.send_text('{"not": "decoded by the stub"}')
        too_early = await connect_from(port, "127.0.0.4")
        async with too_early:
            refused = await WsClient(too_early).handshake()
        assert refused.status_code == 503  # nobody silent for 5 s yet
        await trio.sleep(5.0)
        async with ws_client(port, source="127.0.0.5"):  # accepted in the oldest's place
            closed = await oldest.next_event()
            assert isinstance(closed, CloseConnection)
            assert closed.code == 1013
            with trio.fail_after(5):
                while hub.admission.open > 2:
                    await trio.sleep(0.01)
            # The talker keeps its place, and no silent one is left to give.
            newcomer = await connect_from(port, "127.0.0.6")
            async with newcomer:
                assert (await WsClient(newcomer).handshake()).status_code == 503
