"""The session router: the directory and supervisor of every user's session.

The ``Router`` owns the ``user -> UserSession`` directory (``actors.session``):
a connection hands it each decoded message and, when the user is in memory
and the commit buffer has room, the message is applied right there, in the
connection's task (zero channel hops per event; trio runs one task at a
time, so nothing interleaves with an update). Otherwise the message joins
its user's line (``actors.lines``): while the user is loaded from disk by
one of a few loader tasks, taken fairly across connections, or while the
commit buffer is full. A user's messages are applied in the order they were
read; a request never waits for room in the buffer (only behind its own
user's events); the connection that hands on an event without room waits
until it is applied, and one with too much in lines waits too: backpressure
to that client only. Resident sessions are evicted when idle and flushed,
and early (least recently active first) when they hold more than
``max_resident_bytes``. When handling a message raises, the crash is logged
with the user's id and that user is rebuilt from disk on their next message.
"""

from __future__ import annotations

import itertools
import logging

import trio

from actors.asks import HttpClient, V2Read
from actors.handling import Handler, encode_event, row_maker
from actors.lines import Delivery, Held, Line, LoadQueue, Source
from actors.outbox import Outbox
from actors.pool import Job
from actors.residents import Residents
from actors.session import UserSession, load_session, replay_tail
from actors.writer import RunSync, StoreWriter
from courses import Catalog
from messages import Request
from store import JsonText
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)

