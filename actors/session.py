"""A user's session: its state object, and how it is rebuilt from disk.

A session is a per-user state object (``UserSession``), not a task: DESIGN.md
measured a task and channel per user at ~6.7 KB and one more hop per event,
a state object at ~1.1 KB. The router (``actors.router``) runs it. A cold
user is rebuilt from their snapshots plus the events stored after them
(``load_session`` in a thread, then ``replay_tail`` on the loop in chunks).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from analytics.progress import StudentProgress, stored_message
from courses import Catalog
from messages import DecodeError, Event, LogEvent, V2Event
from store import (
    ALL_COURSES,
    NEVER_REPLAY,
    UNKNOWN_COURSE,
    EventRow,
    ProgressRow,
    SqliteStore,
    Tail,
    is_marker,
)

# Events replayed per scheduler pass when a user loads (~1 ms of work), and
# read from disk per trip to a worker thread.
REPLAY_CHUNK = 64
TAIL_PAGE = 256

# What a resident session holds, measured with tracemalloc through
# ``UserSession.apply`` (300 sessions of 3 and of 30 events a course, issue
# 13.3; tests/actors/test_memory_estimate.py checks the estimate within 35 %):
# ~330 bytes with no course (the session, its progress, its user id, its
# numbers, its directory entry), ~250 more for the table of the first course
# in its dict, ~350 per course plus 2 bytes per cell of the course's matrix
# once it counts a transition (8 once a count passes 65,535: rare, not
# counted here; until then it shares the course's zeros), ~260 per course
# the catalog does not define. RSS grows by about 1.5 times as much
# (allocator rounding and fragmentation: benchmarks/bench_memory.py).
SESSION_BYTES = 330
FIRST_COURSE_BYTES = 250
COURSE_BYTES = 350
NODE_PAIR_BYTES = 2
UNKNOWN_COURSE_BYTES = 260
# A course's v2 state (``V2Session``, made by the first statement): ~1,000
# bytes of small tables (the feedback page's only once it submits), 2 per
# cell of its own counts, ~22 per statement kept (its time, node and slider
# data in the timeline and the usage tally).
V2_SESSION_BYTES = 1000
V2_NODE_PAIR_BYTES = 2
V2_STATEMENT_BYTES = 22


NO_UNKNOWN: frozenset[tuple[str, str]] = frozenset()


class UserSession:
    """One user's state: progress per course, and how much of it is on disk."""

    __slots__ = (
        "bytes",
        "crashed",
        "last_active",
        "last_seq",
        "progress",
        "saved_seq",
        "unknown",
        "user",
    )

    def __init__(self, user: str, progress: StudentProgress) -> None:
        self.user = user
        self.progress = progress
        self.last_seq = 0  # newest event applied
        self.saved_seq = 0  # newest event covered by a snapshot on disk
        self.last_active = 0.0
        self.crashed = False  # dropped by the router; rebuilt from disk on the next message
        # Courses of this user's events that the catalog does not define: a
        # marker row each, so a load neither replays them nor, once the
        # course is defined, misses them. Most users have none: they share one
        # empty frozenset (216 bytes each otherwise); ``note_unknown`` makes a set.
        self.unknown: set[tuple[str, str]] | frozenset[tuple[str, str]] = NO_UNKNOWN
        self.bytes = self.estimate()  # about what it holds; kept up to date by ``apply``

    def apply(self, event: Event | V2Event, hardware: str | None = None) -> None:
        """Apply one event in arrival order (``StudentProgress.apply``), noting unknown courses."""
        progress = self.progress
        courses = len(progress.courses)
        if progress.apply(event, hardware) is None:
            if isinstance(event, LogEvent) or (event.exp, event.course) in self.unknown:
                return
            self.note_unknown(event.exp, event.course)
            self.bytes = self.estimate()
        elif len(progress.courses) != courses or not isinstance(event, Event):
            # A v2 statement grows the state (an HTTP request: the count is cheap here).
            self.bytes = self.estimate()

    def note_unknown(self, exp: str, course: str) -> None:
        """This user has events of ``(exp, course)``, which the catalog does not define."""
        if not isinstance(self.unknown, set):
            self.unknown = set()
        self.unknown.add((exp, course))

    def estimate(self) -> int:
        """About the bytes this session holds (see ``SESSION_BYTES``)."""
        courses = self.progress.courses.values()
        return (
            SESSION_BYTES
            + (FIRST_COURSE_BYTES if courses else 0)
            + sum(
                COURSE_BYTES
                + (0 if p.counts_shared else NODE_PAIR_BYTES * len(p.course.nodes) ** 2)
                for p in courses
            )
            + UNKNOWN_COURSE_BYTES * len(self.unknown)
            + sum(
                V2_SESSION_BYTES
                + V2_NODE_PAIR_BYTES * len(p.course.nodes) ** 2
                + V2_STATEMENT_BYTES * len(p.v2.usage)
                for p in courses
                if p.v2 is not None
            )
        )

    def progress_rows(self) -> list[ProgressRow]:
        """Snapshots of every course, all at ``last_seq`` (the store relies on it).

        Each defined course's record, a marker for each unknown one, each
        saying (``ALL_COURSES``) that these are all of the user's courses.
        """
        seq = self.last_seq
        rows = []
        for (exp, course), progress in self.progress.courses.items():
            record = progress.to_record()
            record[ALL_COURSES] = True
            rows.append(ProgressRow(self.user, exp, course, seq, record))
        marker = {**UNKNOWN_COURSE, ALL_COURSES: True}
        rows += [ProgressRow(self.user, exp, course, seq, marker) for exp, course in self.unknown]
        return rows

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
    (``replay_tail``): each course's after its own snapshot; a course that
    has none, or whose record cannot be used, from the start; a course the
    catalog does not define, never (its events cannot count).
    """
    rows, stored = store.load_snapshots(user)
    progress = StudentProgress(user, catalog)
    session = UserSession(user, progress)
    problems: list[str] = []
    covered: list[tuple[str, str, int]] = []
    # Whether the rows on disk describe this state exactly; else it is saved again.
    exact = stored.rest > 0 or not rows
    for (exp, course), row in rows.items():
        defined = catalog.resolve(exp, course) is not None  # v2 keys may be aliases
        if not defined:
            if not is_marker(row.record):
                problems.append(f"{exp}-{course}: the course is no longer defined")
                exact = False
            session.note_unknown(exp, course)
            covered.append((exp, course, NEVER_REPLAY))
        elif is_marker(row.record):  # defined since: all of its events count now
            covered.append((exp, course, 0))
            exact = False
        elif failed := progress.restore({(exp, course): row.record}):
            problems += failed
            covered.append((exp, course, 0))
            exact = False
        else:
            covered.append((exp, course, row.seq))
    newest = max([stored.rest, *(row.seq for row in rows.values())])
    session.last_seq = newest
    session.saved_seq = newest if exact else -1
    session.bytes = session.estimate()
    return session, problems, Tail(user, tuple(covered), stored.rest, logs=False)


async def replay_tail(
    session: UserSession,
    store: SqliteStore,
    tail: Tail,
    limiter: trio.CapacityLimiter,
    *,
    run_sync: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync,
) -> list[str]:
    """Apply the events after the snapshots: read a page in a thread, replay it on the loop.

    Replay is pure Python: in a worker thread it would hold the GIL against
    the event loop (others' p99 went to 455 ms behind a 76,000-event tail);
    in chunks of about a millisecond between scheduler passes, and reading
    in pages of about a millisecond too, everyone else keeps being served.
    """
    problems: list[str] = []
    after = tail.start
    while page := await run_sync(
        partial(store.tail_page, tail, after=after, limit=TAIL_PAGE), limiter=limiter
    ):
        for number, event in enumerate(page, start=1):
            problems += _replay(session, event)
            if number % REPLAY_CHUNK == 0:
                await trio.lowlevel.checkpoint()
        after = page[-1].seq
        session.last_seq = max(session.last_seq, after)
    return problems


def _replay(session: UserSession, event: EventRow) -> list[str]:
    try:
        message = stored_message(event)
        if message is not None:
            session.apply(message)
    except (DecodeError, ValueError, KeyError, TypeError) as exc:
        return [f"event {event.seq} skipped on replay: {exc}"]
    return []
