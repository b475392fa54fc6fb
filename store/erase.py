"""Erasing personal data from the store: one user on request, old raw events past retention.

``erase_user`` deletes a user's events (v1 frames, v2 statements and
feedback), progress snapshots and import records in ONE transaction: all of
it or nothing. It runs with ``secure_delete`` on, so the freed cells and
pages are overwritten with zeros rather than left readable in the file (our
SQLite builds default to it; we do not rely on that), and then checkpoints
the WAL and truncates it, so no page image from before the erase stays in
``-wal``. A checkpoint that readers block (an export's snapshot) is
reported; the next one finishes the job.

Free pages: the store is created with ``auto_vacuum`` NONE (SQLite's
default; measured), so erased pages stay in the file as zeroed free pages
and the file keeps its size until ``VACUUM`` (``forget --vacuum``, with the
service stopped). A store created with ``auto_vacuum=INCREMENTAL`` gets them
back at once (``PRAGMA incremental_vacuum``). ``reclaim`` says which.

``erase_events_before`` is the retention step: raw events that arrived
(``received_ms``, our clock, not the client's ``t``) before a cutoff, in
batches of ``batch_rows`` consecutive sequence numbers, each batch its own
short transaction (a pass reads every row once: the arrival times of
imported events do not follow ``seq``, so no early stop is safe). It keeps
what a user's snapshots do not cover yet (every event after the oldest
snapshot of that user is replayed when they are loaded), so the analytics
never change; events of a user with no snapshot
(only ``log`` frames, or courses the catalog does not define) go.

Synchronous, no tasks: the CLI calls it with the service stopped, the store
writer (``actors.forget``, ``actors.retention``) from its thread on its connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs

from store.rows import StoreError
from store.sqlite import DATABASE_NAME, SqliteStore, _transaction

# Short transactions beside the writer's 50 ms commits: 1,000 sequence numbers
# took 29 ms a batch on average, 5,000 took 92 ms (2-core VM, 1M events,
# benchmarks/bench_erase.py; docs/BENCHMARKS.md).
RETENTION_BATCH_ROWS: Final = 1000
_NO_SNAPSHOT: Final = 2**63 - 1


@attrs.frozen
class Reclaim:
    """What became of the pages the erase freed."""

    free_pages: int  # free pages left in the file (zeroed)
    how: str  # "incremental_vacuum", "vacuum", or "run VACUUM with the service stopped"
    wal_truncated: bool  # False: a reader held the WAL; the next checkpoint clears it

    def to_json(self) -> dict[str, Any]:
        return {"free_pages": self.free_pages, "how": self.how, "wal_truncated": self.wal_truncated}


@attrs.frozen
class EraseReport:
    """What ``erase_user`` removed: events by stored type, snapshots, import records."""

    user: str
    events: Mapping[str, int]
    progress: int
    imports: int
    reclaim: Reclaim | None = None

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "events": self.total_events,
            "events_by_type": dict(sorted(self.events.items())),
            "progress_rows": self.progress,
            "import_records": self.imports,
            "reclaim": None if self.reclaim is None else self.reclaim.to_json(),
        }


def erase_user(
    connection: sqlite3.Connection,
    user: str,
    *,
    owns_source: Callable[[str], bool],
    dry_run: bool = False,
) -> EraseReport:
    """Erase every row of ``user`` in one transaction; report the counts.

    ``owns_source`` says whether an import record (a legacy file name) is
    the user's: names start with ``<user>-`` but user ids hold ``-`` too, so
    the caller parses them (``legacy.parse_legacy_name``). ``dry_run`` counts
    and rolls back. ``connection`` is in autocommit mode (``isolation_level
    None``) and outside a transaction. Raises ``sqlite3.Error`` (nothing erased).
    """
    try:
        with _secure_delete(connection), _transaction(connection) as cursor:
            report = _erase(cursor, user, owns_source)
            _roll_back_if(dry_run)
    except _DryRunError:
        pass
    return report


def _roll_back_if(dry_run: bool) -> None:
    if dry_run:
        raise _DryRunError


class _DryRunError(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _erase(cursor: sqlite3.Cursor, user: str, owns_source: Callable[[str], bool]) -> EraseReport:
    events = dict(
        cursor.execute(
            "SELECT type, count(*) FROM events WHERE user = ? GROUP BY type", (user,)
        ).fetchall()
    )
    cursor.execute("DELETE FROM events WHERE user = ?", (user,))
    progress = cursor.execute("DELETE FROM progress WHERE user = ?", (user,)).rowcount
    prefix = _like_prefix(user + "-")
    candidates = cursor.execute(
        "SELECT source FROM imports WHERE source LIKE ? ESCAPE '\\'", (prefix,)
    ).fetchall()
    sources = [(source,) for (source,) in candidates if owns_source(source)]
    cursor.executemany("DELETE FROM imports WHERE source = ?", sources)
    return EraseReport(user, events, progress, len(sources))


def forget_offline(
    data_dir: Path,
    user: str,
    *,
    owns_source: Callable[[str], bool],
    dry_run: bool = False,
    vacuum: bool = False,
) -> EraseReport:
    """``learning-analytics forget``: erase ``user`` from a store no service holds.

    Takes the store's lock for the whole erase (``StoreBusyError`` while a
    service or an import runs); then reclaims (``reclaim``) unless ``dry_run``.
    Raises ``StoreError`` when there is no store or it refuses.
    """
    if not (Path(data_dir) / DATABASE_NAME).is_file():
        raise StoreError(f"no store at {Path(data_dir) / DATABASE_NAME} (check --data/DATA_PATH)")
    with SqliteStore(data_dir) as store:
        try:
            connection = sqlite3.connect(store.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {store.path}: {exc}") from exc
        try:
            connection.execute("PRAGMA busy_timeout=5000")
            report = erase_user(connection, user, owns_source=owns_source, dry_run=dry_run)
            if not dry_run:
                report = attrs.evolve(report, reclaim=reclaim(connection, vacuum=vacuum))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot erase from {store.path}: {exc}") from exc
        finally:
            connection.close()
    return report


def reclaim(connection: sqlite3.Connection, *, vacuum: bool = False) -> Reclaim:
    """Give freed pages back as the store allows; truncate the WAL (after ``erase_user``).

    ``vacuum`` rewrites the whole file (needs the store to itself: the
    service stopped). Raises ``sqlite3.Error``.
    """
    (auto_vacuum,) = connection.execute("PRAGMA auto_vacuum").fetchone()
    how = "run VACUUM with the service stopped (learning-analytics forget --vacuum)"
    if vacuum:
        connection.execute("VACUUM")
        how = "vacuum"
    elif auto_vacuum == 2:  # INCREMENTAL
        # execute() steps once, and one step frees one page: run it to the end.
        connection.executescript("PRAGMA incremental_vacuum")
        how = "incremental_vacuum"
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    (free_pages,) = connection.execute("PRAGMA freelist_count").fetchone()
    if free_pages == 0 and how.startswith("run"):
        how = "nothing to reclaim"
    return Reclaim(int(free_pages), how, wal_truncated=busy == 0)


@attrs.frozen
class RetentionReport:
    """What one retention pass erased: events, batches (transactions), rows looked at."""

    erased: int = 0
    batches: int = 0
    last_seq: int = 0

    def to_json(self) -> dict[str, int]:
        return {"erased": self.erased, "batches": self.batches, "last_seq": self.last_seq}


def erase_events_before(
    connection: sqlite3.Connection,
    before_ms: int,
    *,
    after_seq: int = 0,
    batch_rows: int = RETENTION_BATCH_ROWS,
) -> tuple[int, int | None]:
    """One retention batch: events in ``(after_seq, next]`` that arrived before ``before_ms``.

    Returns ``(erased, next)``: the next batch starts after ``next``; None
    when no event is left past ``after_seq``. One short transaction.
    """
    (upper,) = connection.execute(
        "SELECT max(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
        (after_seq, batch_rows),
    ).fetchone()
    if upper is None:
        return 0, None
    with _secure_delete(connection), _transaction(connection) as cursor:
        erased = cursor.execute(
            "DELETE FROM events WHERE seq > ? AND seq <= ? AND received_ms < ? AND seq <= "
            "coalesce((SELECT min(p.seq) FROM progress p WHERE p.user = events.user), ?)",
            (after_seq, upper, before_ms, _NO_SNAPSHOT),
        ).rowcount
    return erased, int(upper)


def erase_old_events(
    connection: sqlite3.Connection, before_ms: int, *, batch_rows: int = RETENTION_BATCH_ROWS
) -> RetentionReport:
    """A whole retention pass, batch after batch (each its own transaction)."""
    report = RetentionReport()
    after: int | None = 0
    while after is not None:
        erased, upper = erase_events_before(
            connection, before_ms, after_seq=after, batch_rows=batch_rows
        )
        if upper is not None:
            report = RetentionReport(report.erased + erased, report.batches + 1, upper)
        after = upper
    return report


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


@contextmanager
def _secure_delete(connection: sqlite3.Connection) -> Iterator[None]:
    """Zeroes what is deleted meanwhile, then restores the connection's setting."""
    (before,) = connection.execute("PRAGMA secure_delete").fetchone()
    connection.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        connection.execute(f"PRAGMA secure_delete = {int(before)}")
