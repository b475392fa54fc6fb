"""``import-legacy`` on a hostile directory (issue 12, finding 9).

Links are never followed, names never forge output lines, and a file is read
one bounded line at a time, whatever its size.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import orjson
import pytest

from cli.main import main
from courses import Catalog
from legacy import LegacyFileError, read_legacy_user, read_log, scan_legacy
from legacy.files import LINE_MAX_BYTES, printable
from store import SqliteStore
from tests.legacy.legacy_data import frame, log_name, write_log

SPINNER = {"hardware": "spin30", "exp": "spinner", "course": "cie3"}
FORGED = "imported: 999 user(s), 999 event(s)"


def good_log(directory: Path, user: str = "u") -> Path:
    frames = [frame(user, t, log, **SPINNER) for t, log in enumerate(["voltage", "speed"])]
    return write_log(directory, log_name(user, "spin30", "spinner", "cie3"), frames)


def import_cli(directory: Path, data: Path, capsys) -> tuple[int, list[str]]:
    code = main(["import-legacy", str(directory), "--data", str(data)])
    out = capsys.readouterr()
    return code, (out.out + out.err).splitlines()


def stored_events(data: Path) -> int:
    with SqliteStore(data) as store:
        return store.count_events()


def test_links_out_of_the_directory_are_not_followed(tmp_path: Path, capsys) -> None:
    outside, old = tmp_path / "outside", tmp_path / "old"
    outside.mkdir()
    old.mkdir()
    secret = good_log(outside, "eve")  # valid frames, so following it would import them
    (old / log_name("eve", "spin30", "spinner", "cie3")).symlink_to(secret)
    (old / "eve-spinner-cie3-adjacency.csv").symlink_to("/etc/passwd")
    (old / "eve-spinner-cie3-feedback.csv").symlink_to(outside / "missing.csv")  # dangling
    inside = good_log(old, "bob")
    (old / log_name("bob", "spin31", "spinner", "cie3")).symlink_to(inside)  # would count twice

    code, lines = import_cli(old, tmp_path / "store", capsys)

    assert code == 0
    assert stored_events(tmp_path / "store") == 2  # bob's own file, once
    assert sum("a symbolic link: not followed" in line for line in lines) == 4
    with SqliteStore(tmp_path / "store") as store:
        assert not store.imported("eve-spinner-cie3-adjacency.csv")  # no size of /etc/passwd
        assert store.events_of("eve") == []


def test_a_link_swapped_in_after_the_scan_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    path = good_log(tmp_path)
    (files,) = scan_legacy(tmp_path).users
    path.unlink()
    path.symlink_to("/etc/passwd")

    with pytest.raises(LegacyFileError, match="a symbolic link: not followed"):
        read_legacy_user(files, catalog, first_seq=1)


def test_special_files_are_not_read(tmp_path: Path, capsys) -> None:
    os.mkfifo(tmp_path / log_name("u", "spin30", "spinner", "cie3"))  # an open() would hang
    (tmp_path / "u-spinner-cie3-feedback.csv").mkdir()

    code, lines = import_cli(tmp_path, tmp_path / "store", capsys)

    assert code == 0
    assert sum("not a regular file: not read" in line for line in lines) == 2
    assert stored_events(tmp_path / "store") == 0


@pytest.mark.parametrize(
    "name",
    [
        f"x\n{FORGED}\n.json",  # not a legacy name: listed as ignored
        f"u\n  {FORGED}-spin30-spinner-cie3.json",  # a user id that is not printable
        f"\x1b[2K\r  {FORGED}.csv",  # a terminal escape rewriting the line
        f"u\u2028{FORGED}-spinner-cie3-feedback.csv",  # a Unicode line separator
    ],
)
def test_names_cannot_forge_output_lines(tmp_path: Path, capsys, name: str) -> None:
    good_log(tmp_path)
    (tmp_path / name).write_text("{}\n")

    code, lines = import_cli(tmp_path, tmp_path / "store", capsys)

    assert code == 0
    assert not [line for line in lines if line.strip().startswith(FORGED)]
    assert any(printable(name) in line for line in lines)
    assert all(line.isprintable() for line in lines)


def test_a_directory_name_cannot_forge_output_lines(tmp_path: Path, capsys) -> None:
    old = tmp_path / f"old\n{FORGED}"
    old.mkdir()
    good_log(old)

    code, lines = import_cli(old, tmp_path / "store", capsys)

    assert code == 0
    assert not [line for line in lines if line.startswith(FORGED)]
    assert all(line.isprintable() for line in lines)
    code, lines = import_cli(tmp_path / f"gone\n{FORGED}", tmp_path / "store", capsys)
    assert code == 1
    assert not [line for line in lines if line.startswith(FORGED)]


SPARSE_BYTES = 64 * 1024 * 1024
# What reading may hold at most: a few lines, against 64 MB (the old code: twice the file).
PEAK_MAX_BYTES = 1024 * 1024


def sparse(path: Path, size: int = SPARSE_BYTES) -> Path:
    """A file of ``size`` zero bytes and no newline that takes no room on disk."""
    with path.open("wb") as file:
        file.truncate(size)
    return path


def peak_bytes_of(function, *args):
    """``function(*args)`` and the peak of Python allocations while it ran."""
    tracemalloc.start()
    try:
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_line_is_skipped_without_being_held(tmp_path: Path, catalog: Catalog) -> None:
    path = sparse(tmp_path / log_name("u", "spin30", "spinner", "cie3"))
    good = orjson.dumps(frame("u", 1, "voltage", **SPINNER))
    with path.open("ab") as file:  # a good line after the 64 MB one still counts
        file.write(b"\n" + good + b"\n")
    (files,) = scan_legacy(tmp_path).users

    read, peak = peak_bytes_of(read_log, files.courses[0].logs[0])

    assert peak < PEAK_MAX_BYTES  # not the 64 MB line, not the file
    assert [event.payload.log for event in read.events] == ["voltage"]
    assert read.problems == (f"{path.name}: line 1: longer than {LINE_MAX_BYTES} bytes; skipped",)
    assert orjson.loads(read.detail) == {"size": SPARSE_BYTES + len(good) + 2, "lines": 2}


@pytest.mark.parametrize("kind", ["adjacency", "feedback"])
def test_a_huge_table_fails_its_user_without_being_held(
    tmp_path: Path, catalog: Catalog, kind: str
) -> None:
    sparse(tmp_path / f"u-spinner-cie3-{kind}.csv")
    (files,) = scan_legacy(tmp_path).users

    tracemalloc.start()
    try:
        with pytest.raises(LegacyFileError, match=f"line 1: longer than {LINE_MAX_BYTES} bytes"):
            read_legacy_user(files, catalog, first_seq=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < PEAK_MAX_BYTES


def test_a_matrix_counting_more_than_a_student_can_send_fails_its_user(
    tmp_path: Path, catalog: Catalog
) -> None:
    (tmp_path / "u-spinner-cie3-feedback.csv").write_text(",UI\nCurious,1e12\n")
    (files,) = scan_legacy(tmp_path).users

    with pytest.raises(LegacyFileError, match="more than 100000 feedback entries"):
        read_legacy_user(files, catalog, first_seq=1)
