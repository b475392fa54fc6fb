"""Which sessions the store writer must snapshot, and their rows taken at one moment.

Sessions mark themselves dirty when they change; the writer (``actors.writer``)
takes them all with the transaction that empties its commit buffer,
captures their rows before the thread writes (a session may change
meanwhile), and tells each what its snapshot covers once committed. Apart
from the writer because it knows nothing of the buffer, the store or
retries: only which session objects are due and what they gave.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

import attrs

from store import ProgressRow

# The writer's log: capturing is its step, and operators filter on it.
log = logging.getLogger("actors.writer")


class Snapshotting(Protocol):
    """What the writer needs of a session to persist it."""

    user: str
    last_seq: int

    def progress_rows(self) -> list[ProgressRow]: ...

    def saved(self, seq: int) -> None: ...


class DirtySessions:
    """The sessions changed since their last snapshot, one object per user."""

    def __init__(self) -> None:
        self._sessions: dict[str, Snapshotting] = {}

    def __bool__(self) -> bool:
        return bool(self._sessions)

    def mark(self, session: Snapshotting) -> None:
        self._sessions[session.user] = session

    def forget(self, session: Snapshotting) -> None:
        """Never snapshot this session object again (it crashed)."""
        if self._sessions.get(session.user) is session:
            del self._sessions[session.user]

    def discard(self, user: str) -> None:
        """Whatever ``user``'s session holds is not to be written (the user is forgotten)."""
        self._sessions.pop(user, None)

    def take_all(self) -> list[Snapshotting]:
        sessions, self._sessions = list(self._sessions.values()), {}
        return sessions

    def put_back(self, sessions: Iterable[Snapshotting]) -> None:
        """Sessions whose snapshots were not written; one marked since stays as it is."""
        for session in sessions:
            self._sessions.setdefault(session.user, session)


@attrs.frozen
class Captured:
    """Snapshot rows taken from sessions at one moment, and the sequence each covers."""

    covered: list[tuple[Snapshotting, int]]
    rows: list[ProgressRow]

    def saved(self) -> None:
        """The rows are committed: tell each session what its snapshot covers."""
        for session, seq in self.covered:
            session.saved(seq)


def capture(sessions: Sequence[Snapshotting]) -> Captured:
    """The rows of each session now; one that raises is logged and left out."""
    covered: list[tuple[Snapshotting, int]] = []
    rows: list[ProgressRow] = []
    for session in sessions:
        try:
            seq, session_rows = session.last_seq, session.progress_rows()
        except Exception:
            # Its events are stored; only this snapshot waits for a later one.
            log.exception("store.snapshot_failed", extra={"user": session.user})
            continue
        covered.append((session, seq))
        rows += session_rows
    return Captured(covered, rows)
