"""The sessions in memory: the router's directory of ready users, and what they hold.

``Residents`` keeps the ``user -> UserSession`` directory in least recently
active order (refreshed at most once a second per session, so the hot path
pays a dictionary move rarely) and counts the bytes of every session in
memory (``UserSession.bytes``, measured with tracemalloc). A session leaves
memory when it has been idle for ``idle_timeout_s``, or early, least
recently active first, when all of them hold more than ``max_bytes``; either
way only once its state is on disk, so an evicted user is rebuilt exactly.

Freed memory is not given back to the system by itself: glibc keeps it for
reuse, so RSS stays near its high-water mark. After a large eviction the
sweep asks glibc to return it (``malloc_trim``; measured with 100,000
sessions of which 90,000 evicted: RSS 348 MB -> 143 MB by Python alone ->
82 MB after the trim, which took 8 ms, run in a thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import logging
from collections.abc import Callable

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
# Evicted since the last malloc_trim before the sweep calls it again.
RELEASE_AFTER_BYTES = 64 * 1024 * 1024


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where there is none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


MALLOC_TRIM = _malloc_trim()


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
        self._evicted_bytes = 0  # since memory was last given back

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
        self._evicted_bytes += session.bytes
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
            if self._evicted_bytes >= RELEASE_AFTER_BYTES and MALLOC_TRIM is not None:
                self._evicted_bytes = 0
                await trio.to_thread.run_sync(MALLOC_TRIM)