# What one connection may have waiting in lines before its reader waits: at
# most this many messages and bytes, and this many users being loaded.
MAX_HELD_PER_CONNECTION = 1000
MAX_HELD_BYTES_PER_CONNECTION = 1024 * 1024
MAX_LOADING_PER_CONNECTION = 4
# All connections together; beyond it, a connection that holds nothing may
# still hold one message, so a quiet client is never starved by a loud one.
MAX_HELD_BYTES = 64 * 1024 * 1024
# Users loaded at once (reads share one thread; replay runs on the loop).
LOADERS = 4
# How long a stop gives loads still running before storing their users'
# events as they came (``Router.run``).
STOP_TIMEOUT_S = 2.0
# Events handled per line per turn once room comes back: lines take turns.
EVENTS_PER_TURN = 64
# Why an HTTP request of a user forgotten while it waited in their line fails.
FORGOTTEN = "this user was forgotten while the request waited: nothing of it was kept"


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
        max_resident_bytes: int = 256 * 1024 * 1024,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        loaders: int = LOADERS,
        run_sync: RunSync = trio.to_thread.run_sync,
    ) -> None:
        self._catalog = catalog
        self._writer = writer
        self._stop_timeout_s = stop_timeout_s
        self._loaders = loaders
        self._run_sync = run_sync  # how store reads leave the loop (a thread)
        self.residents = Residents(
            writer, max_bytes=max_resident_bytes, idle_timeout_s=idle_timeout_s
        )
        self.sessions = self.residents.sessions  # the directory of ready users
        self.handler = Handler(writer=writer, jobs=jobs, metrics=metrics, residents=self.residents)
        self._lines: dict[str, Line] = {}
        self._blocked: list[Line] = []  # lines waiting for room in the commit buffer, in turn
        self._blocked_lot = trio.lowlevel.ParkingLot()
        self._lines_done = trio.lowlevel.ParkingLot()
        self._room_wait: trio.CancelScope | None = None
        self._sources: dict[Outbox, Source] = {}
        self._loads = LoadQueue()
        self.held_bytes = 0
        self._read_limiter = trio.CapacityLimiter(1)
        self._nursery: trio.Nursery | None = None
        self._closed = trio.Event()
        self.stopping = False  # no more waiting for room: the stop has come
        # Users being forgotten: their loads wait until the erase is committed.
        self._forgetting: dict[str, trio.Event] = {}
        self.abandoned = 0  # events stored unapplied at stop (their load did not finish)

    # --- lifetime ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Router] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the loaders, the lines and the idle sweep until ``close``.

        Then every line is handled without waiting for room; loads still
        running get ``stop_timeout_s``, after which their users' events are
        stored as they came (``abandoned``, logged) and ``run`` returns.
        """
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.residents.evict_idle)
            nursery.start_soon(self._drain_blocked)
            for _ in range(self._loaders):
                nursery.start_soon(self._load_in_turn)
            task_status.started(self)
            await self._closed.wait()
            self.stop_waiting()
            with trio.move_on_after(self._stop_timeout_s):
                while self._lines:
                    await self._lines_done.park()
            nursery.cancel_scope.cancel()
        for line in list(self._lines.values()):
            self._abandon(line)

    def close(self) -> None:
        """No more messages: ``run`` returns once the lines are handled (bounded)."""
        self._closed.set()

    def stop_waiting(self) -> None:
        """From now on nothing waits for room: what is read is taken (the stop).

        Every connection waiting in ``deliver`` returns at once, so that one
        cancelled next has handled every frame it read.
        """
        self.stopping = True
        for source in self._sources.values():
            source.lot.unpark_all()
        if self._room_wait is not None:
            self._room_wait.cancel()
        self._blocked_lot.unpark_all()

    # --- the way in --------------------------------------------------------------

    async def deliver(self, delivery: Delivery) -> None:
        """Apply (or line up, or answer) one message, in the order connections hand them in.

        Usually returns without a pass through the scheduler: the caller's
        socket read was the checkpoint. Waits while this event has no room
        in the commit buffer, while this connection has too much in lines or
        too many users loading: backpressure to its socket, not memory
        growth. Never waits once ``stop_waiting`` was called. Raises
        ``DecodeError`` for an event the store cannot keep (refused before
        it is applied), ``trio.ClosedResourceError`` once the service is
        shutting down.
        """
        if self._closed.is_set():
            raise trio.ClosedResourceError("the service is stopping")
        message = delivery.message
        payload = None if isinstance(message, Request | V2Read) else encode_event(message)
        user = message.user
        while True:
            line = self._lines.get(user)
            if line is not None:
                source = self._source(delivery.outbox)
                if line.loading and not self._may_hold(source):
                    await source.lot.park()
                    continue
                held = self._hold(line, delivery, payload, source)
                if payload is not None and not line.loading:
                    await self._until_handled(held)
                return
            session = self.sessions.get(user)
            if session is not None:
                if payload is None or self._room_now():
                    self.handler.handle(session, delivery, payload)
                    return
                self._block(Line(user, session=session, loading=False))
                continue
            source = self._source(delivery.outbox)
            if source.loading >= MAX_LOADING_PER_CONNECTION and not self.stopping:
                await source.lot.park()
                continue
            self._start_loading(user, source)

    def _room_now(self) -> bool:
        """Room for an event that jumps no line (nobody waits for room before it)."""
        return self.stopping or (self._writer.has_room and not self._blocked)

    def _source(self, outbox: Outbox | HttpClient) -> Source:
        source = self._sources.get(outbox)
        if source is None:
            source = self._sources[outbox] = Source(outbox)
        return source

    def _may_hold(self, source: Source) -> bool:
        if self.stopping or not source.held:
            return True
        return (
            source.held < MAX_HELD_PER_CONNECTION
            and source.held_bytes < MAX_HELD_BYTES_PER_CONNECTION
            and self.held_bytes < MAX_HELD_BYTES
        )

    def _hold(
        self, line: Line, delivery: Delivery, payload: JsonText | None, source: Source
    ) -> Held:
        held = Held.of(delivery, payload, source)
        line.held.append(held)
        source.held += 1
        source.held_bytes += held.size
        self.held_bytes += held.size
        if line.loading and source not in line.waiters:
            # Its load comes in this connection's turn too (LoadQueue).
            line.waiters.add(source)
            source.loading += 1
            self._loads.put(source, line)
        return held

    async def _until_handled(self, held: Held) -> None:
        while not held.done and not self.stopping:
            await held.source.lot.park()

    def _released(self, held: Held) -> None:
        held.done = True
        source = held.source
        source.held -= 1
        source.held_bytes -= held.size
        self.held_bytes -= held.size
        source.lot.unpark_all()
        self._forget_if_idle(source)

    def _forget_if_idle(self, source: Source) -> None:
        if source.idle and self._sources.get(source.outbox) is source:
            del self._sources[source.outbox]

    # --- lines: loading, and waiting for room ------------------------------------

    def _start_loading(self, user: str, source: Source) -> None:
        self._lines[user] = line = Line(user)
        line.waiters.add(source)
        source.loading += 1
        self._loads.put(source, line)

    async def _load_in_turn(self) -> None:
        """A loader: load the next user in turn, hand over their line, forever."""
        while True:
            line = await self._loads.get()
            session = await self._load(line.user)
            if line.forgotten:
                continue  # what was read is from before the forget (``forget_user``)
            line.loading = False
            if session is None:
                line.available = False
            else:
                line.session = session
                self.residents.loaded(session)
                if not session.clean:
                    self._writer.mark_dirty(session)
            self._release_waiters(line)
            # Behind the lines already waiting for room, if any.
            self._advance(line, events=0 if self._blocked and not self.stopping else None)

    def _release_waiters(self, line: Line) -> None:
        """The connections waiting for ``line``'s load wait no more."""
        for source in line.waiters:
            source.loading -= 1
            source.lot.unpark_all()
            self._forget_if_idle(source)
        line.waiters.clear()

    def _block(self, line: Line) -> None:
        """``line`` waits for room, in turn (``_drain_blocked``)."""
        self._lines[line.user] = line
        if line.session is not None:
            self.residents.leave(line.session)
        self._blocked.append(line)
        self._blocked_lot.unpark_all()

    async def _drain_blocked(self) -> None:
        """Whenever the buffer has room, let the lines waiting for it take turns."""
        turns = itertools.count(1)
        while True:
            if not self._blocked:
                await self._blocked_lot.park()
                continue
            if not (self.stopping or self._writer.has_room):
                with trio.CancelScope() as self._room_wait:
                    await self._writer.wait_for_room()
                self._room_wait = None
                continue
            line = self._blocked.pop(0)
            self._advance(line, events=EVENTS_PER_TURN, in_turn=True)
            if line.held and self._lines.get(line.user) is line:
                self._blocked.append(line)
            if next(turns) % 64 == 0:
                await trio.lowlevel.checkpoint()  # others have the loop too

    def _advance(self, line: Line, *, events: int | None = None, in_turn: bool = False) -> None:
        """Handle what ``line`` holds, in order, while there is room (or it is a request).

        At most ``events`` events. A line that empties is done: its session
        joins the directory. One that still holds events waits for room
        (``_block``) unless it is ``in_turn`` already.
        """
        while line.held:
            head = line.held[0]
            if head.payload is not None:
                if events == 0 or not (self.stopping or self._writer.has_room):
                    break
                if events is not None:
                    events -= 1
            line.held.popleft()
            self._released(head)
            delivery = head.delivery
            session = line.session
            if session is None or session.crashed or not line.available:
                self.handler.unavailable(line.user, delivery, head.payload)
            else:
                self.handler.handle(session, delivery, head.payload)
        if not line.held:
            self._finish(line)
        elif not in_turn:
            self._block(line)

    def _finish(self, line: Line) -> None:
        del self._lines[line.user]
        session = line.session
        if session is not None and line.available and not session.crashed:
            self.residents.join(session)
        self._lines_done.unpark_all()

    def _abandon(self, line: Line) -> None:
        """At stop, a load that did not finish: store its user's events as they came."""
        events = sum(1 for held in line.held if held.payload is not None)
        for held in line.held:
            if held.payload is not None:
                self._writer.append(row_maker(held.delivery, held.payload))
        self.abandoned += events
        del self._lines[line.user]
        log.warning("session.load_abandoned", extra={"user": line.user, "events_stored": events})

    async def _load(self, user: str) -> UserSession | None:
        """The user's state from disk, or None (logged) when it cannot be read."""
        try:
            while (erasing := self._forgetting.get(user)) is not None:
                await erasing.wait()  # read only once the forget's erase is committed
            recovering = self.handler.recovering.pop(user, None)
            if recovering is not None:
                await self._writer.wait_committed(recovering)
            store = self._writer.store
            session, problems, tail = await self._run_sync(
                load_session, store, self._catalog, user, limiter=self._read_limiter
            )
            problems += await replay_tail(
                session, store, tail, self._read_limiter, run_sync=self._run_sync
            )
        except Exception:
            log.exception("session.load_failed", extra={"user": user})
            return None
        for problem in problems:
            log.warning("session.load_problem", extra={"user": user, "problem": problem})
        return session

    # --- forget (actors.forget) ----------------------------------------------------

    def forget_user(self, user: str) -> tuple[bool, int]:
        """Drop everything of ``user`` in memory; whether a session was, and the events held.

        Their session leaves (and its pending snapshot is the writer's to
        drop; the v2 state lives in it), their line's events are dropped
        unwritten and its requests unanswered (their reserved room given
        back; an HTTP statement or read fails: 503), a load running for them
        is discarded when it returns, and loads from now on wait until
        ``forgotten(user)``: nothing is read from the store before the erase.
        """
        self._forgetting[user] = trio.Event()
        self.handler.recovering.pop(user, None)
        session = self.sessions.get(user)
        if session is not None:
            self.residents.dropped(session)
        line = self._lines.pop(user, None)
        if line is None:
            return session is not None, 0
        line.forgotten = True
        if line in self._blocked:
            self._blocked.remove(line)
        if line.session is not None and line.session is not session:
            self.residents.dropped(line.session)  # counted since its load
        events = 0
        for held in line.held:
            delivery = held.delivery
            if delivery.receipt is not None:
                # An HTTP request (a v2 statement or read) waits on it: 503, nothing kept.
                delivery.receipt.failed(FORGOTTEN)
            elif held.payload is None:
                assert isinstance(delivery.outbox, Outbox)
                delivery.outbox.release(delivery.reserved)
            if held.payload is not None:
                events += 1
            self._released(held)
        line.held.clear()
        line.started = True  # a load not begun is passed by (``LoadQueue``)
        self._release_waiters(line)
        self._lines_done.unpark_all()
        return True, events

    def forgotten(self, user: str) -> None:
        """The forget of ``user`` is over (erased or failed): their loads may read again."""
        erasing = self._forgetting.pop(user, None)
        if erasing is not None:
            erasing.set()

    # What tests and the service read.

    @property
    def crashes(self) -> int:
        return self.handler.crashes

    def _handle(
        self, session: UserSession, delivery: Delivery, payload: JsonText | None = None
    ) -> None:
        self.handler.handle(session, delivery, payload)
