"""What the store keeps, as plain values: raw events, progress snapshots, tails.

Nothing here touches a disk: these are the rows every store (SQLite today,
PostgreSQL later) reads and writes, and what the actors hand it.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from messages import Event, payload_json


class StoreError(Exception):
    """The store cannot be opened or written; the message says where and why."""


@attrs.frozen
class EventRow:
    """One raw event exactly as it will be kept for research.

    ``seq`` is allocated in memory by the one writer of the store (see
    ``StoreWriter``), so a session knows which events its snapshot covers.
    """

    seq: int
    user: str
    type: str
    exp: str
    course: str
    hardware: str | None
    t: int
    received_ms: int
    payload: Any

    @classmethod
    def of(cls, seq: int, event: Event, *, hardware: str | None, received_ms: int) -> EventRow:
        """The row of a decoded event, its payload exactly as it came."""
        return cls(
            seq,
            event.user,
            event.TYPE,
            event.exp,
            event.course,
            hardware,
            event.t,
            received_ms,
            payload_json(event),
        )


@attrs.frozen
class ProgressRow:
    """One user's progress record on one course (``CourseProgress.to_record``).

    It covers every event of that user and course with a sequence number up
    to ``seq``; later events are replayed on top of it when the user is loaded.
    """

    user: str
    exp: str
    course: str
    seq: int
    record: dict[str, Any]


@attrs.frozen
class StoredUser:
    """What a cold user is rebuilt from: snapshots, then the events after them."""

    progress: dict[tuple[str, str], ProgressRow]
    tail: list[EventRow]


@attrs.frozen
class Tail:
    """Which of a user's events come after their snapshots, to be read page by page.

    A session snapshots all of its courses together, so they share the
    newest ``seq`` and every event after it is in the tail. A snapshot left
    behind (a course that was not loaded at the last snapshot) adds that
    course's events after its own ``seq``.
    """

    user: str
    newest: int
    stale: tuple[tuple[str, str, int], ...] = ()  # (exp, course, seq) older than newest

    @property
    def start(self) -> int:
        """Every event of the tail comes after this one."""
        return min([self.newest, *(seq for _, _, seq in self.stale)])


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StoreBusyError(StoreError):
    """Another process writes this store (a running service, an import)."""
