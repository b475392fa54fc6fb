"""The sessions in memory: the router's directory of ready users, and what they hold.

``Residents`` keeps the ``user -> UserSession`` directory in least recently
active order (refreshed at most once a second per session, so the hot path
pays a dictionary move rarely) and counts the bytes of every session in
memory (``UserSession.bytes``, measured with tracemalloc). A session leaves
memory when it has been idle for ``idle_timeout_s``, or early, least
recently active first, when all of them hold more than ``max_bytes``; either
way only once its state is on disk, so an evicted user is rebuilt exactly.
"""

from __future__ import annotations

import itertools
import logging

import trio

from actors.session import UserSession
from actors.writer import StoreWriter

log = logging.getLogger(__name__)

# The directory's order is refreshed at most this often per session (LRU).
LRU_RESOLUTION_S = 1.0
# Sessions looked at per trim, so a trim never holds the loop for long.
TRIM_SCAN = 4096
# A trim goes down to this share of the cap, so trims are rare.
TRIM_TO = 0.9


class Residents:
    """The directory of ready sessions and the memory of every session loaded.

    ``bytes`` counts sessions from ``loaded`` until ``dropped`` (a crash) or
    evicted, also while they wait in a line outside the directory. Run
    ``evict_idle`` in a nursery; it sweeps until cancelled.
    """

    def __init__(self, writer: StoreWriter, *, max_bytes: int, idle_timeout_s: float) -> None:
        self._writer = writer
        self._max_bytes = max_bytes
        self._idle_timeout_s = idle_timeout_s
        # Ready users, least recently active first (to within LRU_RESOLUTION_S).
        self.sessions: dict[str, UserSession] = {}
        self.bytes = 0

    def loaded(self, session: UserSession) -> None:
        """A session now in memory (not yet in the directory)."""
        self.bytes += session.bytes

    def join(self, session: UserSession) -> None:
        """``session`` is ready: in the directory as the most recent, trimmed if need be."""
        self.sessions[session.user] = session
        self.trim()

    def leave(self, session: UserSession) -> None:
        """Out of the directory while its messages wait in a line (still in memory)."""
        if self.sessions.get(session.user) is session:
            del self.sessions[session.user]

    def dropped(self, session: UserSession) -> None:
        """Out of memory for good (it crashed)."""
        self.leave(session)
        self.bytes -= session.bytes

    def touch(self, session: UserSession, now: float) -> None:
        """``session`` is active now: move it to the recent end, now and then."""
        if now - session.last_active > LRU_RESOLUTION_S and self.sessions.get(session.user):
            self.sessions[session.user] = self.sessions.pop(session.user)
        session.last_active = now

    def evictable(self, session: UserSession) -> bool:
        return session.clean and self._writer.committed_seq >= session.last_seq

    def evict(self, user: str, session: UserSession) -> None:
        del self.sessions[user]
        self.bytes -= session.bytes
        log.debug("session.evicted", extra={"user": user})

    def trim(self) -> None:
        """Above ``max_bytes``: evict the least recently active sessions that are on disk.

        Down to ``TRIM_TO`` of the cap; a session not yet on disk is marked
        dirty instead (its snapshot comes with the next one, then it can go).
        """
        if self.bytes <= self._max_bytes:
            return
        target = self._max_bytes * TRIM_TO
        for user, session in list(itertools.islice(self.sessions.items(), TRIM_SCAN)):
            if self.bytes <= target:
                break
            if self.evictable(session):
                self.evict(user, session)
            else:
                self._writer.mark_dirty(session)

    async def evict_idle(self) -> None:
        """Drop sessions idle for ``idle_timeout_s`` once their state is on disk."""
        period = min(self._idle_timeout_s / 4, 30.0)
        while True:
            await trio.sleep(period)
            idle_since = trio.current_time() - self._idle_timeout_s
            for user, session in list(self.sessions.items()):
                if session.last_active > idle_since:
                    continue
                if self.evictable(session):
                    self.evict(user, session)
                else:
                    self._writer.mark_dirty(session)
            self.trim()
