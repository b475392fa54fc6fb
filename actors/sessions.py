"""Session actors: one per user, a state object run by the router that owns it.

A session is a per-user state object (``UserSession``), not a task: DESIGN.md
measured a task and channel per user at ~6.7 KB and one more hop per event,
a state object at ~1.1 KB. The ``Router`` is their directory and supervisor:
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
from functools import partial

import attrs
import orjson
import trio

from actors.metrics import Metrics
from actors.outbox import Outbox
from actors.pool import Job
from actors.store import EventRow, ProgressRow, SqliteStore, Tail
from actors.writer import StoreWriter
from analytics.progress import StudentProgress
from courses import Catalog
from messages import (
    DecodeError,
    ErrorCode,
    ErrorReply,
    InboundMessage,
    Request,
    decode,
    encode,
)

log = logging.getLogger(__name__)

# Messages held for one user while their state loads; past this the
# connection delivering them waits for the load instead of buffering more.
MAX_HELD_WHILE_LOADING = 1000

# Events replayed per scheduler pass when a user loads (~1 ms of work), and
# read from disk per trip to a worker thread.
REPLAY_CHUNK = 64
TAIL_PAGE = 256


@attrs.frozen
class Delivery:
    """A decoded message on its way to its user's session, and where replies go."""

    message: InboundMessage
    outbox: Outbox
    received_ms: int  # wall clock, stored with the event
    received_at: float  # trio clock, for latency
    reserved: int = 0  # outbox places held for a request's replies
    hardware: str | None = None  # the message's, else the stream's (hub path, relay stream)


class UserSession:
    """One user's state: progress per course, and how much of it is on disk."""

    def __init__(self, user: str, progress: StudentProgress) -> None:
        self.user = user
        self.progress = progress
        self.last_seq = 0  # newest event applied
        self.saved_seq = 0  # newest event covered by a snapshot on disk
        self.last_active = 0.0
        self.crashed = False  # dropped by the router; rebuilt from disk on the next message

    def progress_rows(self) -> list[ProgressRow]:
        """Snapshots of every course, all at ``last_seq`` (the store relies on it)."""
        return [
            ProgressRow(self.user, exp, course, self.last_seq, progress.to_record())
            for (exp, course), progress in self.progress.courses.items()
        ]

    def saved(self, seq: int) -> None:
        self.saved_seq = max(self.saved_seq, seq)

    @property
    def clean(self) -> bool:
        return self.saved_seq >= self.last_seq


def load_session(
    store: SqliteStore, catalog: Catalog, user: str
) -> tuple[UserSession, list[str], Tail]:
    """Read a user's snapshots (blocking: use ``to_thread``).

    Returns the session as of its snapshots, a problem line for anything
    skipped, and which stored events are still to replay on top
    (``replay_tail``).
    """
    snapshots, tail = store.load_snapshots(user)
    progress = StudentProgress(user, catalog)
    problems = progress.restore({key: row.record for key, row in snapshots.items()})
    session = UserSession(user, progress)
    session.saved_seq = session.last_seq = tail.newest
    return session, problems, tail


async def replay_tail(
    session: UserSession, store: SqliteStore, tail: Tail, limiter: trio.CapacityLimiter
) -> list[str]:
    """Apply the events after the snapshots: read a page in a thread, replay it on the loop.

    Replay is pure Python: in a worker thread it would hold the GIL against
    the event loop (others' p99 went to 455 ms behind a 76,000-event tail);
    in chunks of about a millisecond between scheduler passes, and reading
    in pages of about a millisecond too, everyone else keeps being served.
    """
    problems: list[str] = []
    after = tail.start
    while page := await trio.to_thread.run_sync(
        partial(store.tail_page, tail, after=after, limit=TAIL_PAGE), limiter=limiter
    ):
        for number, event in enumerate(page, start=1):
            problems += _replay(session.progress, event)
            if number % REPLAY_CHUNK == 0:
                await trio.lowlevel.checkpoint()
        after = page[-1].seq
        session.last_seq = max(session.last_seq, after)
    return problems


def _replay(progress: StudentProgress, event: EventRow) -> list[str]:
    frame = {
        "user": event.user,
        "t": event.t,
        "type": event.type,
        "exp": event.exp,
        "course": event.course,
        "payload": event.payload,
    }
    if event.hardware is not None:
        frame["hardware"] = event.hardware
    try:
        message = decode(orjson.dumps(frame))
        if not isinstance(message, Request):
            progress.apply(message)
    except (DecodeError, ValueError, KeyError, TypeError) as exc:
        return [f"event {event.seq} skipped on replay: {exc}"]
    return []


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
                session.progress.apply(message, delivery.hardware)
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
