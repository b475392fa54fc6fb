"""Loading users' state from disk: a few loader tasks, connections taking turns.

A user not in memory is read from the store (their last snapshot, then the
events after it, replayed) by one of ``LOADERS`` tasks, which take the users
to load from the ``LoadQueue`` one connection at a time, so a flood of new
ids from one client delays another client's user by at most one load per
connection. Reads share one thread (``read_limiter``); replay runs on the
loop. A user being forgotten is not read until the erase is committed, nor
one whose session crashed until the writer has committed what it had.

It is apart from the router because reading is the one slow, fallible step
between a message and its session: the router only learns, per line, what
was loaded (``loaded``), or that nothing could be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from actors.lines import Line, LoadQueue, Source
from actors.session import UserSession, load_session, replay_tail
from actors.writer import RunSync, StoreWriter
from courses import Catalog

# Logged as the router: loading is one of its steps, and operators filter on it.
log = logging.getLogger("actors.router")

# Users loaded at once (reads share one thread; replay runs on the loop).
LOADERS = 4


class Loader:
    """The loader tasks, the users waiting for them, and the users not to read yet."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        writer: StoreWriter,
        recovering: dict[str, int],
        loaders: int = LOADERS,
        run_sync: RunSync = trio.to_thread.run_sync,
    ) -> None:
        self._catalog = catalog
        self._writer = writer
        # Users to read only once the writer has committed up to this seq (the Handler's).
        self._recovering = recovering
        self._loaders = loaders
        self._run_sync = run_sync  # how store reads leave the loop (a thread)
        self._queue = LoadQueue()
        self._read_limiter = trio.CapacityLimiter(1)
        # Users being forgotten: their loads wait until the erase is committed.
        self._forgetting: dict[str, trio.Event] = {}

    def put(self, source: Source, line: Line) -> None:
        """Load ``line``'s user in ``source``'s turn (or sooner, in another's)."""
        self._queue.put(source, line)

    def start(
        self, nursery: trio.Nursery, loaded: Callable[[Line, UserSession | None], None]
    ) -> None:
        """Start the loader tasks in ``nursery`` (they run until it is cancelled).

        Each load ends in ``loaded``, with the line and the user's state, or
        None when it could not be read (logged); a line forgotten meanwhile
        is passed over.
        """
        for _ in range(self._loaders):
            nursery.start_soon(self._load_in_turn, loaded)

    def hold_off(self, user: str) -> None:
        """No load reads ``user`` until ``resume(user)``: a forget is erasing them."""
        self._forgetting[user] = trio.Event()

    def resume(self, user: str) -> None:
        """Loads of ``user`` may read again (their forget is over)."""
        erasing = self._forgetting.pop(user, None)
        if erasing is not None:
            erasing.set()

    async def _load_in_turn(self, loaded: Callable[[Line, UserSession | None], None]) -> None:
        """A loader: load the next user in turn, hand over their line, forever."""
        while True:
            line = await self._queue.get()
            session = await self._load(line.user)
            if line.forgotten:
                continue  # what was read is from before the forget (``Router.forget_user``)
            loaded(line, session)

    async def _load(self, user: str) -> UserSession | None:
        """The user's state from disk, or None (logged) when it cannot be read."""
        try:
            while (erasing := self._forgetting.get(user)) is not None:
                await erasing.wait()  # read only once the forget's erase is committed
            recovering = self._recovering.pop(user, None)
            if recovering is not None:
                await self._writer.wait_committed(recovering)
            store = self._writer.store
            session, problems, tail = await self._run_sync(
                load_session, store, self._catalog, user, limiter=self._read_limiter
            )
            problems += await replay_tail(
                session, store, tail, self._read_limiter, run_sync=self._run_sync
            )
        except Exception:
            log.exception("session.load_failed", extra={"user": user})
            return None
        for problem in problems:
            log.warning("session.load_problem", extra={"user": user, "problem": problem})
        return session
