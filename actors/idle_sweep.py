"""The hub's sweep task: the idle rule applied to every open connection, a few times a period.

``actors.liveness`` decides (ping, keep, close) and stays free of trio;
this task acts on its verdicts: pings, closes, and lets the other tasks run
between batches, since closing thousands of connections at once would hold
the loop for a second. Each pass ends by logging the counts of the hub's
throttled lines (``actors.flood_log``). Apart from the hub, which accepts
and admits, because this runs beside it on its own clock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import trio

from actors.flood_log import CLOSING, FloodLog
from actors.liveness import CLOSE_IDLE, CLOSE_SLOW_MESSAGE, Liveness, Verdict
from actors.outbox import Outbox
from websocket.server import ServerWebSocket

# The sweep lets the others run after this many connections judged, or closed.
CONNECTIONS_PER_STEP = 500  # ~0.5 ms
CLOSES_PER_STEP = 5


async def sweep_idle(
    liveness: Liveness,
    connections: Collection[ServerWebSocket],
    outboxes: Mapping[ServerWebSocket, Outbox],
    flood_log: FloodLog,
) -> None:
    """Apply the idle rule to ``connections`` (the hub's live set) every ``tick_s``, until
    cancelled; a connection whose outbox has a request in flight is kept (its quiet is ours)."""
    while True:
        await trio.sleep(liveness.tick_s)
        now = trio.current_time()
        closed = 0
        for number, ws in enumerate(list(connections), start=1):
            verdict = liveness.verdict(ws, now)
            if verdict is not Verdict.KEEP and _busy(outboxes.get(ws)):
                verdict = Verdict.KEEP
            if verdict is Verdict.PING:
                ws.ping_nowait()
            elif verdict is Verdict.IDLE:
                ws.expire(CLOSE_IDLE, "idle: nothing received, not even a pong")
            elif verdict is Verdict.SLOW_MESSAGE:
                ws.expire(CLOSE_SLOW_MESSAGE, "a message took too long to arrive")
            if verdict in CLOSING:
                flood_log.expired(verdict)
                closed += 1
            # Each close wakes two tasks to end (~0.2 ms of CPU): thousands
            # at once would hold the loop for a second.
            if number % CONNECTIONS_PER_STEP == 0 or closed == CLOSES_PER_STEP:
                closed = 0
                await trio.lowlevel.checkpoint()
        flood_log.flush(now)


def _busy(outbox: Outbox | None) -> bool:
    """Whether a request of the connection is in flight."""
    return outbox is not None and outbox.busy
