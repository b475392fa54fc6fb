"""The backups a store knows of: what ``backup`` records and ``forget`` lists."""

from __future__ import annotations

import json

from store.backup_log import BACKUPS_NAME, known_backups, record_backup


def test_backups_are_listed_oldest_first_with_whether_they_are_still_there(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    first, second = tmp_path / "b1.sqlite3", tmp_path / "b2.sqlite3"
    first.write_bytes(b"x")
    second.write_bytes(b"y")
    record_backup(data, first, events=10)
    record_backup(data, second, events=12)
    second.unlink()  # copied off the server and removed, as ops/README says
    found = known_backups(data)
    assert [(b.path, b.events, b.exists) for b in found] == [(first, 10, True), (second, 12, False)]
    assert found[0].made_ms <= found[1].made_ms


def test_no_registry_is_no_backup_and_bad_lines_are_skipped(tmp_path):
    assert known_backups(tmp_path) == []
    registry = tmp_path / BACKUPS_NAME
    good = json.dumps({"path": str(tmp_path / "b.sqlite3"), "made_ms": 5, "events": 1})
    registry.write_text(f"not json\n{{}}\n{good}\n")
    assert [b.events for b in known_backups(tmp_path)] == [1]


def test_a_relative_destination_is_recorded_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record_backup(tmp_path, tmp_path.joinpath("rel.sqlite3").relative_to(tmp_path), events=0)
    [backup] = known_backups(tmp_path)
    assert backup.path == tmp_path / "rel.sqlite3"
