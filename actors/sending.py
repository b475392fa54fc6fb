"""The writing half of a connection actor: what its outbox holds goes out, or the client is cut off.

Everything queued is sent in one write, each write under a deadline; a
client that stops reading fills its outbox, or lets a write time out, and
is cut off (close 1008), so nobody else ever waits for it. Apart from the
reader (``actors.connection``), which decides what to answer: this half
only sends, and knows nothing of messages.
"""

from __future__ import annotations

import logging

import trio

from actors.outbox import FLUSH, Outbox
from telemetry.metrics import Metrics
from websocket.transport import Transport, TransportClosed

# The connection's log: this is its half, and operators filter on it.
log = logging.getLogger("actors.connection")

CLOSE_POLICY = 1008  # the client broke our rules: stopped reading
# How long a close waits for the peer's close frame: a client that does not
# read must not hold us (trio-websocket alone would wait 60 s).
CLOSE_TIMEOUT_S = 1.0


async def send_loop(
    ws: Transport,
    outgoing: trio.MemoryReceiveChannel[str],
    outbox: Outbox,
    send_timeout_s: float,
    metrics: Metrics,
) -> None:
    """Send what ``outgoing`` brings until the reader closes the outbox (then what is
    queued still goes out), the client leaves, or it is cut off; raises nothing expected."""
    async with outgoing:
        try:
            async for text in outgoing:
                if outbox.overflowed:
                    break
                taken = [text]
                while len(taken) < outbox.capacity:
                    try:
                        taken.append(outgoing.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        # EndOfChannel: the reader closed the outbox since the
                        # first was taken; what was taken still goes out.
                        break
                texts = [text for text in taken if text != FLUSH]  # a flush sends just the rest
                with trio.move_on_after(send_timeout_s) as deadline:
                    await ws.send_messages(texts)
                outbox.taken()
                if deadline.cancelled_caught:
                    # If a frame was half written, the transport just hangs up.
                    await cut_off(ws, outbox, metrics, "send timed out")
                    return
        except TransportClosed:
            return
    if outbox.overflowed:
        await cut_off(ws, outbox, metrics, "outbound queue full: the client is not reading")


async def cut_off(ws: Transport, outbox: Outbox, metrics: Metrics, reason: str) -> None:
    """Close a client that does not read (1008, or a plain TCP abort), once, and count it."""
    if outbox.cut_off:
        return
    outbox.cut_off = True
    log.warning("connection.slow_client", extra={"connection": outbox.name, "reason": reason})
    metrics.slow_clients.inc()
    await ws.close(CLOSE_POLICY, reason, timeout_s=CLOSE_TIMEOUT_S)
