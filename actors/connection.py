"""The connection actor: one per WebSocket, hub or relay.

Two tasks. The reader always drains the socket (so pings are answered even
when the client reads nothing), decodes each frame with the ``messages``
codec, answers bad frames with an error reply and hands good ones to the
router, which applies an event to its user's session right away and sends a
request's snapshot to the analytics pool. The writer (``actors.sending``)
sends what the outbox holds, everything queued in one write, each write
under a deadline; a client that stops reading fills its outbox and is cut
off (close 1008), and nobody else ever waits for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import attrs
import trio

from actors.drain import Drain
from actors.guard import Guard
from actors.limits import Throttle, TokenBucket
from actors.outbox import Outbox, open_outbox
from actors.router import Delivery, Router
from actors.sending import CLOSE_TIMEOUT_S, cut_off, send_loop
from messages import (
    AllFeedbackRequest,
    DecodeError,
    ErrorCode,
    ErrorReply,
    InboundMessage,
    Request,
    decode,
    encode,
    encode_error,
)
from store import now_ms
from telemetry.metrics import Metrics
from websocket.transport import Transport, TransportClosed

log = logging.getLogger(__name__)

CLOSE_UNSUPPORTED = 1003  # binary frame: we speak JSON text
# Frames handled between two passes through the scheduler: one socket read
# can bring hundreds (a client that catches up), about 15 us each.
FRAMES_PER_STEP = 32
# After an ``overloaded`` for its rate, a connection is read again once its
# request would fit, but never later than this (a clean stop waits for it).
MAX_RATE_PAUSE_S = 1.0
# A connection over its request rate, or sending bad frames, says so in the
# log once per this, with a count.
LOG_INTERVAL_S = 60.0


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
    # Relay mode with --answer-on-hub-only: requests are not answered at all
    # (dropped, counted in the log), so the stream carries raw events only.
    answer_requests: bool = True
    # A token bucket per connection, counted in replies (all_feedback is
    # five): past it a request is answered ``overloaded`` at once. 0: no limit
    # (a relay connection carries a whole stream).
    reply_rate_per_s: float = 0.0
    reply_burst: int = 0

    def request_bucket(self) -> TokenBucket | None:
        """A new connection's bucket, full; None when requests are not limited."""
        if self.reply_rate_per_s <= 0 or self.reply_burst <= 0:
            return None
        return TokenBucket(self.reply_rate_per_s, self.reply_burst, trio.current_time())


def replies_to(request: Request) -> int:
    """How many frames answer ``request``: five for ``all_feedback``, else one."""
    return 5 if isinstance(request.payload, AllFeedbackRequest) else 1


async def run_connection(
    ws: Transport,
    *,
    stream: str | None,
    router: Router,
    rules: ConnectionRules,
    name: str,
    on_open: Callable[[Outbox], None] | None = None,
    guard: Guard | None = None,
) -> None:
    """Serve one WebSocket until it closes; returns then, raises nothing expected.

    Owns its outbox (closed on return; ``on_open`` is shown it, for the hub
    to tell a request in flight) and both tasks. ``guard`` (access control
    on) refuses what the connection's grant does not allow: ``forbidden``.
    """
    outbox, outgoing = open_outbox(rules.outbound_size, name, ws.send_now)
    if on_open is not None:
        on_open(outbox)
    reader = _Reader(ws, stream, outbox, router, rules, rules.request_bucket(), guard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_loop, ws, outgoing, outbox, rules.send_timeout_s, rules.metrics)
        try:
            await reader.run()
        finally:
            outbox.close()  # the writer sends what is queued, then ends
            if not ws.closed:  # it may be blocked on a client that does not read
                nursery.cancel_scope.cancel()
    if outbox.overflowed:  # the reader found no room: the client is not reading
        await cut_off(ws, outbox, rules.metrics, "outbound queue full: the client is not reading")


