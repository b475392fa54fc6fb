"""The idle rule (issue 12, finding 3): quiet connections are pinged, dead ones closed.

A connection that answers pings stays however long it sends nothing (a
dashboard waiting legitimately); one that sends nothing at all, not even a
pong, is closed with 1001 after ``idle_close_s``; a message that never ends
is closed with 1008 after ``message_timeout_s``; a connection with a
request in flight is never judged. Run on trio's ``autojump_clock``: the hub
has a stub router, so no thread runs and minutes pass in no time.
"""

from __future__ import annotations

import pytest
import trio
from wsproto.events import CloseConnection, TextMessage

from actors.hub import HubLimits
from actors.idle_sweep import CLOSES_PER_STEP
from actors.liveness import Liveness, Verdict
from tests.actors.hostile import connect_from, running_hub, upgrade_request, ws_client
from websocket.server import ServerWebSocket

LIVENESS = Liveness(ping_interval_s=20.0, idle_close_s=60.0, message_timeout_s=30.0)
LIMITS = HubLimits(max_connections=100, liveness=LIVENESS)
ASK = (
    '{"user": "ann", "type": "request", "exp": "spinner", "course": "cie3", "id": 1,'
    ' "payload": {"content": "all_feedback", "graph": "spinner-cie3-3"}}'
)


async def test_a_client_that_answers_nothing_is_pinged_then_closed_with_1001(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(LIMITS) as (hub, _, port), ws_client(port) as client:
        opened = trio.current_time()
        closing = await client.next_event()
        closed_after = trio.current_time() - opened
        assert isinstance(closing, CloseConnection)
        assert closing.code == 1001
        assert client.pings == 1  # pinged once after 20 s, never answered
        assert 60.0 <= closed_after <= 60.0 + LIVENESS.tick_s + 0.1
        with pytest.raises(EOFError):
            await client.next_event()
        while hub.connections:
            await trio.sleep(0.01)
        assert hub.admission.open == 0


async def test_a_client_that_answers_pings_stays_however_quiet(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(LIMITS) as (hub, _, port), ws_client(port, answer_pings=True) as client:
        with trio.move_on_after(600) as waited:
            await client.next_event()  # nothing but pings for ten minutes
        assert waited.cancelled_caught
        # One per quiet spell of 20 s (+ up to a tick): a live client is asked, not closed.
        assert 600 // 25 <= client.pings <= 600 // 20
        assert len(hub.connections) == 1


async def test_a_message_that_never_ends_is_closed_with_1008(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        running_hub(LIMITS) as (_, router, port),
        ws_client(port, answer_pings=True) as client,
    ):
        started = trio.current_time()
        frame = client.ws.send(TextMessage(data="x" * 1000))

        async def trickle() -> None:
            for byte in frame[:-1]:  # a byte every 5 s: never quiet, never done
                await client.stream.send_all(bytes([byte]))
                await trio.sleep(5)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            closing = await client.next_event()
            nursery.cancel_scope.cancel()
        assert isinstance(closing, CloseConnection)
        assert closing.code == 1008
        assert 30.0 <= trio.current_time() - started <= 30.0 + LIVENESS.tick_s + 0.1
        assert router.deliveries == []


async def test_a_connection_with_a_request_in_flight_is_not_judged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(LIMITS) as (hub, router, port), ws_client(port) as client:
        await client.send_text(ASK)  # the stub router never answers it
        with trio.move_on_after(600) as waited:
            await client.next_event()
        assert waited.cancelled_caught
        assert len(router.deliveries) == 1
        assert len(hub.connections) == 1


def test_the_rule_judges_only_a_reader_waiting_for_bytes() -> None:
    class Quiet:
        last_heard = 0.0
        waiting = True
        message_since: float | None = None
        pinged = False

    quiet = Quiet()
    assert LIVENESS.verdict(quiet, 19.9, busy=False) is Verdict.KEEP
    assert LIVENESS.verdict(quiet, 20.0, busy=False) is Verdict.PING
    quiet.pinged = True
    assert LIVENESS.verdict(quiet, 59.9, busy=False) is Verdict.KEEP
    assert LIVENESS.verdict(quiet, 60.0, busy=False) is Verdict.IDLE
    assert LIVENESS.verdict(quiet, 600.0, busy=True) is Verdict.KEEP
    quiet.waiting = False  # held by backpressure: the quiet is ours
    assert LIVENESS.verdict(quiet, 600.0, busy=False) is Verdict.KEEP
    quiet.waiting, quiet.last_heard, quiet.message_since = True, 50.0, 20.0
    assert LIVENESS.verdict(quiet, 50.0, busy=False) is Verdict.SLOW_MESSAGE


def test_the_sweep_runs_a_few_times_per_shortest_period() -> None:
    assert LIVENESS.tick_s == 5.0
    assert Liveness(1.0, 2.0, 30.0).tick_s == 0.25
    assert Liveness(0.001, 0.002, 0.003).tick_s == 0.01


async def test_a_wave_of_idle_closes_gives_the_others_a_turn_every_few_closes(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each close wakes two tasks to end; thousands at once held the loop for seconds."""
    closes = 20
    turns = 0
    seen_at: list[int] = []
    expire = ServerWebSocket.expire

    async def someone_else() -> None:
        nonlocal turns
        while len(seen_at) < closes:  # from the first close to the last
            turns += 1
            await trio.lowlevel.checkpoint()

    async with running_hub(LIMITS) as (hub, _, port), trio.open_nursery() as nursery:

        def counting_expire(ws: ServerWebSocket, code: int, reason: str) -> None:
            if not seen_at:
                nursery.start_soon(someone_else)
            seen_at.append(turns)
            expire(ws, code, reason)

        monkeypatch.setattr(ServerWebSocket, "expire", counting_expire)
        clients = [await connect_from(port) for _ in range(closes)]
        for stream in clients:
            await stream.send_all(upgrade_request())
        while hub.connections or len(seen_at) < closes:
            await trio.sleep(1)
        for stream in clients:
            await stream.aclose()
    assert len(seen_at) == closes
    # All in one sweep, yet someone else had a turn about every CLOSES_PER_STEP
    # closes (trio runs a batch's tasks in any order: one step may see none).
    assert closes // 4 >= CLOSES_PER_STEP
    assert seen_at[-1] - seen_at[0] >= 2
