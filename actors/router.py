"""The session router: the directory and supervisor of every user's session.

The ``Router`` owns the ``user -> UserSession`` directory (``actors.session``):
a connection hands it each decoded message and, when the user is in memory,
the message is applied right there, in the connection's task (zero channel
hops per event; trio runs one task at a time, so nothing interleaves with an
update). A user who is not in memory is activated from disk by a loader task
in the router's nursery while their messages are held, in order. An idle,
flushed session is evicted; when handling a message raises, the crash is
logged with the user's id and that user is rebuilt from disk on their next
message. Nobody else notices.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import attrs
import trio

from actors.outbox import Outbox
from actors.pool import Job
from actors.session import UserSession, load_session, replay_tail
from actors.writer import StoreWriter
from courses import Catalog
from messages import ErrorCode, ErrorReply, InboundMessage, Request, encode
from store import EventRow
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)

# Messages held for one user while their state loads; past this the
# connection delivering them waits for the load instead of buffering more.
MAX_HELD_WHILE_LOADING = 1000


@attrs.frozen
class Delivery:
    """A decoded message on its way to its user's session, and where replies go."""

    message: InboundMessage
    outbox: Outbox
    received_ms: int  # wall clock, stored with the event
    received_at: float  # trio clock, for latency
    reserved: int = 0  # outbox places held for a request's replies
    hardware: str | None = None  # the message's, else the stream's (hub path, relay stream)


@attrs.define
class _Loading:
    held: deque[Delivery]
    done: trio.Event = attrs.field(factory=trio.Event)


