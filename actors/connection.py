"""The connection actor: one per WebSocket, hub or relay.

Two tasks. The reader always drains the socket (so pings are answered even
when the client reads nothing), decodes each frame with the ``messages``
codec, answers bad frames with an error reply and delivers good ones to the
user's shard through the router. The writer sends what the outbox holds,
each send under a deadline; a client that stops reading fills its outbox and
is cut off (close 1008), and nobody else ever waits for it.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from actors.metrics import Metrics
from actors.outbox import Outbox, open_outbox
from actors.sessions import Delivery
from actors.store import now_ms
from messages import (
    AllFeedbackRequest,
    DecodeError,
    InboundMessage,
    Request,
    check_hardware,
    decode,
    encode_error,
)

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008  # the client broke our rules: stopped reading
CLOSE_UNSUPPORTED = 1003  # binary frame: we speak JSON text


class Router:
    """Finds a user's shard: a hash, so no directory lookup per event."""

    def __init__(self, inboxes: Sequence[trio.MemorySendChannel[Delivery]]) -> None:
        self._inboxes = list(inboxes)

    async def deliver(
        self,
        message: InboundMessage,
        outbox: Outbox,
        reserved: int = 0,
        stream: str | None = None,
    ) -> None:
        """Hand ``message`` to its shard; waits while that shard's inbox is full.

        ``reserved``: outbox places held for the replies of a request;
        ``stream``: the hardware of a message that names none.
        Raises ``trio.ClosedResourceError`` once the service is shutting down.
        """
        index = zlib.crc32(message.user.encode()) % len(self._inboxes)
        hardware = stream if message.hardware is None else message.hardware
        await self._inboxes[index].send(
            Delivery(message, outbox, now_ms(), trio.current_time(), reserved, hardware)
        )

    async def aclose(self) -> None:
        for inbox in self._inboxes:
            await inbox.aclose()


class Drain:
    """A clean stop for connections: read what the client already sent, then close.

    Once ``start``ed, a reader that waits more than ``idle_s`` for the next
    frame gives up, so every frame a client sent before the stop is still
    read and stored; the connection is then closed with 1001.
    """

    def __init__(self, idle_s: float = 0.1) -> None:
        self.idle_s = idle_s
        self.started = False
        self._waiting: set[trio.CancelScope] = set()

    def start(self) -> None:
        self.started = True
        deadline = trio.current_time() + self.idle_s
        for scope in self._waiting:
            scope.deadline = min(scope.deadline, deadline)

    @contextmanager
    def watch(self) -> Iterator[trio.CancelScope]:
        """A scope for a whole reading (or waiting) loop, cancelled when a drain finds it idle.

        One scope per connection, not per frame: the reader pushes its
        deadline on after each frame while a drain runs.
        """
        deadline = trio.current_time() + self.idle_s if self.started else math.inf
        with trio.CancelScope(deadline=deadline) as scope:
            self._waiting.add(scope)
            try:
                yield scope
            finally:
                self._waiting.discard(scope)


@attrs.frozen
class ConnectionRules:
    """How one kind of connection treats its frames, and where it counts them."""

    outbound_size: int
    send_timeout_s: float
    metrics: Metrics
    drain: Drain = attrs.field(factory=Drain)
    # Relay mode: everyone on the stream sees our replies, so only requests
    # get error replies, and other clients' responses are ignored.
    answer_event_errors: bool = True


def replies_to(request: Request) -> int:
    """How many frames answer ``request``: five for ``all_feedback``, else one."""
    return 5 if isinstance(request.payload, AllFeedbackRequest) else 1


def stream_of(path: str) -> str | None:
    """The stream a URL path names (``/spin30`` -> ``spin30``), if it is a valid id."""
    name = path.split("?", 1)[0].strip("/").rsplit("/", 1)[-1]
    try:
        check_hardware(name)
    except ValueError:
        return None
    return name


async def run_connection(
    ws: WebSocketConnection,
    *,
    stream: str | None,
    router: Router,
    rules: ConnectionRules,
    name: str,
) -> None:
    """Serve one WebSocket until it closes; returns then, raises nothing expected.

    Owns its outbox (closed on return) and both tasks.
    """
    outbox, outgoing = open_outbox(rules.outbound_size, name)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_write_loop, ws, outgoing, outbox, rules)
        try:
            await _Reader(ws, stream, outbox, router, rules).run()
        finally:
            outbox.close()
            nursery.cancel_scope.cancel()
    if outbox.overflowed:  # the reader found no room: the client is not reading
        await _cut_off(ws, outbox, rules, "outbound queue full: the client is not reading")


