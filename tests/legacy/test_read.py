"""``read_legacy_user``: events and progress rebuilt from one user's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from courses import Catalog, Course
from legacy import (
    ImportedUser,
    LegacyFileError,
    UserFiles,
    read_legacy_user,
    scan_legacy,
)
from tests.legacy.conftest import (
    DAVE_LOG,
    DAVE_PROBLEMS,
    Legacy,
    expected_counter,
    expected_enjoyment,
    record_enjoyment,
    reference_matrix,
    ui_events,
)
from tests.legacy.legacy_data import (
    UUID_USER,
    log_name,
    write_csv,
    write_log,
    write_matrix_csv,
)

FIRST_SEQ = 101


def user_files(directory: Path, user: str) -> UserFiles:
    (files,) = [files for files in scan_legacy(directory).users if files.user == user]
    return files


def read(legacy: Legacy, catalog: Catalog, user: str) -> ImportedUser:
    return read_legacy_user(user_files(legacy.directory, user), catalog, first_seq=FIRST_SEQ)


def course_of(catalog: Catalog, exp: str, course: str) -> Course:
    found = catalog.course(exp, course)
    assert found is not None
    return found


def progress_of(result: ImportedUser, exp: str, course: str) -> dict[str, Any]:
    (row,) = [row for row in result.progress if (row.exp, row.course) == (exp, course)]
    assert row.user == result.user
    assert row.seq == FIRST_SEQ + result.seqs_used - 1
    return row.record


def assert_progress(
    record: dict[str, Any], course: Course, frames: list[dict[str, Any]], adjacency: Any = None
) -> None:
    counter = expected_counter(course, frames, adjacency)
    assert record["matrix"] == counter.matrix.tolist()
    assert record["pending"] == [list(event) for event in counter.pending]


def test_one_hardware_keeps_arrival_order(legacy: Legacy, catalog: Catalog) -> None:
    frames = legacy.frames["alice", "spinner", "cie3"]
    course = course_of(catalog, "spinner", "cie3")
    in_t_order = sorted(ui_events(frames), key=lambda e: e["t"])
    # The fixture must tell the two orders apart, or this test proves nothing.
    arrival = reference_matrix(course, ui_events(frames))
    assert not np.array_equal(arrival, reference_matrix(course, in_t_order))

    result = read(legacy, catalog, "alice")

    record = progress_of(result, "spinner", "cie3")
    assert record["matrix"] == arrival.tolist()
    assert_progress(record, course, frames)
    assert result.problems == ()


def test_two_hardware_files_are_sorted_by_t(legacy: Legacy, catalog: Catalog) -> None:
    frames = legacy.frames[UUID_USER, "spinner", "engdes1"]
    course = course_of(catalog, "spinner", "engdes1")
    by_t = sorted(ui_events(frames), key=lambda e: e["t"])
    file_order = reference_matrix(course, [{**e, "hardware": "one"} for e in ui_events(frames)])
    assert not np.array_equal(reference_matrix(course, by_t), file_order)

    result = read(legacy, catalog, UUID_USER)

    record = progress_of(result, "spinner", "engdes1")
    assert record["matrix"] == reference_matrix(course, by_t).tolist()
    assert_progress(record, course, frames)
    assert {event.user for event in result.events} == {UUID_USER}
    assert {event.hardware for event in result.events} == {"spin01", "spin02"}


def test_pendulum_adjacency_log_and_feedback(legacy: Legacy, catalog: Catalog) -> None:
    key = ("bob", "pendulum", "engdes1")
    course = course_of(catalog, "pendulum", "engdes1")

    result = read(legacy, catalog, "bob")

    record = progress_of(result, "pendulum", "engdes1")
    assert_progress(record, course, legacy.frames[key], legacy.adjacency[key])
    rows = legacy.feedback[key]
    assert record_enjoyment(course, record) == expected_enjoyment(course, rows)
    feedback = [event for event in result.events if event.type == "feedback"]
    assert [event.payload for event in feedback] == [
        {k: v for k, v in row.items() if k != "t"} for row in rows
    ]
    assert [event.t for event in feedback] == [row["t"] for row in rows]
    assert {(e.user, e.exp, e.course, e.hardware) for e in feedback} == {
        ("bob", "pendulum", "engdes1", None)
    }
    assert result.problems == ()


def test_events_are_numbered_per_course_logs_then_feedback(
    legacy: Legacy, catalog: Catalog
) -> None:
    result = read(legacy, catalog, "bob")

    assert [event.seq for event in result.events] == list(
        range(FIRST_SEQ, FIRST_SEQ + result.seqs_used)
    )
    assert (
        result.seqs_used
        == len(result.events)
        == len(legacy.frames["bob", "pendulum", "engdes1"]) + 7
    )
    types = [event.type for event in result.events]
    assert types[-7:] == ["feedback"] * 7
    stored = [
        {"t": e.t, "type": e.type, "hardware": e.hardware, "payload": e.payload}
        for e in result.events[:-7]
    ]
    assert stored == [
        {k: f[k] for k in ("t", "type", "hardware", "payload")}
        for f in legacy.frames["bob", "pendulum", "engdes1"]
    ]
    assert read(legacy, catalog, "bob") == result  # deterministic
    assert [name for name, _ in result.sources] == [
        log_name("bob", "pend1", "pendulum", "engdes1"),
        "bob-pendulum-engdes1-feedback.csv",
        "bob-pendulum-engdes1-adjacency.csv",
    ]


def test_an_unknown_course_is_stored_without_progress(legacy: Legacy, catalog: Catalog) -> None:
    result = read(legacy, catalog, "carol")

    assert [(row.exp, row.course) for row in result.progress] == [("spinner", "cie3")]
    courses = [(event.course, event.payload) for event in result.events]
    assert courses == [
        ("cie3", f["payload"]) for f in legacy.frames["carol", "spinner", "cie3"]
    ] + [("cie9", f["payload"]) for f in legacy.frames["carol", "spinner", "cie9"]]
    assert result.problems == ()


def test_unreadable_lines_are_reported_and_the_rest_imported(
    legacy: Legacy, catalog: Catalog
) -> None:
    result = read(legacy, catalog, "dave")

    problems = {int(p.split(": line ")[1].split(":")[0]): p for p in result.problems}
    assert set(problems) == set(DAVE_PROBLEMS)
    for number, word in DAVE_PROBLEMS.items():
        assert problems[number].startswith(f"{DAVE_LOG}: line {number}: ")
        assert word in problems[number]
    frames = legacy.frames["dave", "spinner", "cie3"]
    stored = [
        {
            "user": e.user,
            "t": e.t,
            "type": e.type,
            "exp": e.exp,
            "course": e.course,
            "hardware": e.hardware,
            "payload": e.payload,
        }
        for e in result.events
    ]
    assert stored == frames
    course = course_of(catalog, "spinner", "cie3")
    record = progress_of(result, "spinner", "cie3")
    assert_progress(record, course, frames)
    # A feedback frame in a log is stored, not tallied: enjoyment comes from the CSV.
    assert record["feedback"] == []


def test_adjacency_columns_are_matched_by_name(tmp_path: Path, catalog: Catalog) -> None:
    course = course_of(catalog, "spinner", "cie3")
    matrix = np.arange(36, dtype=np.int64).reshape(6, 6)
    order = [5, 3, 1, 0, 2, 4]
    shuffled = matrix[np.ix_(order, order)]
    nodes = [course.nodes[i] for i in order]
    write_matrix_csv(tmp_path, "u-spinner-cie3-adjacency.csv", nodes, shuffled.astype(float))

    result = read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)

    (row,) = result.progress
    assert row.record["matrix"] == matrix.tolist()
    assert result.seqs_used == 0
    assert row.seq == 0


@pytest.mark.parametrize(
    ("nodes", "cell", "message"),
    [
        (["voltage_step", "torque"], "1", "not nodes of course"),
        (["voltage_step"], "1.5", "whole number"),
        (["voltage_step"], "-1", ">= 0"),
    ],
)
def test_a_bad_adjacency_refuses_the_user(
    tmp_path: Path, catalog: Catalog, nodes: list[str], cell: str, message: str
) -> None:
    write_matrix_csv(
        tmp_path, "u-spinner-cie3-adjacency.csv", nodes, [[cell] * len(nodes)] * len(nodes)
    )
    write_log(tmp_path, log_name("u", "spin30", "spinner", "cie3"), [])

    with pytest.raises(LegacyFileError, match=message):
        read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)


def test_feedback_csv_is_read_leniently(tmp_path: Path, catalog: Catalog) -> None:
    course = course_of(catalog, "spinner", "cie3")
    write_csv(
        tmp_path,
        "u-spinner-cie3-feedback.csv",
        ["Subject", "extra", " State ", "input"],
        [
            ["UI", "x", "Curious", ""],
            ["Other", "", "Bored", "too slow"],
            ["Hardware"],
            ["spinner-cie3-3", "y", "Delighted", "", "surplus"],
        ],
    )
    (tmp_path / "v-spinner-cie3-feedback.csv").write_text("t,state,subject\nsoon,Bored,UI\n")

    result = read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)

    assert [event.payload for event in result.events] == [
        {"state": "Curious", "subject": "UI"},
        {"state": "Bored", "subject": "Other", "input": "too slow"},
        {"state": "Delighted", "subject": "spinner-cie3-3"},
    ]
    assert {event.t for event in result.events} == {0}
    (problem,) = result.problems
    assert problem.startswith("u-spinner-cie3-feedback.csv: line 4: ")
    (row,) = result.progress
    rows = [{"state": e.payload["state"], "subject": e.payload["subject"]} for e in result.events]
    assert record_enjoyment(course, row.record) == expected_enjoyment(course, rows) == 1

    other = read_legacy_user(user_files(tmp_path, "v"), catalog, first_seq=1)
    assert [(e.t, e.payload) for e in other.events] == [(0, {"state": "Bored", "subject": "UI"})]
    (problem,) = other.problems
    assert "stored with t = 0" in problem


def test_feedback_csv_without_state_refuses_the_user(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "u-spinner-cie3-feedback.csv").write_text("mood,subject\nBored,UI\n")

    with pytest.raises(LegacyFileError, match="'state' and 'subject'"):
        read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)


def test_flat_lines_are_accepted(tmp_path: Path, catalog: Catalog) -> None:
    name = log_name("u", "spin30", "spinner", "cie3")
    write_log(
        tmp_path,
        name,
        [
            {"t": 3, "log": "voltage"},
            {"t": 1, "hardware": "spin30", "log": "speed", "data": {"v": 2}},
            {"t": 2, "type": "log", "log": "analytics-interaction", "component": "graph"},
            {"t": 4, "type": "analytics"},
        ],
    )

    result = read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)

    assert [(e.type, e.t, e.hardware, e.payload) for e in result.events] == [
        ("analytics", 3, "spin30", {"log": "voltage"}),
        ("analytics", 1, "spin30", {"log": "speed", "data": {"v": 2}}),
        ("log", 2, "spin30", {"log": "analytics-interaction", "component": "graph"}),
    ]
    (problem,) = result.problems
    assert problem.startswith(f"{name}: line 4: no 'payload'")
    (row,) = result.progress
    course = course_of(catalog, "spinner", "cie3")
    assert (
        row.record["matrix"]
        == reference_matrix(
            course,
            [
                {"t": 3, "hardware": "x", "log": "voltage"},
                {"t": 1, "hardware": "x", "log": "speed"},
            ],
        ).tolist()
    )


def test_adjacency_of_an_unknown_course_is_reported(tmp_path: Path, catalog: Catalog) -> None:
    write_matrix_csv(tmp_path, "u-spinner-cie9-adjacency.csv", ["a", "b"], [[0, 1], [1, 0]])

    result = read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)

    assert (result.events, result.progress) == ((), ())
    (problem,) = result.problems
    assert problem.startswith("u-spinner-cie9-adjacency.csv: course spinner-cie9 is not defined")
    ((name, detail),) = result.sources
    assert name == "u-spinner-cie9-adjacency.csv"
    assert "not_imported" in detail


def test_a_bom_does_not_cost_the_first_line(tmp_path: Path, catalog: Catalog) -> None:
    name = log_name("u", "spin30", "spinner", "cie3")
    (tmp_path / name).write_bytes(
        b'\xef\xbb\xbf{"t": 1, "log": "voltage"}\r\n{"t": 2, "log": "speed"}\r\n'
    )

    result = read_legacy_user(user_files(tmp_path, "u"), catalog, first_seq=1)

    assert [e.payload["log"] for e in result.events] == ["voltage", "speed"]
    assert result.problems == ()
