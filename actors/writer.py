"""The store writer actor: the only task that writes to disk.

Sessions append raw events to its in-memory commit buffer (no channel hop per
event: DESIGN.md's budget) and mark themselves dirty; every
``flush_interval_s`` the writer takes the oldest buffered events, at most
``transaction_events`` or ``TRANSACTION_BYTES`` of them, and writes them
with one ``executemany`` and one commit in one ``trio.to_thread`` call; a
backlog is written transaction after transaction, so recovering from a full
disk never needs room for all of it at once. Dirty sessions' snapshots ride
along every ``snapshot_interval_s`` (and at the final flush) with the
transaction that empties the buffer, so a snapshot is never on disk before
the events it covers.

Room: producers wait (``wait_for_room``) while the buffer, counting the
batch being written, holds ``max_buffered_events`` or ``max_buffered_bytes``,
or, while the disk works, once ``window_events`` events were appended since
the last write started. That last bound keeps what is handled but not yet
committed under about twice ``window_events`` at any rate (what ``kill -9``
can lose); a write starts at once when it is reached.

A write that fails (read-only directory, full disk) is logged loudly, the
batch is kept and retried with backoff, replies keep coming from memory, and
the buffer fills up to its caps. Any other exception in a write is one bad
row: the batch is split until that row is alone, the row is logged with its
traceback and dropped, and every other row is written.

Erasing (issue 15) runs on the same connection in the same thread, between
writes: a forget holds ``exclusive`` (no write in flight, nothing put back
behind its back) while it takes the user's rows out of the buffer and
erases them from the store (``actors.forget``); the retention task
(``actors.retention``, started by ``run`` when configured) erases one
bounded batch per ``on_store`` call, so a write waits for one batch at most.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import attrs
import trio

from actors.batches import PartlyWritten, write_isolating
from actors.retention import Retention
from store import EventRow, ProgressRow, SqliteStore, StoreError

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 5.0
# One transaction's worth of a backlog: the WAL grows by about this much
# before a checkpoint can reuse it (ops/README.md, disk headroom).
TRANSACTION_BYTES = 16 * 1024 * 1024
# Commit waiters (HTTP requests) woken per scheduler turn (``_wake_committed``).
WAKE_CHUNK = 16

RunSync = Callable[..., Awaitable[Any]]
T = TypeVar("T")


class Snapshotting(Protocol):
    """What the writer needs of a session to persist it."""

    user: str
    last_seq: int

    def progress_rows(self) -> list[ProgressRow]: ...

    def saved(self, seq: int) -> None: ...


@attrs.frozen
class WriterLimits:
    """How much the commit buffer holds before producers wait, and per transaction."""

    max_buffered_events: int
    max_buffered_bytes: int = 128 * 1024 * 1024
    window_events: int = 10_000  # appended while one write runs (healthy disk)
    transaction_events: int = 10_000
    transaction_bytes: int = TRANSACTION_BYTES


class StoreWriter:
    """Owns the commit buffer and the store's write connection.

    Run it with ``await nursery.start(writer.run)``; it runs until ``stop()``
    is called or it is cancelled, then writes everything still buffered
    (events and every dirty session) for up to ``flush_timeout_s`` before
    returning; ``lost`` says how many events that final flush could not
    write. Raises nothing on write errors: it retries.
    """

    def __init__(
        self,
        store: SqliteStore,
        *,
        flush_interval_s: float,
        snapshot_interval_s: float,
        max_buffered_events: int,
        limits: WriterLimits | None = None,
        flush_timeout_s: float = 10.0,
        run_sync: RunSync = trio.to_thread.run_sync,
        retention: Retention | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self._flush_interval_s = flush_interval_s
        self._snapshot_interval_s = snapshot_interval_s
        self.limits = limits or WriterLimits(max_buffered_events)
        self._flush_timeout_s = flush_timeout_s
        self._run_sync = run_sync
        self._events: list[EventRow] = []
        self._events_bytes = 0
        self._flight = (0, 0)  # events and bytes of the write in the thread
        self._since_write = 0  # events appended since the last write started
        # Room left before producers wait (recounted when a write starts or
        # ends; an append only subtracts): ``has_room`` is two comparisons.
        self._spare_events = 0
        self._spare_bytes = 0
        self._dirty: dict[str, Snapshotting] = {}
        self._next_seq = store.max_seq() + 1
        self.committed_seq = self._next_seq - 1
        self._committed = trio.lowlevel.ParkingLot()
        self._room = trio.lowlevel.ParkingLot()
        self._wake = trio.Event()
        self._stopping = False
        self._limiter = trio.CapacityLimiter(1)  # the write connection: one thread at a time
        self._write_lock = trio.Lock()  # a write and its bookkeeping, or an erase (``exclusive``)
        self.last_error: str | None = None
        self.dropped = 0  # rows refused by the store for themselves (logged)
        self.lost: int | None = None  # events the final flush could not write
        self.on_commit: Callable[[int, int, float], None] | None = None
        self._recount()

    # --- called by sessions, synchronously, from the event loop ----------------

    def append(self, row_without_seq: Callable[[int], EventRow]) -> int:
        """Give the next sequence number to a new event and buffer it.

        Never waits and never refuses: callers wait for ``has_room`` first
        (the router does, except at stop). Whatever ``row_without_seq``
        raises comes out before a number is used.
        """
        row = row_without_seq(self._next_seq)
        self._next_seq += 1
        self._events.append(row)
        size = row.buffered_bytes
        self._events_bytes += size
        self._spare_bytes -= size
        self._since_write += 1
        self._spare_events -= 1
        if self._spare_events <= 0 and self.last_error is None:
            self._wake.set()  # write now rather than at the end of the interval
        return row.seq

    def mark_dirty(self, session: Snapshotting) -> None:
        self._dirty[session.user] = session

    def forget(self, session: Snapshotting) -> None:
        """Never snapshot this session object again (it crashed)."""
        if self._dirty.get(session.user) is session:
            del self._dirty[session.user]

    @property
    def has_room(self) -> bool:
        """Whether one more event may be appended now (see the module's "Room")."""
        return self._spare_events > 0 and self._spare_bytes > 0

    def _recount(self) -> None:
        limits = self.limits
        spare = limits.max_buffered_events - self.buffered
        if self.last_error is None:
            spare = min(spare, limits.window_events - self._since_write)
        self._spare_events = spare
        self._spare_bytes = limits.max_buffered_bytes - self.buffered_bytes
        self._room.unpark_all()

    async def wait_for_room(self) -> None:
        """Return once ``has_room`` (re-checked after every wake-up: none is lost)."""
        while not self.has_room:
            await self._room.park()

    async def wait_committed(self, seq: int) -> None:
        """Return once every event up to ``seq`` is on disk."""
        while self.committed_seq < seq:
            await self._committed.park()

    @property
    def buffered(self) -> int:
        """Events appended and not yet on disk, the batch being written included."""
        return len(self._events) + self._flight[0]

    @property
    def buffered_bytes(self) -> int:
        return self._events_bytes + self._flight[1]

    @property
    def appended_seq(self) -> int:
        """The newest sequence number given out (buffered, being written, or on disk)."""
        return self._next_seq - 1

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def stop(self) -> None:
        """Ask ``run`` to write what is left and return."""
        self._stopping = True
        self._wake.set()

    # --- the actor -------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[StoreWriter] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with trio.open_nursery() as background:
                if self.retention is not None:
                    background.start_soon(self.retention.run, self.on_store)
                task_status.started(self)
                await self._write_until_stopped()
                background.cancel_scope.cancel()  # a batch in its thread ends first
        finally:
            # Also when the service is cancelled (shielded: see final_flush).
            await self.final_flush()

    async def _write_until_stopped(self) -> None:
        failures = 0
        snapshot_at = trio.current_time() + self._snapshot_interval_s
        while not self._stopping:
            if failures or not (self._window_full() or self._backlog()):
                with trio.move_on_after(_retry_delay(self._flush_interval_s, failures)):
                    self._wake = trio.Event()
                    await self._wake.wait()
                if self._stopping:
                    return
            due = trio.current_time() >= snapshot_at
            snapshotted = await self._write_once(snapshots=due)
            if snapshotted is None:
                failures += 1
                continue
            failures = 0
            await self._wake_committed()
            if snapshotted:
                snapshot_at = trio.current_time() + self._snapshot_interval_s

    async def _wake_committed(self) -> None:
        """Wake who waits for what was just committed, ``WAKE_CHUNK`` at a time.

        Hundreds of HTTP requests wait for a commit (a 200 means durable); woken
        all at once they would all run before anything else does, and a
        WebSocket dashboard's reply, a few tasks' turns, would wait behind each
        burst. A checkpoint between chunks lets the others have their turn.
        """
        lot = self._committed
        for _ in range(-(-len(lot) // WAKE_CHUNK)):  # those waiting now, at most
            lot.unpark(count=WAKE_CHUNK)
            await trio.lowlevel.checkpoint()

    def _window_full(self) -> bool:
        return self.healthy and self._spare_events <= 0

    def _backlog(self) -> bool:
        """More than one transaction's worth is buffered: write on at once."""
        limits = self.limits
        return (
            len(self._events) >= limits.transaction_events
            or self._events_bytes >= limits.transaction_bytes
        )

    async def final_flush(self) -> bool:
        """Write everything left, snapshots included, retrying for up to ``flush_timeout_s``.

        Shielded: it also runs when the service is being cancelled, so a clean
        stop loses nothing while the disk works. On time-out it logs and sets
        ``lost`` to the number of events left unwritten; returns whether
        everything was written.
        """
        failures = 0
        with trio.move_on_after(self._flush_timeout_s, shield=True):
            while self._events or self._dirty:
                if await self._write_once(snapshots=True) is None:
                    failures += 1
                    await trio.sleep(_retry_delay(self._flush_interval_s, failures))
                self._committed.unpark_all()  # at stop, at once
            self.lost = 0
            return True
        self.lost = self.buffered
        log.error("store.final_flush_failed", extra={"events_lost": self.lost})
        return False

    async def _write_once(self, *, snapshots: bool) -> bool | None:
        """Write one transaction of the oldest events.

        Snapshots (if asked) ride along when it takes the whole buffer.
        Returns None when the store refused it (kept for a retry), else
        whether the snapshots were written.
        """
        async with self._write_lock:
            return await self._write_locked(snapshots=snapshots)

    async def _write_locked(self, *, snapshots: bool) -> bool | None:
        events, taken_bytes = self._take()
        snapshotting = snapshots and not self._events  # the whole buffer is taken
        sessions: Sequence[Snapshotting] = ()
        if snapshotting:
            sessions, self._dirty = list(self._dirty.values()), {}
        if not events and not sessions:
            return snapshotting
        # Captured now: a session may change while the thread writes.
        captured = self._capture(sessions)
        rows = [row for _, _, session_rows in captured for row in session_rows]
        # Once this takes the whole buffer, every number given out is in it, on
        # disk, or was dropped unwritten (a forget): all of them are committed with it.
        upto = events[-1].seq if self._events else self._next_seq - 1
        self._flight = (len(events), taken_bytes)
        self._since_write = 0
        self._recount()
        started = trio.current_time()
        try:
            await self._write_isolating(events, rows)
        except PartlyWritten as failed:
            self._flight = (0, 0)
            self._put_back(failed.events, sessions)
            self._failed(failed.error, len(events))
            return None
        except BaseException:
            self._put_back([], sessions)  # the final flush snapshots them
            raise
        finally:
            self._flight = (0, 0)
            self._recount()
        if self.last_error is not None:
            log.warning("store.write_recovered", extra={"events": len(events)})
            self.last_error = None
            self._recount()
        for session, seq, _ in captured:
            session.saved(seq)
        self.committed_seq = max(self.committed_seq, upto)  # its waiters: ``_wake_committed``
        if self.on_commit is not None:
            self.on_commit(len(events), len(rows), trio.current_time() - started)
        return snapshotting

    # --- erasing (actors.forget, actors.retention) ------------------------------

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """While held no write runs, nor puts a failed batch back: the buffer is the
        holder's to change and the store's rows are as committed."""
        async with self._write_lock:
            yield

    def drop_user(self, user: str) -> int:
        """Take ``user``'s buffered events and pending snapshot out, unwritten; how many events.

        Only under ``exclusive`` (no batch of theirs in flight, none to come back).
        """
        kept = [event for event in self._events if event.user != user]
        dropped = len(self._events) - len(kept)
        if dropped:
            self._events = kept
            self._events_bytes = sum(event.buffered_bytes for event in kept)
        self._dirty.pop(user, None)
        if not self._events and self._flight == (0, 0):
            # Every number given out is on disk or was dropped: nobody waits for it.
            self.committed_seq = self._next_seq - 1
            self._committed.unpark_all()
        self._recount()
        return dropped

    async def on_store(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the store's write connection in a thread, never beside a write.

        Raises ``StoreError`` when SQLite refuses.
        """
        result: T = await self._run_sync(self.store.run_writing, work, limiter=self._limiter)
        return result

    def _take(self) -> tuple[list[EventRow], int]:
        """The oldest events, at most one transaction's worth (at least one), and their bytes."""
        limits = self.limits
        events, size = self._events, self._events_bytes
        if len(events) <= limits.transaction_events and size <= limits.transaction_bytes:
            self._events, self._events_bytes = [], 0
            return events, size
        count, size = 0, 0
        for event in events[: limits.transaction_events]:
            if count and size + event.buffered_bytes > limits.transaction_bytes:
                break
            size += event.buffered_bytes
            count += 1
        taken = events[:count]
        del events[:count]
        self._events_bytes -= size
        return taken, size

    def _capture(
        self, sessions: Sequence[Snapshotting]
    ) -> list[tuple[Snapshotting, int, list[ProgressRow]]]:
        captured = []
        for session in sessions:
            try:
                captured.append((session, session.last_seq, session.progress_rows()))
            except Exception:
                # Its events are stored; only this snapshot waits for a later one.
                log.exception("store.snapshot_failed", extra={"user": session.user})
        return captured

    def _put_back(self, events: list[EventRow], sessions: Sequence[Snapshotting]) -> None:
        self._events[:0] = events  # keep order: the failed batch goes first
        self._events_bytes += sum(event.buffered_bytes for event in events)
        self._recount()
        for session in sessions:
            self._dirty.setdefault(session.user, session)

    def _failed(self, error: StoreError, events: int) -> None:
        if self.last_error != str(error):
            # The message says it all; a traceback per retry would flood the log.
            log.error("store.write_failed", extra={"error": str(error), "events": events})
        self.last_error = str(error)
        self._recount()

    async def _write_isolating(self, events: list[EventRow], rows: list[ProgressRow]) -> None:
        async def write(part_events: list[EventRow], part_rows: list[ProgressRow]) -> None:
            await self._run_sync(
                self.store.write_batch, part_events, part_rows, limiter=self._limiter
            )

        await write_isolating(
            write, events, rows, keep=lambda left: self._put_back(left, ()), drop=self._drop
        )

    def _drop(self, events: list[EventRow], rows: list[ProgressRow]) -> None:
        self.dropped += 1
        for event in events:
            log.exception(
                "store.event_dropped",
                extra={"user": event.user, "seq": event.seq, "type": event.type},
            )
        for row in rows:
            log.exception(
                "store.snapshot_dropped",
                extra={"user": row.user, "exp": row.exp, "course": row.course},
            )


def _retry_delay(interval_s: float, failures: int) -> float:
    return min(interval_s * 2 ** min(failures, 16), MAX_RETRY_DELAY_S)