@attrs.frozen
class _Reader:
    """The reading half of a connection actor."""

    ws: Transport
    stream: str | None
    outbox: Outbox
    router: Router
    rules: ConnectionRules
    bucket: TokenBucket | None = None
    guard: Guard | None = None
    over_rate: Throttle = attrs.field(factory=lambda: Throttle(LOG_INTERVAL_S))
    rejected: Throttle = attrs.field(factory=lambda: Throttle(LOG_INTERVAL_S))
    forbidden: Throttle = attrs.field(factory=lambda: Throttle(LOG_INTERVAL_S))
    unanswered: Throttle = attrs.field(factory=lambda: Throttle(LOG_INTERVAL_S))

    async def run(self) -> None:
        """Read frames until the client leaves, is cut off, or a drain finds it idle."""
        with self.rules.drain.reading() as reading:
            while True:
                try:
                    frames = await reading.receive(self.ws)
                except TransportClosed:
                    return
                if not await self._take_all(frames):
                    return

    async def _take_all(self, frames: Sequence[str | bytes]) -> bool:
        """Handle the frames of one read; False when the connection must end."""
        number = 0
        try:
            for number, frame in enumerate(frames, start=1):
                if not await self._take(frame):
                    return False
                if number % FRAMES_PER_STEP == 0:
                    # Let the others have the loop (not a cancel point: a frame read
                    # is a frame handled).
                    await trio.lowlevel.cancel_shielded_checkpoint()
        except trio.Cancelled:
            # Only the end of the grace cuts a connection while it hands frames on.
            log.warning(
                "connection.frames_unhandled",
                extra={"connection": self.outbox.name, "frames": len(frames) - number + 1},
            )
            raise
        return True

    async def _take(self, frame: str | bytes) -> bool:
        """Handle one frame; False when the connection must end."""
        if isinstance(frame, bytes):
            await self.ws.close(CLOSE_UNSUPPORTED, "text frames only", timeout_s=CLOSE_TIMEOUT_S)
            return False
        try:
            message = decode(frame)
        except DecodeError as error:
            return await self._refused(error)
        if self.guard is not None and (why := self.guard.refuses(message)) is not None:
            return await self._forbidden(message, why)
        if isinstance(message, Request):
            if not self.rules.answer_requests:
                return self._not_answered()
            return await self._request(message)
        return await self._deliver(message, reserved=0)

    async def _request(self, message: Request) -> bool:
        """A request within the connection's rate, with room held for its replies."""
        reserved = replies_to(message)
        if self.bucket is not None and not self.bucket.take(reserved, trio.current_time()):
            return await self._over_rate(message, reserved)
        if not await self.outbox.reserve(reserved, self.rules.send_timeout_s):
            return False  # the client does not read its replies: cut off by the writer
        return await self._deliver(message, reserved=reserved)

    async def _deliver(self, message: InboundMessage, *, reserved: int) -> bool:
        hardware = self.stream if message.hardware is None else message.hardware
        delivery = Delivery(message, self.outbox, now_ms(), trio.current_time(), reserved, hardware)
        try:
            await self.router.deliver(delivery)
        except DecodeError as error:  # an event the store could not keep
            return await self._refused(error)
        except trio.ClosedResourceError:
            return False  # the service is stopping
        return True

    async def _over_rate(self, request: Request, cost: int) -> bool:
        """Answer a request past the connection's rate with ``overloaded``, then read this
        client again only once such a request would fit (at most ``MAX_RATE_PAUSE_S``).

        The error says why a dashboard got no figures; the pause keeps a client
        that ignores it from looping on errors (four such clients cost the
        others as much as four looping ``all_feedback`` ones did:
        docs/BENCHMARKS.md). False if the client was cut off.
        """
        if count := self.over_rate.note(trio.current_time()):
            log.info(
                "connection.over_rate",
                extra={"connection": self.outbox.name, "requests": count},
            )
        assert self.bucket is not None
        reply = ErrorReply(
            ErrorCode.OVERLOADED,
            f"too many requests on this connection: at most {self.bucket.rate_per_s:g} "
            f"replies a second (all_feedback counts five); ask less often",
            user=request.user,
            id=request.id,
        )
        if not await self._answer(encode(reply), reply.code):
            return False
        await trio.sleep(min(MAX_RATE_PAUSE_S, self.bucket.wait_s(cost, trio.current_time())))
        return True

    async def _forbidden(self, message: InboundMessage, why: str) -> bool:
        """A message the connection's grant does not allow: ``forbidden``, not stored, not
        routed; False if the client was cut off."""
        if count := self.forbidden.note(trio.current_time()):
            log.info(
                "connection.forbidden",
                extra={"connection": self.outbox.name, "reason": why, "messages": count},
            )
        request_id = message.id if isinstance(message, Request) else None
        reply = ErrorReply(ErrorCode.FORBIDDEN, why, user=message.user, id=request_id)
        return await self._answer(encode(reply), reply.code)

    def _not_answered(self) -> bool:
        """A request on a relay stream with ``answer_on_hub_only``: dropped, counted in the log."""
        if count := self.unanswered.note(trio.current_time()):
            log.info(
                "relay.request_not_answered",
                extra={"connection": self.outbox.name, "requests": count},
            )
        return True

    async def _answer(self, text: str, code: ErrorCode) -> bool:
        """An error reply, with room reserved like a request's; False if the client was cut off."""
        if not await self.outbox.reserve(1, self.rules.send_timeout_s):
            return False
        self.outbox.put(text, reserved=True)
        self.rules.metrics.error_reply[code].inc()
        return True

    async def _refused(self, error: DecodeError) -> bool:
        """Answer a bad frame (room reserved like a request's); False if cut off."""
        # One line per connection per interval: a flood of bad frames must not
        # flood the journal too (journald drops everyone's lines past its rate).
        if count := self.rejected.note(trio.current_time()):
            log.info(
                "frame.rejected",
                extra={"connection": self.outbox.name, "code": error.code, "frames": count},
            )
        if error.is_reply:
            return True  # another client's reply, echoed by a relay: not for us
        if error.message_type == Request.TYPE:
            answered = self.rules.answer_requests
        else:
            answered = self.rules.answer_event_errors
        return await self._answer(encode_error(error), error.code) if answered else True