class Router:
    """The user -> session directory, and the supervisor of every session."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        writer: StoreWriter,
        jobs: trio.MemorySendChannel[Job],
        idle_timeout_s: float,
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._catalog = catalog
        self._writer = writer
        self._jobs = jobs
        self._idle_timeout_s = idle_timeout_s
        self.sessions: dict[str, UserSession] = {}
        self._loading: dict[str, _Loading] = {}
        self._recovering: dict[str, int] = {}
        self._read_limiter = trio.CapacityLimiter(1)
        self._nursery: trio.Nursery | None = None
        self._closed = trio.Event()
        self.crashes = 0

    async def run(self, *, task_status: trio.TaskStatus[Router] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the loaders and the idle sweep until ``close``; then finish every load and return."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._evict_idle)
            task_status.started(self)
            await self._closed.wait()
            for loading in list(self._loading.values()):
                await loading.done.wait()
            nursery.cancel_scope.cancel()

    def close(self) -> None:
        """No more messages: ``run`` returns once users being loaded have had theirs."""
        self._closed.set()

    async def deliver(self, delivery: Delivery) -> None:
        """Apply (or hold, or answer) one message, in the order connections hand them in.

        Usually returns without a pass through the scheduler: the caller's
        socket read was the checkpoint. Waits while the commit buffer is full
        (the disk is slow or failing) or while too many of a loading user's
        messages are held: backpressure to the sockets, not memory growth.
        Raises ``trio.ClosedResourceError`` once the service is shutting down.
        """
        if self._closed.is_set():
            raise trio.ClosedResourceError("the service is stopping")
        if not self._writer.has_room:
            await self._writer.wait_for_room()
        while (wait := self._dispatch(delivery)) is not None:
            await wait.wait()

    def _dispatch(self, delivery: Delivery) -> trio.Event | None:
        """Handle now, or hold while the user loads; an event to wait for if full."""
        user = delivery.message.user
        session = self.sessions.get(user)
        if session is not None:
            self._handle(session, delivery)
            return None
        loading = self._loading.get(user)
        if loading is None:
            assert self._nursery is not None, "deliver() before run() started"
            self._loading[user] = _Loading(deque([delivery]))
            self._nursery.start_soon(self._activate, user)
        elif len(loading.held) >= MAX_HELD_WHILE_LOADING:
            return loading.done
        else:
            loading.held.append(delivery)
        return None

    async def _activate(self, user: str) -> None:
        """Load ``user`` off the event loop, then handle what arrived meanwhile, in order.

        The user stays "loading" (new messages are held behind the old ones)
        until every held message is handled, so order is kept even while the
        commit buffer makes us wait for room.
        """
        loading = self._loading[user]
        try:
            session = await self._load(user)
            while loading.held:
                if not self._writer.has_room:
                    await self._writer.wait_for_room()
                    continue
                delivery = loading.held.popleft()
                if session is None or session.crashed:
                    self._unavailable(user, delivery)
                else:
                    self._handle(session, delivery)
            if session is not None and not session.crashed:
                self.sessions[user] = session
        finally:
            del self._loading[user]
            loading.done.set()

    async def _load(self, user: str) -> UserSession | None:
        """The user's state from disk, or None (logged) when it cannot be read."""
        try:
            recovering = self._recovering.pop(user, None)
            if recovering is not None:
                await self._writer.wait_committed(recovering)
            store = self._writer.store
            session, problems, tail = await trio.to_thread.run_sync(
                load_session, store, self._catalog, user, limiter=self._read_limiter
            )
            problems += await replay_tail(session, store, tail, self._read_limiter)
        except Exception:
            log.exception("session.load_failed", extra={"user": user})
            return None
        for problem in problems:
            log.warning("session.load_problem", extra={"user": user, "problem": problem})
        if not session.clean:
            self._writer.mark_dirty(session)
        return session

    def _unavailable(self, user: str, delivery: Delivery) -> None:
        """Store the event of a user whose state cannot be loaded; refuse a request."""
        if isinstance(delivery.message, Request):
            self._refuse(delivery, ErrorCode.INTERNAL_ERROR, "this user's state is unavailable")
        else:
            self._recovering[user] = self._writer.append(_row_maker(delivery))

    def _handle(self, session: UserSession, delivery: Delivery) -> None:
        session.last_active = trio.current_time()
        message = delivery.message
        try:
            if isinstance(message, Request):
                self._metrics.request[type(message.payload)].inc()
                self._ask(session, message, delivery)
            else:
                self._metrics.event[message.TYPE].inc()
                # Stored first: an event is kept even if applying it fails.
                session.last_seq = self._writer.append(_row_maker(delivery))
                session.apply(message, delivery.hardware)
                self._writer.mark_dirty(session)
        except Exception:
            self._crash(session, delivery)

    def _ask(self, session: UserSession, request: Request, delivery: Delivery) -> None:
        snapshot = session.progress.snapshot(request.exp, request.course)
        try:
            self._jobs.send_nowait(
                Job(request, snapshot, delivery.outbox, delivery.received_at, delivery.reserved)
            )
        except trio.WouldBlock:
            self._refuse(delivery, ErrorCode.OVERLOADED, "too many requests in flight")

    def _crash(self, session: UserSession, delivery: Delivery) -> None:
        self.crashes += 1
        self._metrics.session_crashes.inc()
        log.exception("session.crashed", extra={"user": session.user})
        session.crashed = True
        self.sessions.pop(session.user, None)
        self._writer.forget(session)
        self._recovering[session.user] = session.last_seq
        if isinstance(delivery.message, Request):
            self._refuse(
                delivery, ErrorCode.INTERNAL_ERROR, "this request failed; the error is logged"
            )

    def _refuse(self, delivery: Delivery, code: ErrorCode, message: str) -> None:
        request = delivery.message
        assert isinstance(request, Request)
        reply = encode(ErrorReply(code, message, user=request.user, id=request.id))
        delivery.outbox.put(reply, reserved=delivery.reserved > 0)
        delivery.outbox.release(delivery.reserved - 1)
        self._metrics.error_reply[code].inc()

    async def _evict_idle(self) -> None:
        """Drop sessions idle for ``idle_timeout_s`` once their state is on disk."""
        period = min(self._idle_timeout_s / 4, 30.0)
        while True:
            await trio.sleep(period)
            idle_since = trio.current_time() - self._idle_timeout_s
            for user, session in list(self.sessions.items()):
                if session.last_active > idle_since:
                    continue
                if session.clean and self._writer.committed_seq >= session.last_seq:
                    del self.sessions[user]
                    log.debug("session.evicted", extra={"user": user})
                else:
                    self._writer.mark_dirty(session)


def _row_maker(delivery: Delivery) -> Callable[[int], EventRow]:
    message = delivery.message
    assert not isinstance(message, Request)
    return lambda seq: EventRow.of(
        seq, message, hardware=delivery.hardware, received_ms=delivery.received_ms
    )
