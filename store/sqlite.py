"""The embedded store: one SQLite database in WAL mode.

``SqliteStore`` is synchronous on purpose. The store writer actor calls
``write_batch`` from its one ``trio.to_thread`` worker, so there is exactly one
writer; reads (a cold user's progress) use a second connection, since WAL lets
readers run beside the writer. Keep this interface small: a PostgreSQL store
would implement the same methods (DESIGN.md, "Scaling out").
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from store.rows import (
    EventRow,
    ProgressRow,
    StoreBusyError,
    StoredUser,
    StoreError,
    Tail,
    now_ms,
)

T = TypeVar("T")

DATABASE_NAME = "analytics.sqlite3"
LOCK_NAME = "analytics.lock"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    type TEXT NOT NULL,
    exp TEXT NOT NULL,
    course TEXT NOT NULL,
    hardware TEXT,
    t INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    payload TEXT NOT NULL
);
-- (user, seq): a cold user's tail since its snapshot is one index range.
CREATE INDEX IF NOT EXISTS events_by_user ON events (user);
CREATE TABLE IF NOT EXISTS progress (
    user TEXT NOT NULL,
    exp TEXT NOT NULL,
    course TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user, exp, course)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imports (
    source TEXT PRIMARY KEY,
    imported_ms INTEGER NOT NULL,
    detail TEXT NOT NULL
);
"""


EVENT_COLUMNS = "seq, user, type, exp, course, hardware, t, received_ms, payload"
TAIL_PAGE_ALL = 10_000


def event_row(row: Sequence[Any]) -> EventRow:
    """An ``EventRow`` from a row of ``SELECT {EVENT_COLUMNS}``."""
    return EventRow(*row[:8], orjson.loads(row[8]))


