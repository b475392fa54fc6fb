"""``backup_store``: a consistent copy of a store that a running service is writing."""

from __future__ import annotations

import json
import shutil
import sqlite3
from functools import partial
from pathlib import Path

import pytest
import trio

from store import DATABASE_NAME, EventRow, SqliteStore
from store.backup import BackupError, backup_store, run_backup
from tests.actors.conftest import (
    client,
    event,
    request,
    running_service,
    service_settings,
    wait_until,
)


def _fill(data: Path, events: int) -> None:
    store = SqliteStore(data)
    try:
        store.write_batch(
            [
                EventRow(seq, "u1", "analytics", "spinner", "cie3", None, seq, 0, {"log": "speed"})
                for seq in range(1, events + 1)
            ],
            [],
        )
    finally:
        store.close()


def _open_copy(copy: Path, directory: Path) -> SqliteStore:
    """Restore the copy the way the ops README says: it becomes a data dir's database."""
    directory.mkdir()
    shutil.copyfile(copy, directory / DATABASE_NAME)
    return SqliteStore(directory)


async def test_backup_while_the_service_writes(tmp_path) -> None:
    data = tmp_path / "data"
    destination = tmp_path / "backup.sqlite3"
    async with running_service(service_settings(data)) as service, client(service) as ui:
        for t in range(300):
            await ui.send(event("u1", ("voltage", "speed", "brake")[t % 3], t))
        await wait_until(lambda: service.writer.committed_seq >= 300)
        committed_before = service.writer.committed_seq

        done = trio.Event()
        sent = 300

        async def keep_sending() -> None:
            nonlocal sent
            while not done.is_set():
                await ui.send(event("u2", "speed", sent))
                sent += 1
                await trio.sleep(0.002)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_sending)
            # One page per step with a pause: the copy spans many of the
            # service's commits, and must still finish and be one snapshot.
            report = await trio.to_thread.run_sync(
                partial(backup_store, data, destination, pages_per_step=1, step_sleep_s=0.005)
            )
            done.set()
        assert sent > 300  # the service kept taking events during the backup
        # The service is still answering after the backup.
        (reply,) = await ui.ask(request("u1", "indicators", id=7), 1)
        assert reply["id"] == 7
        await wait_until(lambda: service.writer.committed_seq >= sent)

    assert report.pages > 1
    assert report.events >= committed_before
    assert report.destination == destination
    copy = _open_copy(destination, tmp_path / "restored")
    try:
        assert copy.count_events() == report.events
        assert copy.max_seq() == report.max_seq
        # A snapshot: the copy holds a gap-free prefix of the arrival order.
        assert report.max_seq == report.events
        assert [e.t for e in copy.events_of("u1")] == list(range(300))
    finally:
        copy.close()
    live = SqliteStore(data)
    try:
        assert live.count_events() == sent  # nothing lost because of the backup
    finally:
        live.close()


async def test_backup_of_a_stopped_store(tmp_path) -> None:
    data = tmp_path / "data"
    _fill(data, 50)
    report = backup_store(data, tmp_path / "b.sqlite3")
    assert (report.events, report.max_seq, report.progress_rows) == (50, 50, 0)
    # A single self-contained file: nothing left beside the copy.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.sqlite3", "data"]
    with sqlite3.connect(tmp_path / "b.sqlite3") as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    # The store itself still opens (the backup never held its lock).
    SqliteStore(data).close()


async def test_refuses_to_overwrite(tmp_path) -> None:
    data = tmp_path / "data"
    _fill(data, 5)
    destination = tmp_path / "b.sqlite3"
    destination.write_bytes(b"an older backup")
    with pytest.raises(BackupError, match="already exists"):
        backup_store(data, destination)
    assert destination.read_bytes() == b"an older backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.sqlite3", "data"]

    report = backup_store(data, destination, overwrite=True)
    assert report.events == 5
    with sqlite3.connect(destination) as copy:
        assert copy.execute("SELECT count(*) FROM events").fetchone()[0] == 5


async def test_missing_store(tmp_path) -> None:
    with pytest.raises(BackupError, match="no store to back up"):
        backup_store(tmp_path / "nowhere", tmp_path / "b.sqlite3")
    assert not (tmp_path / "nowhere").exists()  # a backup never creates a store
    assert not (tmp_path / "b.sqlite3").exists()


async def test_destination_not_writable(tmp_path) -> None:
    data = tmp_path / "data"
    _fill(data, 1)
    with pytest.raises(BackupError, match="does not exist"):
        backup_store(data, tmp_path / "missing-dir" / "b.sqlite3")
    with pytest.raises(BackupError, match="is a directory"):
        backup_store(data, tmp_path)
    with pytest.raises(BackupError, match="live store itself"):
        backup_store(data, data / DATABASE_NAME, overwrite=True)


async def test_run_backup_prints_the_report_and_exits_1_with_a_message(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    _fill(data, 3)
    assert run_backup(data, tmp_path / "b.sqlite3") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == 3
    assert report["destination"] == str(tmp_path / "b.sqlite3")
    assert run_backup(data, tmp_path / "b.sqlite3") == 1
    assert "already exists" in capsys.readouterr().err
