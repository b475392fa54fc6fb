"""``import_directory``: one transaction per user, idempotent, never stopped by a bad line."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from courses import Catalog
from legacy import (
    ImportOutcome,
    ImportReport,
    ImportStatus,
    format_report,
    import_directory,
    read_legacy_user,
    scan_legacy,
)
from store import EventRow, ProgressRow, SqliteStore
from tests.legacy.conftest import (
    DAVE_PROBLEMS,
    Legacy,
    expected_counter,
    expected_enjoyment,
    record_enjoyment,
)
from tests.legacy.legacy_data import (
    UUID_USER,
    log_name,
    random_frames,
    write_log,
    write_matrix_csv,
)


@pytest.fixture
def store(legacy: Legacy):
    # The store lives where the old files are, as in a real DATA_PATH.
    store = SqliteStore(legacy.directory)
    try:
        yield store
    finally:
        store.close()


def progress_records(store: SqliteStore, users: list[str]) -> dict[Any, Any]:
    return {
        (user, *key): (row.seq, row.record)
        for user in users
        for key, row in store.load_user(user).progress.items()
    }


def test_imports_every_user(legacy: Legacy, store: SqliteStore, catalog: Catalog) -> None:
    statuses: list[ImportStatus] = []

    report = import_directory(legacy.directory, store, catalog, progress=statuses.append)

    assert (report.users, report.imported, report.users_skipped) == (5, 5, 0)
    assert report.failed == ()
    assert (
        report.events
        == store.count_events()
        == sum(len(frames) for frames in legacy.frames.values())
        + sum(len(rows) for rows in legacy.feedback.values())
    )
    assert len(report.problems) == len(DAVE_PROBLEMS)
    assert [(s.done, s.total, s.outcome) for s in statuses] == [
        (i, 5, ImportOutcome.IMPORTED) for i in range(1, 6)
    ]
    assert [s.user for s in statuses] == sorted(legacy.users)
    assert sum(s.events for s in statuses) == report.events


def test_imported_progress_matches_the_old_service(
    legacy: Legacy, store: SqliteStore, catalog: Catalog
) -> None:
    import_directory(legacy.directory, store, catalog)

    for (user, exp, course_id), frames in legacy.frames.items():
        course = catalog.course(exp, course_id)
        stored = store.load_user(user)
        if course is None:
            assert (exp, course_id) not in stored.progress
            continue
        # The progress rows cover every imported event of a defined course (an
        # undefined course's events have no row: replayed once it is defined).
        assert [e for e in stored.tail if (e.exp, e.course) == (exp, course_id)] == []
        row = stored.progress[exp, course_id]
        counter = expected_counter(course, frames, legacy.adjacency.get((user, exp, course_id)))
        assert row.record["matrix"] == counter.matrix.tolist()
        rows = legacy.feedback.get((user, exp, course_id), [])
        assert record_enjoyment(course, row.record) == expected_enjoyment(course, rows)
        assert row.seq == max(event.seq for event in store.events_of(user))


def test_store_seqs_match_the_read(legacy: Legacy, store: SqliteStore, catalog: Catalog) -> None:
    import_directory(legacy.directory, store, catalog)

    first = 1
    for files in scan_legacy(legacy.directory).users:
        expected = read_legacy_user(files, catalog, first_seq=first)
        assert store.events_of(files.user) == list(expected.events)
        first += expected.seqs_used


def test_a_second_run_changes_nothing(legacy: Legacy, store: SqliteStore, catalog: Catalog) -> None:
    import_directory(legacy.directory, store, catalog)
    events, records = store.count_events(), progress_records(store, legacy.users)

    again = import_directory(legacy.directory, store, catalog)

    assert (again.imported, again.already_imported, again.skipped) == (0, 5, ())
    assert again.events == 0
    assert again.problems == ()
    assert store.count_events() == events
    assert progress_records(store, legacy.users) == records


def test_imported_files_are_recorded(legacy: Legacy, store: SqliteStore, catalog: Catalog) -> None:
    import_directory(legacy.directory, store, catalog)

    for files in scan_legacy(legacy.directory).users:
        for file in files.files:
            assert store.imported(file.name)
    assert not store.imported("notes.txt")


def test_a_user_of_the_new_service_is_skipped(
    legacy: Legacy, store: SqliteStore, catalog: Catalog
) -> None:
    event = EventRow(1, "bob", "analytics", "pendulum", "engdes1", "pend1", 5, 5, {"log": "start"})
    record = {"version": 1, "matrix": [[0] * 9] * 9, "pending": [], "feedback": []}
    store.write_batch([event], [ProgressRow("bob", "pendulum", "engdes1", 1, record)])

    report = import_directory(legacy.directory, store, catalog)

    assert report.imported == 4
    (skipped,) = report.skipped
    assert skipped.startswith("bob: ")
    assert store.events_of("bob") == [event]
    assert store.load_user("bob").progress["pendulum", "engdes1"].record == record
    assert not store.imported("bob-pendulum-engdes1-feedback.csv")
    assert "1 left alone" in format_report(report)
    assert skipped in format_report(report)


def test_files_added_after_an_import_are_not_mixed_in(
    legacy: Legacy, store: SqliteStore, catalog: Catalog
) -> None:
    import_directory(legacy.directory, store, catalog)
    events = store.count_events()
    extra = random_frames(
        random.Random(1), "alice", 5, hardware="spin99", exp="spinner", course="cie3"
    )
    write_log(legacy.directory, log_name("alice", "spin99", "spinner", "cie3"), extra)

    report = import_directory(legacy.directory, store, catalog)

    (skipped,) = report.skipped
    assert skipped.startswith("alice: ")
    assert log_name("alice", "spin99", "spinner", "cie3") in skipped
    assert store.count_events() == events


def test_a_failing_user_does_not_stop_the_others(
    legacy: Legacy, store: SqliteStore, catalog: Catalog
) -> None:
    path = write_matrix_csv(
        legacy.directory, "alice-spinner-cie3-adjacency.csv", ["voltage", "spin"], [[1, 0], [0, 1]]
    )

    report = import_directory(legacy.directory, store, catalog)

    assert report.imported == 4
    (failed,) = report.failed
    assert failed.startswith(f"alice: {path}: header: ")
    assert store.events_of("alice") == []
    assert not store.imported(log_name("alice", "spin30", "spinner", "cie3"))
    assert "failed: 1 user(s)" in format_report(report)

    path.unlink()  # the fix: the user is imported by the next run
    again = import_directory(legacy.directory, store, catalog)
    assert (again.imported, again.already_imported, again.failed) == (1, 4, ())
    assert len(store.events_of("alice")) == len(legacy.frames["alice", "spinner", "cie3"])


def test_a_large_log_imports(tmp_path: Path, catalog: Catalog) -> None:
    frames = random_frames(
        random.Random(7), UUID_USER, 5000, hardware="spin30", exp="spinner", course="cie3"
    )
    write_log(tmp_path, log_name(UUID_USER, "spin30", "spinner", "cie3"), frames)
    store = SqliteStore(tmp_path / "data")
    try:
        report = import_directory(tmp_path, store, catalog)

        assert (report.imported, report.events) == (1, 5000)
        course = catalog.course("spinner", "cie3")
        assert course is not None
        row = store.load_user(UUID_USER).progress["spinner", "cie3"]
        assert row.record["matrix"] == expected_counter(course, frames).matrix.tolist()
        assert row.seq == 5000
    finally:
        store.close()


def test_import_detail_names_size_and_lines(
    legacy: Legacy, store: SqliteStore, catalog: Catalog
) -> None:
    (files,) = [f for f in scan_legacy(legacy.directory).users if f.user == "alice"]
    result = read_legacy_user(files, catalog, first_seq=1)

    ((name, detail),) = result.sources
    path = legacy.directory / name
    assert orjson.loads(detail) == {
        "size": path.stat().st_size,
        "lines": len(legacy.frames["alice", "spinner", "cie3"]),
    }


def test_format_report(legacy: Legacy, store: SqliteStore, catalog: Catalog) -> None:
    report = import_directory(legacy.directory, store, catalog)

    text = format_report(report)

    assert f"imported: 5 user(s), {report.events} event(s)" in text
    assert f"problems: {len(DAVE_PROBLEMS)}" in text
    assert report.problems[0] in text
    assert "summary.csv" in text


def test_format_report_cuts_long_lists(tmp_path: Path) -> None:
    problems = tuple(f"f.json: line {i}: bad" for i in range(1, 31))
    report = ImportReport(tmp_path, 1, 1, 0, (), (), 3, problems, ())

    text = format_report(report)

    assert "f.json: line 20: bad" in text
    assert "f.json: line 21: bad" not in text
    assert "... and 10 more" in text
