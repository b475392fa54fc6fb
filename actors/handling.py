"""Handling one message of a ready user (the router's last step).

An event is stored first (``StoreWriter.append``), then applied to its
session; a request is sent to the analytics pool with an immutable snapshot,
or refused with ``overloaded`` when the pool's queue is full. A session that
raises is dropped and its user rebuilt from disk on their next message,
after the writer has committed everything it had.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from actors.asks import V2Read
from actors.lines import Delivery
from actors.outbox import Outbox
from actors.pool import Job
from actors.residents import Residents
from actors.session import UserSession
from actors.writer import StoreWriter
from messages import DecodeError, ErrorCode, ErrorReply, Event, Request, V2Event, encode
from store import EventRow, JsonText, UnstorableEvent, encode_payload
from telemetry.metrics import Metrics

# The router's log: handling is its last step, and operators filter on it.
log = logging.getLogger("actors.router")


class Handler:
    """Applies messages to sessions; owns the crash count and who must be reloaded."""

    def __init__(
        self,
        *,
        writer: StoreWriter,
        jobs: trio.MemorySendChannel[Job],
        metrics: Metrics,
        residents: Residents,
    ) -> None:
        self._writer = writer
        self._jobs = jobs
        self._metrics = metrics
        self._residents = residents
        # Users to reload only once the writer has committed up to this seq.
        self.recovering: dict[str, int] = {}
        self.crashes = 0

    def handle(
        self, session: UserSession, delivery: Delivery, payload: JsonText | None = None
    ) -> None:
        """Apply an event (``payload``: its encoded payload) or ask for a request's replies."""
        self._residents.touch(session, trio.current_time())
        message = delivery.message
        try:
            if isinstance(message, V2Read):
                assert delivery.receipt is not None
                progress = session.progress.courses.get((message.exp, message.course))
                delivery.receipt.read(None if progress is None else progress.v2_snapshot())
            elif payload is None:
                assert isinstance(message, Request)
                self._metrics.request[type(message.payload)].inc()
                self._ask(session, message, delivery)
            else:
                assert isinstance(message, Event | V2Event)
                self._metrics.event[message.TYPE].inc()
                # Stored first: an event is kept even if applying it fails.
                session.last_seq = self._writer.append(row_maker(delivery, payload))
                before = session.bytes
                session.apply(message, delivery.hardware)
                self._residents.bytes += session.bytes - before
                self._writer.mark_dirty(session)
        except Exception:
            self._crash(session, delivery)

    def unavailable(self, user: str, delivery: Delivery, payload: JsonText | None) -> None:
        """Store the event of a user whose state cannot be loaded; refuse a request."""
        if payload is None:
            self.refuse(delivery, ErrorCode.INTERNAL_ERROR, "this user's state is unavailable")
        else:
            self.recovering[user] = self._writer.append(row_maker(delivery, payload))

    def _ask(self, session: UserSession, request: Request, delivery: Delivery) -> None:
        snapshot = session.progress.snapshot(request.exp, request.course)
        try:
            self._jobs.send_nowait(
                Job(request, snapshot, delivery.outbox, delivery.received_at, delivery.reserved)
            )
        except trio.WouldBlock:
            self.refuse(delivery, ErrorCode.OVERLOADED, "too many requests in flight")

    def _crash(self, session: UserSession, delivery: Delivery) -> None:
        self.crashes += 1
        self._metrics.session_crashes.inc()
        log.exception("session.crashed", extra={"user": session.user})
        session.crashed = True
        self._residents.dropped(session)
        self._writer.forget(session)
        self.recovering[session.user] = session.last_seq
        if isinstance(delivery.message, Request | V2Read):
            self.refuse(
                delivery, ErrorCode.INTERNAL_ERROR, "this request failed; the error is logged"
            )

    def refuse(self, delivery: Delivery, code: ErrorCode, message: str) -> None:
        """Answer a request (or an HTTP read) that cannot be served with an error."""
        if delivery.receipt is not None:
            delivery.receipt.failed(message)
            return
        request = delivery.message
        assert isinstance(request, Request)
        assert isinstance(delivery.outbox, Outbox)
        reply = encode(ErrorReply(code, message, user=request.user, id=request.id))
        delivery.outbox.put(reply, reserved=delivery.reserved > 0)
        delivery.outbox.release(delivery.reserved - 1)
        self._metrics.error_reply[code].inc()


def encode_event(message: Event | V2Event) -> JsonText:
    """An event's payload as the store will keep it; ``DecodeError`` if it cannot be.

    Checked when the event is read, before it is applied or held: a payload
    nested too deep for orjson to write (255 levels) is refused to its sender
    as ``invalid_message`` (issue 12.1) instead of failing the writer later.
    """
    try:
        return encode_payload(message)
    except UnstorableEvent as exc:
        log.info("event.unstorable", extra={"user": message.user, "error": str(exc)})
        raise DecodeError(
            ErrorCode.INVALID_MESSAGE,
            [f"{exc} @ $.payload"],
            user=message.user,
            message_type=message.TYPE,
        ) from None


def row_maker(delivery: Delivery, payload: JsonText) -> Callable[[int], EventRow]:
    """The row of ``delivery``'s event once it has a number; an HTTP writer learns the number."""
    message = delivery.message
    assert not isinstance(message, Request | V2Read)
    receipt = delivery.receipt

    def row(seq: int) -> EventRow:
        made = EventRow.of(
            seq, message, hardware=delivery.hardware, received_ms=delivery.received_ms,
            payload=payload,
        )  # fmt: skip
        if receipt is not None:
            receipt.stored(seq)
        return made

    return row
