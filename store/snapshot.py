"""A consistent, read-only view of the store, for exports taken while the service runs.

Why not ``SqliteStore``: opening it takes the one-writer lock
(``analytics.lock``), which a running service holds. A snapshot only reads:
it opens the database read-only, never touches the lock, and holds ONE read
transaction for its whole life, as ``store.backup`` does. WAL keeps every
page as of the snapshot's first read, so an export sees one instant of the
store however long it runs, and the service's commits go on beside it. The
price: while a snapshot is open, checkpoints cannot pass it, so the ``-wal``
file grows by what the service writes meanwhile (it shrinks again after).

Rows are read in pages (keyset on ``seq`` or ``user``), never all at once: an
export of ten million events holds one page.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from store.backup import keep_store_owner
from store.rows import EventRow, StoredUser, StoreError
from store.sqlite import (
    DATABASE_NAME,
    EVENT_COLUMNS,
    event_row,
    read_snapshots,
    read_tail_page,
)

# Rows per page: ~1 MB of rows in Python at a typical 500-byte payload, and a
# few milliseconds of SQLite work per page.
PAGE_SIZE: Final = 2000


@attrs.frozen
class EventFilter:
    """Which events an export wants; every field left empty means all.

    ``user`` is one user's events; ``courses`` holds ``(exp, course)``
    pairs, ``exp`` ``None`` for "this course code in any lab"; ``since_ms``
    (inclusive) and ``until_ms`` (exclusive) bound the event's ``t``.
    """

    user: str | None = None
    courses: tuple[tuple[str | None, str], ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None

    def sql(self) -> tuple[str, list[Any]]:
        """A ``WHERE`` condition (``"1"`` for all) and its arguments."""
        terms: list[str] = []
        arguments: list[Any] = []
        if self.user is not None:
            terms.append("user = ?")
            arguments.append(self.user)
        if self.courses:
            alternatives = []
            for exp, course in self.courses:
                if exp is None:
                    alternatives.append("course = ?")
                    arguments.append(course)
                else:
                    alternatives.append("(exp = ? AND course = ?)")
                    arguments += [exp, course]
            terms.append(f"({' OR '.join(alternatives)})")
        if self.since_ms is not None:
            terms.append("t >= ?")
            arguments.append(self.since_ms)
        if self.until_ms is not None:
            terms.append("t < ?")
            arguments.append(self.until_ms)
        return " AND ".join(terms) or "1", arguments


class StoreSnapshot:
    """The store of ``data_dir`` as of the moment this was opened; close it when done.

    Raises ``StoreError`` if there is no store or it cannot be read.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DATABASE_NAME
        if not self.path.is_file():
            raise StoreError(f"no store at {self.path} (check --data/DATA_PATH)")
        try:
            self._db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path} read-only: {exc}") from exc
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("BEGIN")
            # The snapshot starts at the first read, not at BEGIN: read now.
            row = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            self.max_seq = int(row[0])
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc

    def __enter__(self) -> StoreSnapshot:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Ends the read transaction (the service's checkpoints may pass again)."""
        self._db.close()
        keep_store_owner(self.path)

    def count_events(self, where: EventFilter = EventFilter()) -> int:
        condition, arguments = where.sql()
        query = f"SELECT count(*) FROM events WHERE {condition}"
        return int(self._execute(query, arguments).fetchone()[0])

    def event_pages(
        self, where: EventFilter = EventFilter(), *, page_size: int = PAGE_SIZE
    ) -> Iterator[list[EventRow]]:
        """The events ``where`` selects, in ``seq`` order, ``page_size`` at a time."""
        condition, arguments = where.sql()
        query = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? AND {condition} ORDER BY seq LIMIT ?"
        )
        after = 0
        while rows := self._execute(query, [after, *arguments, page_size]).fetchall():
            yield [event_row(row) for row in rows]
            after = rows[-1][0]

    def count_users(self) -> int:
        query = "SELECT count(*) FROM (SELECT user FROM events UNION SELECT user FROM progress)"
        return int(self._execute(query, []).fetchone()[0])

    def courses_of(self, user: str) -> list[tuple[str, str]]:
        """The ``(exp, course)`` pairs ``user`` has events of, sorted."""
        query = "SELECT DISTINCT exp, course FROM events WHERE user = ? ORDER BY exp, course"
        return [(exp, course) for exp, course in self._execute(query, [user])]

    def users(self, *, page_size: int = PAGE_SIZE) -> Iterator[str]:
        """Every user with events or a progress row, in id order."""
        query = (
            "SELECT user FROM (SELECT user FROM events WHERE user > ?1"
            " UNION SELECT user FROM progress WHERE user > ?1) ORDER BY user LIMIT ?2"
        )
        after = ""
        while rows := self._execute(query, [after, page_size]).fetchall():
            yield from (row[0] for row in rows)
            after = rows[-1][0]

    def load_user(self, user: str, *, page_size: int = PAGE_SIZE) -> StoredUser:
        """``user``'s snapshots and every event after them, as ``SqliteStore.load_user``."""
        try:
            progress, tail = read_snapshots(self._db, user)
            events: list[EventRow] = []
            after = tail.start
            while page := read_tail_page(self._db, tail, after=after, limit=page_size):
                events += page
                after = page[-1].seq
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc
        return StoredUser(progress, events)

    def _execute(self, query: str, arguments: list[Any]) -> sqlite3.Cursor:
        try:
            return self._db.execute(query, arguments)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc
