"""The v2 (HTTP) API's backend: statements into the sessions, reads out of them.

Implements ``web.v2.V2Backend`` for the routes. A statement or a feedback
body becomes an event of its ``(user, exp, course)`` and goes through the
same ``Router.deliver`` as a WebSocket frame: the same line keeps the user's
order, the same commit buffer and backpressure hold it, and the answer is
``200`` only once the writer has committed it (a 2xx survives a crash). A
read asks the router for the user's snapshot (loading them if they are cold)
and computes the reply in the HTTP task: the analytics are pure functions of
an immutable snapshot. Everything one request can make us hold is bounded:
requests in flight (``max_in_flight``, then ``503 overloaded`` at once) and
the time to be stored or answered (``timeout_s``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Final

import orjson
import trio

from actors.asks import HttpClient, Receipt, V2Read
from actors.lines import Delivery
from actors.router import Router
from actors.writer import StoreWriter
from analytics.v2_replies import V2Replier
from analytics.v2_session import V2Snapshot
from messages import (
    ErrorCode,
    Identity,
    StatementEvent,
    UserFeedbackEvent,
    V2Event,
    decode_statement,
    decode_user_feedback,
)
from store import EventRow, now_ms
from store.snapshot import StoreSnapshot
from web.v2 import NotFoundError, OverloadedError

log = logging.getLogger(__name__)

MAX_IN_FLIGHT: Final = 1024
TIMEOUT_S: Final = 10.0
# Reads that need no student: answered without loading anyone.
NO_STUDENT: Final = frozenset({"comparisonGraph"})
LOG_PAGE_ROWS: Final = 2_000


class V2Backend:
    """The actors' side of the v2 routes (``web.v2.V2Backend``)."""

    def __init__(
        self,
        router: Router,
        writer: StoreWriter,
        replier: V2Replier,
        data_path: Path,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._router = router
        self._writer = writer
        self._replier = replier
        self._data_path = data_path
        self._in_flight = trio.CapacityLimiter(max_in_flight)
        self._timeout_s = timeout_s

    async def add_statement(self, identity: Identity, body: bytes) -> None:
        statement = decode_statement(body)  # DecodeError: the route's 400
        event = StatementEvent(
            identity.username, identity.hardware, identity.course, statement, statement.kit
        )
        await self._store(event)

    async def submit_feedback(self, identity: Identity, body: bytes) -> None:
        feedback = decode_user_feedback(body)
        await self._store(
            UserFeedbackEvent(
                identity.username, identity.hardware, identity.course, feedback, now_ms()
            )
        )

    async def read(
        self, endpoint: str, identity: Identity, taskcode: str | None
    ) -> Mapping[str, Any]:
        snapshot: V2Snapshot | None = None
        known = self._replier.view(identity.hardware, identity.course) is not None
        if known and endpoint not in NO_STUDENT and not identity.anonymous:
            snapshot = await self._snapshot(identity)
        answer = self._replier.answer(endpoint, identity, snapshot, taskcode=taskcode)
        if answer.status == 404:
            error = answer.body["error"]
            raise NotFoundError(ErrorCode(error["code"]), error["message"])
        return answer.body

    async def iter_log_lines(self) -> AsyncIterator[bytes]:
        """Every stored event and statement as JSON lines, a page of the store per item.

        Read from one snapshot of the store (a read transaction beside the
        writer), a page at a time in a thread: a large store never sits in memory.
        """
        snapshot = await trio.to_thread.run_sync(StoreSnapshot, self._data_path)
        try:
            pages = snapshot.event_pages(page_size=LOG_PAGE_ROWS)
            while page := await trio.to_thread.run_sync(partial(next, pages, None)):
                yield b"".join(_log_line(row) for row in page)
        finally:
            await trio.to_thread.run_sync(snapshot.close)

    # --- through the router -------------------------------------------------------

    async def _store(self, event: V2Event) -> None:
        """Deliver ``event``; return once it is committed (raises ``OverloadedError``)."""
        receipt = await self._deliver(event, event.hardware)
        if receipt.seq is None:
            raise OverloadedError(receipt.failure or "the statement could not be stored")
        with trio.move_on_after(self._timeout_s) as waited:
            await self._writer.wait_committed(receipt.seq)
        if waited.cancelled_caught:
            # Buffered, and stored once the disk takes it: a retry may count twice.
            raise OverloadedError("the store is not writing: try again later")

    async def _snapshot(self, identity: Identity) -> V2Snapshot | None:
        asked = V2Read(identity.username, identity.hardware, identity.course)
        receipt = await self._deliver(asked, None)
        if receipt.failure is not None:
            raise OverloadedError(receipt.failure)
        return receipt.snapshot

    async def _deliver(self, message: V2Event | V2Read, hardware: str | None) -> Receipt:
        try:
            self._in_flight.acquire_nowait()
        except trio.WouldBlock:
            raise OverloadedError("too many v2 requests in flight: try again") from None
        receipt = Receipt()
        delivery = Delivery(
            message, HttpClient(), now_ms(), trio.current_time(), hardware=hardware, receipt=receipt
        )
        try:
            with trio.move_on_after(self._timeout_s) as waited:
                await self._router.deliver(delivery)
                await receipt.done.wait()
        except trio.ClosedResourceError:
            raise OverloadedError("the service is stopping") from None
        finally:
            self._in_flight.release()
        if waited.cancelled_caught:
            raise OverloadedError("the service is too busy to take this now: try again")
        return receipt


def _log_line(row: EventRow) -> bytes:
    return (
        orjson.dumps(
            {
                "seq": row.seq,
                "user": row.user,
                "type": row.type,
                "exp": row.exp,
                "course": row.course,
                "hardware": row.hardware,
                "t": row.t,
                "received_ms": row.received_ms,
                "payload": row.payload,
            }
        )
        + b"\n"
    )
