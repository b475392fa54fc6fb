"""The store writer actor: the only task that writes to disk.

Sessions append raw events to its in-memory commit buffer
(``actors.commit_buffer``: no channel hop per event, DESIGN.md's budget) and
mark themselves dirty (``actors.snapshotting``); every ``flush_interval_s``
the writer takes the oldest buffered events, at most ``transaction_events``
or ``TRANSACTION_BYTES`` of them, and writes them with one ``executemany``
and one commit in one ``trio.to_thread`` call; a backlog is written
transaction after transaction, so recovering from a full disk never needs
room for all of it at once. Dirty sessions' snapshots ride along every
``snapshot_interval_s`` (and at the final flush) with the transaction that
empties the buffer, so a snapshot is never on disk before the events it
covers. Producers wait for room in the buffer (``wait_for_room``); a write
starts at once when ``window_events`` were appended since the last one began.

A write that fails (read-only directory, full disk) is logged loudly
(``actors.write_failures``), the batch is kept and retried with backoff,
replies keep coming from memory, and the buffer fills up to its caps. Any
other exception in a write is one bad row: the batch is split until that
row is alone (``actors.batches``), the row is logged with its traceback and
dropped, and every other row is written.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import trio

from actors.batches import PartlyWritten, write_isolating
from actors.commit_buffer import CommitBuffer
from actors.retention import Retention
from actors.snapshotting import DirtySessions, Snapshotting, capture
from actors.write_failures import WriteFailures, retry_delay
from store import EventRow, ProgressRow, SqliteStore

log = logging.getLogger(__name__)

# One transaction's worth of a backlog: the WAL grows by about this much
# before a checkpoint can reuse it (ops/README.md, disk headroom).
TRANSACTION_BYTES = 16 * 1024 * 1024

RunSync = Callable[..., Awaitable[Any]]
T = TypeVar("T")


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
        self._buffer = CommitBuffer(self.limits, store.max_seq() + 1)
        self._dirty = DirtySessions()
        self._wake = trio.Event()
        self._stopping = False
        self._limiter = trio.CapacityLimiter(1)  # the write connection: one thread at a time
        self._write_lock = trio.Lock()  # a write and its bookkeeping, or an erase (``exclusive``)
        self._failures = WriteFailures()
        self.lost: int | None = None  # events the final flush could not write
        self.on_commit: Callable[[int, int, float], None] | None = None

    # --- called by sessions, synchronously, from the event loop ----------------

    def append(self, row_without_seq: Callable[[int], EventRow]) -> int:
        """Give the next sequence number to a new event and buffer it.

        Never waits and never refuses: callers wait for ``has_room`` first
        (the router does, except at stop). Whatever ``row_without_seq``
        raises comes out before a number is used.
        """
        row = self._buffer.append(row_without_seq)
        if self._buffer.window_full:
            self._wake.set()  # write now rather than at the end of the interval
        return row.seq

    def mark_dirty(self, session: Snapshotting) -> None:
        self._dirty.mark(session)

    def forget(self, session: Snapshotting) -> None:
        """Never snapshot this session object again (it crashed)."""
        self._dirty.forget(session)

    @property
    def has_room(self) -> bool:
        """Whether one more event may be appended now (``actors.commit_buffer``, "Room")."""
        return self._buffer.has_room

    async def wait_for_room(self) -> None:
        """Return once ``has_room`` (re-checked after every wake-up: none is lost)."""
        await self._buffer.wait_for_room()

    async def wait_committed(self, seq: int) -> None:
        """Return once every event up to ``seq`` is on disk."""
        await self._buffer.wait_committed(seq)

    @property
    def committed_seq(self) -> int:
        """Every event up to this sequence number is on disk."""
        return self._buffer.committed_seq

    @property
    def buffered(self) -> int:
        """Events appended and not yet on disk, the batch being written included."""
        return self._buffer.buffered

    @property
    def buffered_bytes(self) -> int:
        return self._buffer.buffered_bytes

    @property
    def appended_seq(self) -> int:
        """The newest sequence number given out (buffered, being written, or on disk)."""
        return self._buffer.appended_seq

    @property
    def healthy(self) -> bool:
        return self._failures.healthy

    @property
    def last_error(self) -> str | None:
        """Why the store refuses writes (None while it takes them)."""
        return self._failures.last_error

    @property
    def dropped(self) -> int:
        """Rows the store refused for themselves (logged, not retried)."""
        return self._failures.dropped

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
            if failures or not (self._buffer.window_full or self._buffer.backlog()):
                with trio.move_on_after(retry_delay(self._flush_interval_s, failures)):
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
            await self._buffer.wake_committed()
            if snapshotted:
                snapshot_at = trio.current_time() + self._snapshot_interval_s

    async def final_flush(self) -> bool:
        """Write everything left, snapshots included, retrying for up to ``flush_timeout_s``.

        Shielded: it also runs when the service is being cancelled, so a clean
        stop loses nothing while the disk works. On time-out it logs and sets
        ``lost`` to the number of events left unwritten; returns whether
        everything was written.
        """
        failures = 0
        with trio.move_on_after(self._flush_timeout_s, shield=True):
            while self._buffer.events or self._dirty:
                if await self._write_once(snapshots=True) is None:
                    failures += 1
                    await trio.sleep(retry_delay(self._flush_interval_s, failures))
                self._buffer.wake_all_committed()  # at stop, at once
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
        buffer = self._buffer
        events, taken_bytes = buffer.take()
        snapshotting = snapshots and not buffer.events  # the whole buffer is taken
        sessions = self._dirty.take_all() if snapshotting else []
        if not events and not sessions:
            return snapshotting
        captured = capture(sessions)  # now: a session may change while the thread writes
        # Once this takes the whole buffer, every number given out is in it, on
        # disk, or was dropped unwritten (a forget): all of them are committed with it.
        upto = events[-1].seq if buffer.events else buffer.appended_seq
        buffer.writing(len(events), taken_bytes)
        started = trio.current_time()
        try:
            await self._write_isolating(events, captured.rows)
        except PartlyWritten as failed:
            buffer.written()
            buffer.put_back(failed.events)  # keep order: the failed batch goes first
            self._dirty.put_back(sessions)
            self._failures.failed(failed.error, len(events))
            buffer.set_windowed(False)
            return None
        except BaseException:
            self._dirty.put_back(sessions)  # the final flush snapshots them
            raise
        finally:
            buffer.written()
        if self._failures.recovered(len(events)):
            buffer.set_windowed(True)
        captured.saved()
        buffer.committed(upto)
        if self.on_commit is not None:
            self.on_commit(len(events), len(captured.rows), trio.current_time() - started)
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
        self._dirty.discard(user)
        return self._buffer.drop_user(user)

    async def on_store(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the store's write connection in a thread, never beside a write.

        Raises ``StoreError`` when SQLite refuses.
        """
        result: T = await self._run_sync(self.store.run_writing, work, limiter=self._limiter)
        return result

    async def _write_isolating(self, events: list[EventRow], rows: list[ProgressRow]) -> None:
        async def write(part_events: list[EventRow], part_rows: list[ProgressRow]) -> None:
            await self._run_sync(
                self.store.write_batch, part_events, part_rows, limiter=self._limiter
            )

        await write_isolating(
            write, events, rows, keep=self._buffer.put_back, drop=self._failures.drop
        )
