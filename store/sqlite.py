"""The embedded store: one SQLite database in WAL mode.

``SqliteStore`` is synchronous on purpose. The store writer actor calls
``write_batch`` from its one ``trio.to_thread`` worker, so there is exactly one
writer; reads (a cold user's progress) use a second connection, since WAL lets
readers run beside the writer. Keep this interface small: a PostgreSQL store
would implement the same methods (DESIGN.md, "Scaling out").
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

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

    Opening it takes an exclusive lock on ``<data>/analytics.lock`` for the
    life of the object: event sequence numbers are allocated in the writing
    process, so two writers (a service and an import) must never overlap.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DATABASE_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _exclusive_lock(self.path.with_name(LOCK_NAME))
            self._writer = self._connect()
            with self._writer:
                self._writer.executescript(SCHEMA)
                self._writer.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
            self._reader = self._connect()
        except StoreBusyError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        # sqlite3 connections may not be used by two threads at once.
        self._read_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL costs nothing measurable at 20 commits/s and survives power loss.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=5000")
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
                            orjson.dumps(e.payload).decode(),
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
        """The snapshots of ``user``, and which of their events come after them."""
        with self._read_lock:
            return read_snapshots(self._reader, user)

    def tail_page(self, tail: Tail, *, after: int, limit: int = TAIL_PAGE_ALL) -> list[EventRow]:
        """Up to ``limit`` events of ``tail`` with ``seq > after``, in arrival order.

        Pages keep each read short: a long tail read at once would hold the
        GIL against the event loop for as long as it takes.
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
        self._lock.close()  # releases the flock


def _exclusive_lock(path: Path) -> IO[bytes]:
    """Hold an advisory lock on ``path``; raises ``StoreBusyError`` if another holds it."""
    handle = path.open("ab")
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
    """The snapshots of ``user``, and which of their events come after them."""
    rows = connection.execute(
        "SELECT exp, course, seq, record FROM progress WHERE user = ?", (user,)
    ).fetchall()
    newest = max((row[2] for row in rows), default=0)
    stale = tuple((exp, course, seq) for exp, course, seq, _ in rows if seq < newest)
    progress = {
        (exp, course): ProgressRow(user, exp, course, seq, orjson.loads(record))
        for exp, course, seq, record in rows
    }
    return progress, Tail(user, newest, stale)


def read_tail_page(
    connection: sqlite3.Connection, tail: Tail, *, after: int, limit: int
) -> list[EventRow]:
    """Up to ``limit`` events of ``tail`` with ``seq > after``, in arrival order."""
    wanted = " OR ".join(["seq > ?"] + ["(exp = ? AND course = ? AND seq > ?)"] * len(tail.stale))
    arguments: list[Any] = [tail.user, after, tail.newest]
    for stale in tail.stale:
        arguments += stale
    query = (
        f"SELECT {EVENT_COLUMNS} FROM events WHERE user = ? AND seq > ? AND ({wanted}) "
        "ORDER BY seq LIMIT ?"
    )
    return [event_row(row) for row in connection.execute(query, [*arguments, limit])]
