"""The session router: the directory and supervisor of every user's session.

The ``Router`` owns the ``user -> UserSession`` directory (``actors.session``):
a connection hands it each decoded message and, when the user is in memory
and the commit buffer has room, the message is applied right there, in the
connection's task (zero channel hops per event; trio runs one task at a
time, so nothing interleaves with an update). Otherwise the message joins
its user's line (``actors.lines``): while the user is loaded from disk by
one of a few loader tasks, taken fairly across connections
(``actors.loading``), or while the commit buffer is full (``actors.turns``).
A user's messages are applied in the order they were read; a request never
waits for room in the buffer (only behind its own user's events); the
connection that hands on an event without room waits until it is applied,
and one with too much in lines waits too (``actors.holding``): backpressure
to that client only. Resident sessions are evicted when idle and flushed,
and early (least recently active first) when they hold more than
``max_resident_bytes``. When handling a message raises, the crash is logged
with the user's id and that user is rebuilt from disk on their next message.
"""

from __future__ import annotations

import logging

import trio

from actors.asks import V2Read
from actors.handling import Handler, encode_event, row_maker
from actors.holding import Holding
from actors.lines import Delivery, Held, Line, Source
from actors.loading import LOADERS, Loader
from actors.pool import Job
from actors.residents import Residents
from actors.session import UserSession
from actors.turns import Turns
from actors.writer import RunSync, StoreWriter
from courses import Catalog
from messages import Request
from store import JsonText
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)

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
        self._writer = writer
        self._stop_timeout_s = stop_timeout_s
        self.residents = Residents(
            writer, max_bytes=max_resident_bytes, idle_timeout_s=idle_timeout_s
        )
        self.sessions = self.residents.sessions  # the directory of ready users
        self.handler = Handler(writer=writer, jobs=jobs, metrics=metrics, residents=self.residents)
        self._lines: dict[str, Line] = {}
        self._lines_done = trio.lowlevel.ParkingLot()
        self.turns = Turns(writer)  # the lines waiting for room in the commit buffer
        self.holding = Holding()  # what each connection has in lines
        self.loader = Loader(
            catalog=catalog,
            writer=writer,
            recovering=self.handler.recovering,
            loaders=loaders,
            run_sync=run_sync,
        )
        self._closed = trio.Event()
        self.stopping = False  # no more waiting for room: the stop has come
        self.abandoned = 0  # events stored unapplied at stop (their load did not finish)

    # --- lifetime ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Router] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the loaders, the lines and the idle sweep until ``close``.

        Then every line is handled without waiting for room; loads still
        running get ``stop_timeout_s``, after which their users' events are
        stored as they came (``abandoned``, logged) and ``run`` returns.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.residents.evict_idle)
            nursery.start_soon(self.turns.run, self._take_turn)
            self.loader.start(nursery, self._loaded)
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
        self.holding.wake_all()
        self.turns.stop_waiting()

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
                source = self.holding.source(delivery.outbox)
                if line.loading and not self.holding.may_hold(source, stopping=self.stopping):
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
            source = self.holding.source(delivery.outbox)
            if not self.holding.may_load(source, stopping=self.stopping):
                await source.lot.park()
                continue
            self._start_loading(user, source)

    def _room_now(self) -> bool:
        """Room for an event that jumps no line (nobody waits for room before it)."""
        return self.stopping or (self._writer.has_room and not self.turns.waiting)

    def _hold(
        self, line: Line, delivery: Delivery, payload: JsonText | None, source: Source
    ) -> Held:
        held = self.holding.hold(line, delivery, payload, source)
        if line.loading and self.holding.wait_for_load(line, source):
            self.loader.put(source, line)  # its load comes in this connection's turn too
        return held

    async def _until_handled(self, held: Held) -> None:
        while not held.done and not self.stopping:
            await held.source.lot.park()

    # --- lines: loading, and waiting for room ------------------------------------

    def _start_loading(self, user: str, source: Source) -> None:
        self._lines[user] = line = Line(user)
        self.holding.wait_for_load(line, source)
        self.loader.put(source, line)

    def _loaded(self, line: Line, session: UserSession | None) -> None:
        """A loader is done with ``line``'s user (``session`` None: unreadable): hand it over."""
        line.loading = False
        if session is None:
            line.available = False
        else:
            line.session = session
            self.residents.loaded(session)
            if not session.clean:
                self._writer.mark_dirty(session)
        self.holding.release_waiters(line)
        # Behind the lines already waiting for room, if any.
        self._advance(line, events=0 if self.turns.waiting and not self.stopping else None)

    def _block(self, line: Line) -> None:
        """``line`` waits for room, in turn (``Turns``)."""
        self._lines[line.user] = line
        if line.session is not None:
            self.residents.leave(line.session)
        self.turns.join(line)

    def _take_turn(self, line: Line) -> bool:
        """Room has come and it is ``line``'s turn: whether it still waits after it."""
        self._advance(line, events=EVENTS_PER_TURN, in_turn=True)
        return bool(line.held) and self._lines.get(line.user) is line

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
            self.holding.released(head)
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
        self.loader.hold_off(user)
        self.handler.recovering.pop(user, None)
        session = self.sessions.get(user)
        if session is not None:
            self.residents.dropped(session)
        line = self._lines.pop(user, None)
        if line is None:
            return session is not None, 0
        line.forgotten = True
        self.turns.leave(line)
        if line.session is not None and line.session is not session:
            self.residents.dropped(line.session)  # counted since its load
        events = self.holding.drop(line, FORGOTTEN)
        line.started = True  # a load not begun is passed by (``LoadQueue``)
        self.holding.release_waiters(line)
        self._lines_done.unpark_all()
        return True, events

    def forgotten(self, user: str) -> None:
        """The forget of ``user`` is over (erased or failed): their loads may read again."""
        self.loader.resume(user)

    # What tests and the service read.

    @property
    def held_bytes(self) -> int:
        return self.holding.held_bytes

    @property
    def crashes(self) -> int:
        return self.handler.crashes

    def _handle(
        self, session: UserSession, delivery: Delivery, payload: JsonText | None = None
    ) -> None:
        self.handler.handle(session, delivery, payload)