class SqliteStore:
    """Raw events and per-user progress snapshots in ``<data>/analytics.sqlite3``.

    Opening it takes an exclusive lock on ``<data>/analytics.lock`` and on
    the database file itself for the life of the object: event sequence
    numbers are allocated in the writing process, so two writers (a service
    and an import) must never overlap, even when someone deletes the lock
    file. The database's lock is a ``flock``, which SQLite's own (``fcntl``)
    locks ignore: readers and ``backup`` open it as usual.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DATABASE_NAME
        self._locks: list[IO[bytes]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._locks.append(_exclusive_lock(self.path.with_name(LOCK_NAME)))
            self._locks.append(_exclusive_lock(self.path))
            # The writer waits little for a lock: it retries on its own, and a
            # stop must not sit in a thread for long (nobody else writes).
            self._writer = self._connect(busy_timeout_ms=1000)
            with self._writer:
                self._writer.executescript(SCHEMA)
                self._writer.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
            self._reader = self._connect()
        except StoreBusyError:
            self._release_locks()
            raise
        except (OSError, sqlite3.Error) as exc:
            self._release_locks()
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        # sqlite3 connections may not be used by two threads at once.
        self._read_lock = threading.Lock()

    def _connect(self, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL costs nothing measurable at 20 commits/s and survives power loss.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        return connection

    def write_batch(
        self,
        events: Sequence[EventRow],
        progress: Sequence[ProgressRow],
        imported: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write one commit window: all rows in one transaction, or none of them.

        ``imported`` names legacy files ``(source, detail)`` that this batch
        imports, so that an import is recorded exactly when its rows are.

        Raises ``StoreError`` (nothing written) when the disk refuses.
        """
        updated = now_ms()
        try:
            with _transaction(self._writer) as cursor:
                cursor.executemany(
                    "INSERT INTO events (seq, user, type, exp, course, hardware, t,"
                    " received_ms, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.seq,
                            e.user,
                            e.type,
                            e.exp,
                            e.course,
                            e.hardware,
                            e.t,
                            e.received_ms,
                            e.payload_text,
                        )
                        for e in events
                    ],
                )
                cursor.executemany(
                    "INSERT OR REPLACE INTO progress (user, exp, course, record, updated_ms, seq)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (p.user, p.exp, p.course, orjson.dumps(p.record).decode(), updated, p.seq)
                        for p in progress
                    ],
                )
                cursor.executemany(
                    "INSERT OR REPLACE INTO imports (source, imported_ms, detail) VALUES (?, ?, ?)",
                    [(source, updated, detail) for source, detail in imported],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to {self.path}: {exc}") from exc

    def run_writing(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the write connection (autocommit, outside a transaction): an erase.

        Only from the writer's one thread, never beside ``write_batch`` (the
        store writer's limiter sees to it). Raises ``StoreError`` when SQLite
        refuses (``work`` rolls its own transaction back).
        """
        try:
            return work(self._writer)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to {self.path}: {exc}") from exc

    def max_seq(self) -> int:
        """The highest event sequence number stored (0 for an empty store)."""
        with self._read_lock:
            row = self._reader.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def load_user(self, user: str) -> StoredUser:
        """The snapshots of ``user`` and every event after them, in arrival order."""
        progress, tail = self.load_snapshots(user)
        events: list[EventRow] = []
        while page := self.tail_page(tail, after=events[-1].seq if events else tail.start):
            events += page
        return StoredUser(progress, events)

    def load_snapshots(self, user: str) -> tuple[dict[tuple[str, str], ProgressRow], Tail]:
        """The snapshot rows of ``user``, and which of their events come after them."""
        with self._read_lock:
            return read_snapshots(self._reader, user)

    def tail_page(self, tail: Tail, *, after: int, limit: int = TAIL_PAGE_ALL) -> list[EventRow]:
        """Up to ``limit`` events of ``tail`` with ``seq > after``, in arrival order.

        Pages keep each read short: a long tail read at once would hold the
        GIL against the event loop for as long as it takes. SQLite skips the
        covered events itself, so only the tail crosses into Python.
        """
        with self._read_lock:
            return read_tail_page(self._reader, tail, after=after, limit=limit)

    def events_of(self, user: str) -> list[EventRow]:
        """Every stored event of ``user`` in arrival order (for export and checks)."""
        with self._read_lock:
            rows = self._reader.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE user = ? ORDER BY seq", (user,)
            ).fetchall()
        return [event_row(row) for row in rows]

    def count_events(self) -> int:
        with self._read_lock:
            return int(self._reader.execute("SELECT count(*) FROM events").fetchone()[0])

    def imported(self, source: str) -> bool:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT 1 FROM imports WHERE source = ?", (source,)
            ).fetchone()
        return row is not None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._writer.close()
        with self._read_lock:
            self._reader.close()
        self._release_locks()

    def _release_locks(self) -> None:
        # Last, after SQLite's connections: closing a descriptor of the
        # database would drop the fcntl locks SQLite holds on it.
        while self._locks:
            self._locks.pop().close()  # releases the flock


def _exclusive_lock(path: Path) -> IO[bytes]:
    """Hold an advisory lock on ``path`` (created if missing, never truncated);
    raises ``StoreBusyError`` if another process holds it."""
    # 0o644 like SQLite's own files (a plain open() would give 0o666 & ~umask).
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreBusyError(
            f"the store at {path.parent} is in use by another process "
            "(a running service or an import): stop it first"
        ) from None
    return handle


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""
    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    try:
        yield cursor
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


# --- Reads any connection can make (the store's reader, a snapshot's) -----------------


def read_snapshots(
    connection: sqlite3.Connection, user: str
) -> tuple[dict[tuple[str, str], ProgressRow], Tail]:
    """The snapshot rows of ``user``, and which of their events come after them."""
    found = connection.execute(
        "SELECT exp, course, seq, record FROM progress WHERE user = ?", (user,)
    ).fetchall()
    rows = {
        (exp, course): ProgressRow(user, exp, course, seq, orjson.loads(record))
        for exp, course, seq, record in found
    }
    return rows, Tail.of_rows(user, rows)


def read_tail_page(
    connection: sqlite3.Connection, tail: Tail, *, after: int, limit: int
) -> list[EventRow]:
    """Up to ``limit`` events of ``tail`` with ``seq > after``, in arrival order.

    SQLite skips the covered events itself, so only the tail crosses into Python.
    """
    own = ["(exp = ? AND course = ? AND seq > ?)"] * len(tail.covered)
    arguments: list[Any] = [tail.user, max(after, tail.start)]
    for covered in tail.covered:
        arguments += covered
    if tail.covered:
        others = " OR ".join(["(exp = ? AND course = ?)"] * len(tail.covered))
        own.append(f"(NOT ({others}) AND seq > ?)")
        for exp, course, _ in tail.covered:
            arguments += (exp, course)
    else:
        own.append("seq > ?")
    arguments.append(tail.rest)
    kinds = "" if tail.logs else "AND type != 'log' "
    query = (
        f"SELECT {EVENT_COLUMNS} FROM events WHERE user = ? AND seq > ? {kinds}"
        f"AND ({' OR '.join(own)}) ORDER BY seq LIMIT ?"
    )
    return [event_row(row) for row in connection.execute(query, [*arguments, limit])]
