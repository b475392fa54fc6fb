"""A user's session: its state object, and how it is rebuilt from disk.

A session is a per-user state object (``UserSession``), not a task: DESIGN.md
measured a task and channel per user at ~6.7 KB and one more hop per event,
a state object at ~1.1 KB. The router (``actors.router``) runs it. A cold
user is rebuilt from their snapshots plus the events stored after them
(``load_session`` in a thread, then ``replay_tail`` on the loop in chunks).
"""

from __future__ import annotations

from functools import partial

import orjson
import trio

from analytics.progress import StudentProgress
from courses import Catalog
from messages import DecodeError, Request, decode
from store import EventRow, ProgressRow, SqliteStore, Tail

# Events replayed per scheduler pass when a user loads (~1 ms of work), and
# read from disk per trip to a worker thread.
REPLAY_CHUNK = 64
TAIL_PAGE = 256


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
