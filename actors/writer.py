"""The store writer actor: the only task that writes to disk.

Sessions append raw events to its in-memory commit buffer (no channel hop per
event: DESIGN.md's budget) and mark themselves dirty; every
``flush_interval_s`` the writer takes the whole buffer as one batch and writes
it with one ``executemany`` and one commit in one ``trio.to_thread`` call.
Dirty sessions' snapshots ride along every ``snapshot_interval_s`` (and at
the final flush), in the same transaction as the events they cover.

A write that fails (read-only directory, full disk) is logged loudly, the
batch is kept and retried with backoff, replies keep coming from memory, and
once the buffer holds ``max_buffered_events`` the sessions wait for room, so
memory stays bounded and nothing acknowledged is dropped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import trio

from store import EventRow, ProgressRow, SqliteStore, StoreError

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 5.0


class Snapshotting(Protocol):
    """What the writer needs of a session to persist it."""

    user: str
    last_seq: int

    def progress_rows(self) -> list[ProgressRow]: ...

    def saved(self, seq: int) -> None: ...


class StoreWriter:
    """Owns the commit buffer and the store's write connection.

    Run it with ``await nursery.start(writer.run)``; it runs until ``stop()``
    is called, then writes everything still buffered (events and every dirty
    session) before returning. Raises nothing on write errors: it retries.
    """

    def __init__(
        self,
        store: SqliteStore,
        *,
        flush_interval_s: float,
        snapshot_interval_s: float,
        max_buffered_events: int,
    ) -> None:
        self.store = store
        self._flush_interval_s = flush_interval_s
        self._snapshot_every = max(1, math.ceil(snapshot_interval_s / flush_interval_s))
        self._max_buffered = max_buffered_events
        self._events: list[EventRow] = []
        self._dirty: dict[str, Snapshotting] = {}
        self._next_seq = store.max_seq() + 1
        self.committed_seq = self._next_seq - 1
        self._committed = trio.Condition()
        self._room = trio.Event()
        self._room.set()
        self._stopping = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        self.last_error: str | None = None
        self.on_commit: Callable[[int, int, float], None] | None = None

    # --- called by sessions, synchronously, from the event loop ----------------

    def append(self, row_without_seq: Callable[[int], EventRow]) -> int:
        """Give the next sequence number to a new event and buffer it."""
        seq = self._next_seq
        self._next_seq += 1
        self._events.append(row_without_seq(seq))
        if len(self._events) >= self._max_buffered:
            self._room = trio.Event()
        return seq

    def mark_dirty(self, session: Snapshotting) -> None:
        self._dirty[session.user] = session

    def forget(self, session: Snapshotting) -> None:
        """Never snapshot this session object again (it crashed)."""
        if self._dirty.get(session.user) is session:
            del self._dirty[session.user]

    @property
    def has_room(self) -> bool:
        return self._room.is_set()

    async def wait_for_room(self) -> None:
        """Block a producer while the buffer is full (the disk is slow or failing)."""
        await self._room.wait()

    async def wait_committed(self, seq: int) -> None:
        """Return once every event up to ``seq`` is on disk."""
        async with self._committed:
            while self.committed_seq < seq:
                await self._committed.wait()

    @property
    def buffered(self) -> int:
        return len(self._events)

    @property
    def appended_seq(self) -> int:
        """The newest sequence number given out (buffered, being written, or on disk)."""
        return self._next_seq - 1

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def stop(self) -> None:
        """Ask ``run`` to write what is left and return."""
        self._stopping.set()

    # --- the actor -------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[StoreWriter] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started(self)
        windows = 0
        failures = 0
        while not self._stopping.is_set():
            delay = (
                self._flush_interval_s
                if not failures
                else min(self._flush_interval_s * 2**failures, MAX_RETRY_DELAY_S)
            )
            with trio.move_on_after(delay):
                await self._stopping.wait()
            windows += 1
            ok = await self._flush(snapshots=windows % self._snapshot_every == 0)
            failures = 0 if ok else failures + 1
        await self.final_flush()

    async def final_flush(self, timeout_s: float = 10.0) -> bool:
        """Write everything left, snapshots included, retrying for up to ``timeout_s``.

        Shielded: it also runs when the service is being cancelled, so a clean
        stop loses nothing while the disk works.
        """
        failures = 0
        with trio.move_on_after(timeout_s, shield=True):
            while not await self._flush(snapshots=True):
                failures += 1
                await trio.sleep(min(self._flush_interval_s * 2**failures, MAX_RETRY_DELAY_S))
            return True
        log.error("store.final_flush_failed", extra={"events_lost": len(self._events)})
        return False

    async def _flush(self, *, snapshots: bool) -> bool:
        """Write one batch; True when it is on disk (or there was nothing to write)."""
        if not self._events and not (snapshots and self._dirty):
            return True
        events, self._events = self._events, []
        sessions: Sequence[Snapshotting] = ()
        if snapshots:
            sessions, self._dirty = list(self._dirty.values()), {}
        # Captured now: a session may change while the thread writes.
        captured = [(session, session.last_seq, session.progress_rows()) for session in sessions]
        rows = [row for _, _, session_rows in captured for row in session_rows]
        upto = self._next_seq - 1
        started = trio.current_time()
        try:
            await trio.to_thread.run_sync(
                self.store.write_batch, events, rows, limiter=self._limiter
            )
        except StoreError as exc:
            if self.last_error != str(exc):
                # The message says it all; a traceback per retry would flood the log.
                log.error("store.write_failed", extra={"error": str(exc), "events": len(events)})  # noqa: TRY400
            self.last_error = str(exc)
            self._events[:0] = events  # keep order: the failed batch goes first
            for session in sessions:
                self._dirty.setdefault(session.user, session)
            return False
        if self.last_error is not None:
            log.warning("store.write_recovered", extra={"events": len(events)})
            self.last_error = None
        for session, seq, _ in captured:
            session.saved(seq)
        async with self._committed:
            self.committed_seq = upto
            self._committed.notify_all()
        if len(self._events) < self._max_buffered:
            self._room.set()
        if self.on_commit is not None:
            self.on_commit(len(events), len(rows), trio.current_time() - started)
        return True
