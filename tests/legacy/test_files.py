"""Finding legacy files: names split from the right, grouping, what is ignored."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy import FileKind, LegacyFileError, has_legacy_files, parse_legacy_name, scan_legacy
from tests.legacy.conftest import DAVE_LOG, Legacy
from tests.legacy.legacy_data import UUID_USER, log_name


def test_scan_groups_per_user_and_course(legacy: Legacy) -> None:
    index = scan_legacy(legacy.directory)

    assert [user.user for user in index.users] == sorted(
        ["alice", "bob", "carol", "dave", UUID_USER]
    )
    by_user = {user.user: user for user in index.users}
    engdes1 = by_user[UUID_USER].courses
    assert [(c.exp, c.course) for c in engdes1] == [("spinner", "engdes1")]
    assert [f.hardware for f in engdes1[0].logs] == ["spin01", "spin02"]
    assert all(f.user == UUID_USER for f in engdes1[0].logs)
    (bob,) = by_user["bob"].courses
    assert bob.adjacency is not None
    assert bob.adjacency.kind is FileKind.ADJACENCY
    assert bob.feedback is not None
    assert bob.feedback.name == "bob-pendulum-engdes1-feedback.csv"
    assert [f.name for f in bob.logs] == [log_name("bob", "pend1", "pendulum", "engdes1")]
    assert [(c.exp, c.course) for c in by_user["carol"].courses] == [
        ("spinner", "cie3"),
        ("spinner", "cie9"),
    ]
    assert [f.name for f in by_user["dave"].files] == [DAVE_LOG]


def test_scan_ignores_other_files_and_says_why(legacy: Legacy) -> None:
    index = scan_legacy(legacy.directory)

    names = {f.name for user in index.users for f in user.files}
    assert not any(name.startswith(("analytics.sqlite3", "notes")) for name in names)
    ignored = {entry.split(":")[0]: entry for entry in index.ignored}
    assert set(ignored) == {"spinner-cie3.json", "summary.csv"}
    assert "{user}-{hardware}-{exp}-{course}.json" in ignored["spinner-cie3.json"]


def test_scan_refuses_a_directory_it_cannot_list(tmp_path: Path) -> None:
    with pytest.raises(LegacyFileError, match="cannot list"):
        scan_legacy(tmp_path / "missing")


def test_has_legacy_files(tmp_path: Path) -> None:
    assert not has_legacy_files(tmp_path / "missing")
    (tmp_path / "analytics.sqlite3").write_bytes(b"")
    (tmp_path / "odd.json").write_text("{}")
    assert not has_legacy_files(tmp_path)
    (tmp_path / "u-spinner-cie3-feedback.csv").write_text("state,subject\n")
    assert has_legacy_files(tmp_path)


def test_ids_in_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not valid"):
        parse_legacy_name(tmp_path / f"{'u' * 200}-spin30-spinner-cie3.json")
    with pytest.raises(ValueError, match="adjacency"):
        parse_legacy_name(tmp_path / "spinner-cie3-adjacency.csv")
    assert parse_legacy_name(tmp_path / "analytics.sqlite3") is None


def test_an_empty_course_is_a_course(tmp_path: Path) -> None:
    file = parse_legacy_name(tmp_path / "u-1-spin30-spinner-.json")
    assert file is not None
    assert (file.user, file.hardware, file.exp, file.course) == ("u-1", "spin30", "spinner", "")


NAME_PART = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
USER = st.lists(NAME_PART, min_size=1, max_size=6).map("-".join)


@given(user=USER, hardware=NAME_PART, exp=NAME_PART, course=NAME_PART)
def test_names_split_from_the_right(user: str, hardware: str, exp: str, course: str) -> None:
    log = parse_legacy_name(Path(log_name(user, hardware, exp, course)))
    assert log is not None
    assert (log.kind, log.user, log.hardware, log.exp, log.course) == (
        FileKind.LOG,
        user,
        hardware,
        exp,
        course,
    )
    for kind in (FileKind.ADJACENCY, FileKind.FEEDBACK):
        csv_file = parse_legacy_name(Path(f"{user}-{exp}-{course}-{kind}.csv"))
        assert csv_file is not None
        assert (csv_file.kind, csv_file.user, csv_file.exp, csv_file.course) == (
            kind,
            user,
            exp,
            course,
        )
