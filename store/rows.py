"""What the store keeps, as plain values: raw events, progress snapshots, tails.

Nothing here touches a disk: these are the rows every store (SQLite today,
PostgreSQL later) reads and writes, and what the actors hand it.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import orjson

from messages import Event, payload_json

# What one buffered event costs besides its payload's text (the row, its
# strings and ints; measured with tracemalloc: ~330 bytes): the commit
# buffer counts its bytes with it.
ROW_OVERHEAD_BYTES = 400


class StoreError(Exception):
    """The store cannot be opened or written; the message says where and why."""


class UnstorableEvent(ValueError):
    """An event whose payload cannot be written as JSON (e.g. nested too deep).

    Raised before the event gets a sequence number or is applied: it is
    refused to its sender, and nobody else's events are affected.
    """


# A payload already encoded as the JSON text the store keeps (a plain str:
# sqlite3 binds a str subclass through its slower adaptation path).
JsonText = str


def encode_payload(event: Event) -> JsonText:
    """The payload of ``event`` as the JSON text the store will keep.

    Raises ``UnstorableEvent`` when it cannot be encoded: orjson reads 1024
    levels of nesting but writes only 254, so a frame can decode and still
    not be storable.
    """
    try:
        return orjson.dumps(payload_json(event)).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise UnstorableEvent(f"the payload cannot be stored: {exc}") from None


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
    payload: Any  # the JSON value (None on its way in when ``encoded`` holds it)
    encoded: JsonText | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)

    @classmethod
    def of(
        cls,
        seq: int,
        event: Event,
        *,
        hardware: str | None,
        received_ms: int,
        payload: JsonText | None = None,
    ) -> EventRow:
        """The row of a decoded event, its payload exactly as it came.

        ``payload``: its ``encode_payload``, made by whoever must know early
        that it can be stored (the router): kept as ``encoded``, the only
        copy held while the row waits. Else the value itself.
        """
        return cls(
            seq,
            event.user,
            event.TYPE,
            event.exp,
            event.course,
            hardware,
            event.t,
            received_ms,
            payload_json(event) if payload is None else None,
            encoded=payload,
        )

    @property
    def payload_text(self) -> str:
        """The payload as the JSON text to store."""
        if self.encoded is not None:
            return self.encoded
        return orjson.dumps(self.payload).decode()

    @property
    def buffered_bytes(self) -> int:
        """About what this row holds in memory while it waits to be written."""
        encoded = self.encoded
        return ROW_OVERHEAD_BYTES + (0 if encoded is None else len(encoded))


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


# A snapshot row that is no progress record (``UNKNOWN_COURSE``): the user's
# events of this course up to the row's ``seq`` were not counted, the course
# being undefined then (replayed from the start once it is defined).
UNKNOWN_COURSE: dict[str, Any] = {"unknown_course": True}
# A key in a row's record (``True``): the row was written with a row for
# every course the user had events on up to its ``seq`` (a session's
# snapshot; an import writes no such key).
ALL_COURSES = "all_courses"
# A ``covered`` seq above any real one: the course is never replayed.
NEVER_REPLAY = 2**62


def is_marker(record: object) -> bool:
    """Whether a snapshot row's record is ``UNKNOWN_COURSE`` rather than progress."""
    return isinstance(record, dict) and record.get("unknown_course") is True


@attrs.frozen
class Tail:
    """Which of a user's events come after their snapshots, to be read page by page.

    Each course replays from its own snapshot: an event is in the tail when
    its ``seq`` is above its course's entry in ``covered``, or above
    ``rest`` for a course with no entry (0: from the start). ``logs``: whether
    log events are in it (a session's tail leaves them out: they never enter
    the graph).
    """

    user: str
    covered: tuple[tuple[str, str, int], ...] = ()  # (exp, course, seq)
    rest: int = 0
    logs: bool = True

    @property
    def start(self) -> int:
        """Every event of the tail comes after this one."""
        return min([self.rest, *(seq for _, _, seq in self.covered)])

    @classmethod
    def of_rows(cls, user: str, rows: dict[tuple[str, str], ProgressRow]) -> Tail:
        """Each course from its own row; the others after the newest ``ALL_COURSES`` row
        (a course with none had no events up to it), else from the start."""
        complete = [row.seq for row in rows.values() if row.record.get(ALL_COURSES) is True]
        return cls(
            user,
            tuple((exp, course, row.seq) for (exp, course), row in rows.items()),
            max(complete, default=0),
        )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StoreBusyError(StoreError):
    """Another process writes this store (a running service, an import)."""
