"""``store.erase``: one user's rows out of the store, in one transaction, and out of the file.

Stores are filled here with ``SqliteStore.write_batch``; what must be gone
and what must stay is read back with plain SQL, not with the code under test.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from legacy import owns_source
from store import DATABASE_NAME, EventRow, ProgressRow, SqliteStore, StoreBusyError, StoreError
from store.erase import erase_user, forget_offline

VICTIM = "5b1e0c2a-victim-7d41"
TWIN = VICTIM + "-twin"  # ids hold "-": the twin's file names start with the victim's id
OTHER = "c0ffee00-other-1234"
TYPES = ("analytics", "log", "feedback", "statement", "user_feedback")


def _rows(users: dict[str, int], *, payload_bytes: int = 40) -> list[EventRow]:
    """``n`` events per user, every type in turn, interleaved as users send them."""
    rows: list[EventRow] = []
    for round_ in range(max(users.values())):
        for user, count in users.items():
            if round_ < count:
                seq = len(rows) + 1
                payload = {"log": "speed", "note": f"{user}:" + "x" * payload_bytes}
                kind = TYPES[round_ % len(TYPES)]
                rows.append(EventRow(seq, user, kind, "spinner", "cie3", None, seq, seq, payload))
    return rows


def _fill(data: Path, users: dict[str, int], **payload) -> list[EventRow]:
    rows = _rows(users, **payload)
    progress = [ProgressRow(user, "spinner", "cie3", 3, {"owner": user}) for user in users]
    names = {
        VICTIM: ["-spin30-spinner-cie3.json", "-spinner-cie3-adjacency.csv"],
        TWIN: ["-spin30-spinner-cie3.json"],
        OTHER: ["-spinner-cie3-feedback.csv"],
    }
    imports = [(user + name, "{}") for user in users for name in names[user]]
    with SqliteStore(data) as store:
        store.write_batch(rows, progress, imports)
    return rows


def _dump(data: Path) -> dict[str, list[tuple]]:
    """Every row of every table, with plain SQL."""
    with sqlite3.connect(data / DATABASE_NAME) as db:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {table: sorted(db.execute(f"SELECT * FROM {table}")) for table in tables}


def _without(dump: dict[str, list[tuple]], user: str, sources: set[str]) -> dict[str, list[tuple]]:
    return {
        "events": [row for row in dump["events"] if row[1] != user],
        "progress": [row for row in dump["progress"] if row[0] != user],
        "imports": [row for row in dump["imports"] if row[0] not in sources],
        "meta": dump["meta"],
    }


def test_forget_erases_exactly_the_users_rows_and_reports_them(tmp_path):
    data = tmp_path / "data"
    rows = _fill(data, {VICTIM: 12, TWIN: 7, OTHER: 9})
    before = _dump(data)
    report = forget_offline(data, VICTIM, owns_source=owns_source(VICTIM))
    expected_types: dict[str, int] = {}
    for row in rows:
        if row.user == VICTIM:
            expected_types[row.type] = expected_types.get(row.type, 0) + 1
    assert dict(report.events) == expected_types
    assert report.total_events == 12
    assert (report.progress, report.imports) == (1, 2)
    victim_sources = {f"{VICTIM}-spin30-spinner-cie3.json", f"{VICTIM}-spinner-cie3-adjacency.csv"}
    assert _dump(data) == _without(before, VICTIM, victim_sources)


def test_a_dry_run_counts_and_erases_nothing(tmp_path):
    data = tmp_path / "data"
    _fill(data, {VICTIM: 5, OTHER: 5})
    before = _dump(data)
    report = forget_offline(data, VICTIM, owns_source=owns_source(VICTIM), dry_run=True)
    assert (report.total_events, report.progress, report.imports) == (5, 1, 2)
    assert report.reclaim is None
    assert _dump(data) == before


def test_nothing_of_the_user_is_left_in_the_files(tmp_path):
    data = tmp_path / "data"
    _fill(data, {VICTIM: 400, OTHER: 400})
    needle = VICTIM.encode()
    files = lambda: [p for p in data.iterdir() if p.name.startswith(DATABASE_NAME)]  # noqa: E731
    assert any(needle in path.read_bytes() for path in files())
    report = forget_offline(data, VICTIM, owns_source=owns_source(VICTIM))
    assert report.reclaim is not None
    assert report.reclaim.wal_truncated
    for path in files():
        assert needle not in path.read_bytes(), path.name
    assert OTHER.encode() in (data / DATABASE_NAME).read_bytes()


def test_secure_delete_is_what_clears_the_file(tmp_path):
    """The same erase with secure_delete off leaves the id readable: the test can fail."""
    data = tmp_path / "data"
    _fill(data, {VICTIM: 400, OTHER: 400})
    with sqlite3.connect(data / DATABASE_NAME, isolation_level=None) as db:
        db.execute("PRAGMA secure_delete = OFF")
        db.execute("DELETE FROM events WHERE user = ?", (VICTIM,))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert VICTIM.encode() in (data / DATABASE_NAME).read_bytes()


def test_free_pages_are_reported_and_vacuum_gives_them_back(tmp_path):
    data = tmp_path / "data"
    _fill(data, {VICTIM: 3000, OTHER: 300}, payload_bytes=400)
    size_before = (data / DATABASE_NAME).stat().st_size
    kept = forget_offline(data, VICTIM, owns_source=owns_source(VICTIM))
    assert kept.reclaim is not None
    assert kept.reclaim.free_pages > 0
    assert "VACUUM" in kept.reclaim.how
    assert (data / DATABASE_NAME).stat().st_size == size_before  # auto_vacuum NONE

    _fill(other := tmp_path / "other", {VICTIM: 3000, OTHER: 300}, payload_bytes=400)
    vacuumed = forget_offline(other, VICTIM, owns_source=owns_source(VICTIM), vacuum=True)
    assert vacuumed.reclaim is not None
    assert (vacuumed.reclaim.free_pages, vacuumed.reclaim.how) == (0, "vacuum")
    assert (other / DATABASE_NAME).stat().st_size < size_before / 3


def test_an_incremental_store_gives_pages_back_at_once(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / DATABASE_NAME) as db:  # before the first table
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    _fill(data, {VICTIM: 3000, OTHER: 300}, payload_bytes=400)
    report = forget_offline(data, VICTIM, owns_source=owns_source(VICTIM))
    assert report.reclaim is not None
    assert (report.reclaim.free_pages, report.reclaim.how) == (0, "incremental_vacuum")


def test_forget_refuses_beside_a_running_writer_and_without_a_store(tmp_path):
    data = tmp_path / "data"
    _fill(data, {VICTIM: 3})
    with SqliteStore(data), pytest.raises(StoreBusyError):
        forget_offline(data, VICTIM, owns_source=owns_source(VICTIM))
    with pytest.raises(StoreError, match="no store"):
        forget_offline(tmp_path / "nowhere", VICTIM, owns_source=owns_source(VICTIM))
    assert not (tmp_path / "nowhere").exists()


def test_the_erase_is_one_transaction(tmp_path):
    """A failure after the events went (an import name that cannot be judged) erases nothing."""
    data = tmp_path / "data"
    _fill(data, {VICTIM: 4})
    before = _dump(data)

    def broken(source: str) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    with sqlite3.connect(data / DATABASE_NAME, isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError):
            erase_user(db, VICTIM, owns_source=broken)
        assert not db.in_transaction
        (secure,) = db.execute("PRAGMA secure_delete").fetchone()
    assert _dump(data) == before
    assert secure in (0, 1)  # restored, whatever it was
