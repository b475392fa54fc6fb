"""The commit buffer's accounting: what is appended and not yet on disk, and the room left.

Sessions append raw events here, each given the next sequence number; the
store writer (``actors.writer``) owns one, takes its oldest events a
transaction at a time, puts a refused batch back in front and says what is
committed. This module only counts and wakes who waits (for room, for a
commit): it knows nothing of the store, of snapshots or of retries, so the
room rule can be read (and changed) apart from the writer's loop.

Room: producers wait (``wait_for_room``) while the buffer, counting the
batch being written, holds ``max_buffered_events`` or ``max_buffered_bytes``,
or, while the disk works, once ``window_events`` events were
appended since the last write started. That last bound keeps what is
handled but not yet committed under about twice ``window_events`` at any
rate (what ``kill -9`` can lose); the writer starts a write at once when it
is reached (``window_full``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import trio

from store import EventRow

# Commit waiters (HTTP requests) woken per scheduler turn (``wake_committed``).
WAKE_CHUNK = 16


class BufferLimits(Protocol):
    """The bounds the buffer counts against (``actors.writer.WriterLimits``)."""

    @property
    def max_buffered_events(self) -> int: ...
    @property
    def max_buffered_bytes(self) -> int: ...
    @property
    def window_events(self) -> int: ...
    @property
    def transaction_events(self) -> int: ...
    @property
    def transaction_bytes(self) -> int: ...


class CommitBuffer:
    """The buffered events, their bytes, the batch in flight, the room left, what is committed.

    Room left is recounted by every change but an ``append``, which only
    subtracts: ``has_room`` stays two comparisons on the hot path. Nothing
    here awaits but who waits for room or for a commit.
    """

    def __init__(self, limits: BufferLimits, next_seq: int) -> None:
        self._limits = limits
        self.events: list[EventRow] = []  # oldest first, the batch in flight not among them
        self._events_bytes = 0
        self._next_seq = next_seq
        self._flight = (0, 0)  # events and bytes of the write in the thread
        self._since_write = 0  # events appended since the last write started
        self._windowed = True  # the disk works (``set_windowed``)
        self._spare_events = 0  # room left before producers wait
        self._spare_bytes = 0
        self._room = trio.lowlevel.ParkingLot()
        self.committed_seq = next_seq - 1  # every event up to it is on disk
        self._committed = trio.lowlevel.ParkingLot()
        self._recount()

    def append(self, row_without_seq: Callable[[int], EventRow]) -> EventRow:
        """Number a new event and buffer it; never waits and never refuses.

        Whatever ``row_without_seq`` raises comes out before a number is used.
        """
        row = row_without_seq(self._next_seq)
        self._next_seq += 1
        self.events.append(row)
        size = row.buffered_bytes
        self._events_bytes += size
        self._spare_bytes -= size
        self._since_write += 1
        self._spare_events -= 1
        return row

    @property
    def has_room(self) -> bool:
        """Whether one more event may be appended now (see the module's "Room")."""
        return self._spare_events > 0 and self._spare_bytes > 0

    @property
    def window_full(self) -> bool:
        """The window is reached while the disk works: a write should start now."""
        return self._windowed and self._spare_events <= 0

    async def wait_for_room(self) -> None:
        """Return once ``has_room`` (re-checked after every wake-up: none is lost)."""
        while not self.has_room:
            await self._room.park()

    async def wait_committed(self, seq: int) -> None:
        """Return once every event up to ``seq`` is on disk."""
        while self.committed_seq < seq:
            await self._committed.park()

    def committed(self, upto: int) -> None:
        """Every event up to ``upto`` is on disk (its waiters: ``wake_committed``)."""
        self.committed_seq = max(self.committed_seq, upto)

    async def wake_committed(self) -> None:
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

    def wake_all_committed(self) -> None:
        """Wake every commit waiter at once (at stop)."""
        self._committed.unpark_all()

    @property
    def buffered(self) -> int:
        """Events appended and not yet on disk, the batch being written included."""
        return len(self.events) + self._flight[0]

    @property
    def buffered_bytes(self) -> int:
        return self._events_bytes + self._flight[1]

    @property
    def appended_seq(self) -> int:
        """The newest sequence number given out (buffered, being written, or on disk)."""
        return self._next_seq - 1

    def backlog(self) -> bool:
        """More than one transaction's worth is buffered: write on at once."""
        limits = self._limits
        return (
            len(self.events) >= limits.transaction_events
            or self._events_bytes >= limits.transaction_bytes
        )

    def set_windowed(self, windowed: bool) -> None:
        """Whether the window bound applies: off while the disk fails, on once it works."""
        self._windowed = windowed
        self._recount()

    def take(self) -> tuple[list[EventRow], int]:
        """The oldest events, at most one transaction's worth (at least one), and their bytes."""
        limits = self._limits
        events, size = self.events, self._events_bytes
        if len(events) <= limits.transaction_events and size <= limits.transaction_bytes:
            self.events, self._events_bytes = [], 0
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

    def writing(self, events: int, size: int) -> None:
        """A write of ``events`` taken events (``size`` bytes) starts: they still count."""
        self._flight = (events, size)
        self._since_write = 0
        self._recount()

    def written(self) -> None:
        """The write in flight has ended: its events are on disk, or put back."""
        self._flight = (0, 0)
        self._recount()

    def put_back(self, events: list[EventRow]) -> None:
        """Events a write could not store, in front of the rest (their order kept)."""
        self.events[:0] = events
        self._events_bytes += sum(event.buffered_bytes for event in events)
        self._recount()

    def drop_user(self, user: str) -> int:
        """Take ``user``'s buffered events out, unwritten; how many there were.

        Not while a batch of theirs is in flight (the writer's ``exclusive``).
        """
        kept = [event for event in self.events if event.user != user]
        dropped = len(self.events) - len(kept)
        if dropped:
            self.events = kept
            self._events_bytes = sum(event.buffered_bytes for event in kept)
        if not self.events and self._flight == (0, 0):
            # Every number given out is on disk or was dropped: nobody waits for it.
            self.committed_seq = self.appended_seq
            self._committed.unpark_all()
        self._recount()
        return dropped

    def _recount(self) -> None:
        limits = self._limits
        spare = limits.max_buffered_events - self.buffered
        if self._windowed:
            spare = min(spare, limits.window_events - self._since_write)
        self._spare_events = spare
        self._spare_bytes = limits.max_buffered_bytes - self.buffered_bytes
        self._room.unpark_all()