@attrs.frozen
class _Reader:
    """The reading half of a connection actor."""

    ws: WebSocketConnection
    stream: str | None
    outbox: Outbox
    router: Router
    rules: ConnectionRules

    async def run(self) -> None:
        """Read frames until the client leaves, is cut off, or a drain finds it idle."""
        drain = self.rules.drain
        with drain.watch() as scope:
            while True:
                try:
                    frame = await self.ws.get_message()
                except ConnectionClosed:
                    return
                if not drain.started:
                    keep_reading = await self._take(frame)
                else:
                    scope.deadline = trio.current_time() + drain.idle_s
                    with trio.CancelScope(shield=True):  # a frame read is a frame handled
                        keep_reading = await self._take(frame)
                if not keep_reading:
                    return

    async def _take(self, frame: str | bytes) -> bool:
        """Handle one frame; False when the connection must end."""
        if isinstance(frame, bytes):
            await close_quickly(self.ws, CLOSE_UNSUPPORTED, "text frames only")
            return False
        try:
            message = decode(frame)
        except DecodeError as error:
            return await self._refused(error)
        reserved = 0
        if isinstance(message, Request):
            reserved = replies_to(message)
            if not await self.outbox.reserve(reserved, self.rules.send_timeout_s):
                return False  # the client does not read its replies: cut off by the writer
        try:
            await self.router.deliver(message, self.outbox, reserved, self.stream)
        except trio.ClosedResourceError:
            return False  # the service is stopping
        return True

    async def _refused(self, error: DecodeError) -> bool:
        """Answer a bad frame (room reserved like a request's); False if cut off."""
        log.info("frame.rejected", extra={"connection": self.outbox.name, "code": error.code})
        if error.is_reply:
            return True  # another client's reply, echoed by a relay: not for us
        if self.rules.answer_event_errors or error.message_type == Request.TYPE:
            if not await self.outbox.reserve(1, self.rules.send_timeout_s):
                return False
            self.outbox.put(encode_error(error), reserved=True)
            self.rules.metrics.error_reply[error.code].inc()
        return True


async def _write_loop(
    ws: WebSocketConnection,
    outgoing: trio.MemoryReceiveChannel[str],
    outbox: Outbox,
    rules: ConnectionRules,
) -> None:
    async with outgoing:
        try:
            async for text in outgoing:
                if outbox.overflowed:
                    break
                with trio.move_on_after(rules.send_timeout_s) as deadline:
                    await ws.send_message(text)
                outbox.taken()
                if deadline.cancelled_caught:
                    # A frame may be half written: no close frame after it, just drop
                    # the TCP connection (a zero timeout aborts trio-websocket's close).
                    await _cut_off(ws, outbox, rules, "send timed out", abort=True)
                    return
        except ConnectionClosed:
            return
    if outbox.overflowed:
        await _cut_off(ws, outbox, rules, "outbound queue full: the client is not reading")


async def _cut_off(
    ws: WebSocketConnection,
    outbox: Outbox,
    rules: ConnectionRules,
    reason: str,
    *,
    abort: bool = False,
) -> None:
    """Close a client that does not read (1008, or a plain TCP abort), once, and count it."""
    if outbox.cut_off:
        return
    outbox.cut_off = True
    log.warning("connection.slow_client", extra={"connection": outbox.name, "reason": reason})
    rules.metrics.slow_clients.inc()
    await close_quickly(ws, CLOSE_POLICY, reason, timeout_s=0 if abort else 1.0)


async def close_quickly(
    ws: WebSocketConnection, code: int, reason: str, timeout_s: float = 1.0
) -> None:
    """Start the close handshake, but drop the socket if the peer does not answer.

    trio-websocket waits for the peer's close frame (60 s by default); a client
    that does not read would hold us that long. Cancelled, it closes the stream.
    """
    with trio.move_on_after(timeout_s, shield=True):
        await ws.aclose(code, reason)
