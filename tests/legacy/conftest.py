"""A legacy data directory written into ``tmp_path``, and what the tests expect of it."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from analytics import TransitionCounter, enjoyment
from analytics.course_view import CourseView
from analytics.progress import CourseProgress
from courses import Catalog, Course, bundled_catalog
from tests.legacy.legacy_data import (
    UUID_USER,
    frame,
    log_name,
    random_frames,
    write_csv,
    write_log,
    write_matrix_csv,
)

FEEDBACK_HEADER = ["", "state", "subject", "t", "input", "comment"]


@attrs.define
class Legacy:
    """The directory and, per (user, exp, course), what was written in file order."""

    directory: Path
    frames: dict[tuple[str, str, str], list[dict[str, Any]]] = attrs.Factory(dict)
    adjacency: dict[tuple[str, str, str], np.ndarray] = attrs.Factory(dict)
    feedback: dict[tuple[str, str, str], list[dict[str, Any]]] = attrs.Factory(dict)

    @property
    def users(self) -> list[str]:
        return sorted({key[0] for key in self.frames} | {key[0] for key in self.feedback})


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return bundled_catalog()


def write_scenario(directory: Path, catalog: Catalog) -> Legacy:
    """The users of the brief, one per case; see each block."""
    rng = random.Random(20230109)
    legacy = Legacy(directory)

    # alice, spinner cie3, one hardware, timestamps out of order on purpose.
    frames = random_frames(
        rng, "alice", 60, hardware="spin30", exp="spinner", course="cie3", shuffle_t=True
    )
    write_log(directory, log_name("alice", "spin30", "spinner", "cie3"), frames)
    legacy.frames["alice", "spinner", "cie3"] = frames

    # A UUID user on spinner engdes1, two hardware files with interleaved, distinct t.
    first = random_frames(
        rng, UUID_USER, 40, hardware="spin01", exp="spinner", course="engdes1", step=2
    )
    second = random_frames(
        rng,
        UUID_USER,
        40,
        hardware="spin02",
        exp="spinner",
        course="engdes1",
        step=2,
        t0=1_673_262_940_001,
    )
    write_log(directory, log_name(UUID_USER, "spin01", "spinner", "engdes1"), first)
    write_log(directory, log_name(UUID_USER, "spin02", "spinner", "engdes1"), second)
    legacy.frames[UUID_USER, "spinner", "engdes1"] = first + second

    # bob, pendulum engdes1: adjacency CSV, a log, and feedback.
    course = catalog.course("pendulum", "engdes1")
    assert course is not None
    matrix = np.array(
        [[rng.randrange(4) for _ in course.nodes] for _ in course.nodes], dtype=np.int64
    )
    write_matrix_csv(directory, "bob-pendulum-engdes1-adjacency.csv", course.nodes, matrix)
    legacy.adjacency["bob", "pendulum", "engdes1"] = matrix
    frames = random_frames(rng, "bob", 50, hardware="pend1", exp="pendulum", course="engdes1")
    write_log(directory, log_name("bob", "pend1", "pendulum", "engdes1"), frames)
    legacy.frames["bob", "pendulum", "engdes1"] = frames
    rows = [
        {"state": "Curious", "subject": "Hardware", "t": 1_673_262_950_000},
        {"state": "Bored", "subject": "UI", "t": 1_673_262_950_001},
        {"state": "Engaged", "subject": "Other", "t": 1_673_262_950_002, "input": "fun, really"},
        {"state": "Delighted", "subject": "pendulum-engdes1-2", "t": 1_673_262_950_003},
        {"state": "Sleepy", "subject": "Hardware", "t": 1_673_262_950_004},
        {"state": "Frustrated", "subject": "Cooking", "t": 1_673_262_950_005},
        {"state": "Anxious", "subject": "Workbook", "t": 1_673_262_950_006},
    ]
    write_csv(
        directory,
        "bob-pendulum-engdes1-feedback.csv",
        FEEDBACK_HEADER,
        [
            [i, row["state"], row["subject"], row["t"], row.get("input", ""), "x"]
            for i, row in enumerate(rows)
        ],
    )
    legacy.feedback["bob", "pendulum", "engdes1"] = rows

    # carol: a course nobody defines (and a known one).
    frames = random_frames(rng, "carol", 10, hardware="spin30", exp="spinner", course="cie9")
    write_log(directory, log_name("carol", "spin30", "spinner", "cie9"), frames)
    legacy.frames["carol", "spinner", "cie9"] = frames
    frames = random_frames(rng, "carol", 10, hardware="spin30", exp="spinner", course="cie3")
    write_log(directory, log_name("carol", "spin30", "spinner", "cie3"), frames)
    legacy.frames["carol", "spinner", "cie3"] = frames

    write_broken_log(directory, legacy)

    # Files that are not legacy files, or not quite.
    (directory / "analytics.sqlite3-journal").write_bytes(b"")
    (directory / "notes.txt").write_text("not a legacy file\n")
    (directory / "spinner-cie3.json").write_text("{}\n")
    (directory / "summary.csv").write_text("a,b\n")
    return legacy


DAVE_LOG = log_name("dave", "spin31", "spinner", "cie3")
# Line numbers of DAVE_LOG that are problems, and a word each problem line must hold.
DAVE_PROBLEMS = {
    3: "not JSON",
    4: "not a JSON object",
    5: "$.t",
    6: "user",
    8: "request",
    10: "$.payload.log",
    11: "not JSON",
    13: "course",
}


def write_broken_log(directory: Path, legacy: Legacy) -> None:
    """dave, spinner cie3: good lines among unreadable ones (numbers in DAVE_PROBLEMS)."""
    t = 1_673_262_960_000
    spinner = {"exp": "spinner", "course": "cie3", "hardware": "spin31"}
    good = [
        frame("dave", t + i, log, **spinner)
        for i, log in enumerate(["voltage", "speed", "position", "voltage_ramp"])
    ]
    no_t = frame("dave", t, "voltage", **spinner)
    del no_t["t"]
    no_log = frame("dave", t, "voltage", **spinner)
    del no_log["payload"]["log"]
    request = {
        "user": "dave",
        "type": "request",
        "exp": "spinner",
        "course": "cie3",
        "payload": {"content": "indicators"},
    }
    flat = {"t": t + 10, "hardware": "spin31", "log": "speed", "data": 3, "extra": "kept"}
    feedback = frame("dave", t + 12, "", kind="feedback", **spinner)
    feedback["payload"] = {"state": "Curious", "subject": "UI"}
    filled = frame("dave", t + 13, "position_ramp", **spinner)
    filled["user"] = None
    del filled["hardware"], filled["exp"]
    lines: list[Any] = [
        good[0],
        good[1],
        "{not json",
        "[1, 2]",
        no_t,
        frame("mallory", t, "voltage", **spinner),
        "",
        request,
        flat,
        no_log,
        b"\xff\xfe{}",
        good[2],
        frame("dave", t, "voltage", **{**spinner, "course": "engdes1"}),
        feedback,
        filled,
        good[3],
    ]
    write_log(directory, DAVE_LOG, lines)
    flat_frame = {
        "user": "dave",
        "t": t + 10,
        "type": "analytics",
        **spinner,
        "payload": {"log": "speed", "data": 3, "extra": "kept"},
    }
    filled_frame = frame("dave", t + 13, "position_ramp", **spinner)
    legacy.frames["dave", "spinner", "cie3"] = [
        good[0],
        good[1],
        flat_frame,
        good[2],
        feedback,
        filled_frame,
        good[3],
    ]


@pytest.fixture
def legacy(tmp_path: Path, catalog: Catalog) -> Legacy:
    return write_scenario(tmp_path, catalog)


# --- Independent expectations --------------------------------------------------------


def ui_events(frames: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The analytics frames as the conversion sees them (``log`` frames never count)."""
    return [
        {"t": f["t"], "hardware": f["hardware"], "log": f["payload"]["log"]}
        for f in frames
        if f["type"] == "analytics"
    ]


def reference_matrix(course: Course, events: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """golden README, ``adjacency``: written out again, without ``TransitionCounter``."""
    if len({e["hardware"] for e in events}) > 1:
        events = sorted(events, key=lambda e: e["t"])
    index = {node: i for i, node in enumerate(course.nodes)}
    commands = [index[course.command_of[e["log"]]] for e in events if e["log"] in course.command_of]
    matrix = np.zeros((len(course.nodes),) * 2, dtype=np.int64)
    for p, q in pairwise(commands):
        matrix[p, q] += 1
    return matrix


def expected_counter(
    course: Course, frames: Sequence[Mapping[str, Any]], adjacency: np.ndarray | None = None
) -> TransitionCounter:
    """The old service's state: the adjacency matrix plus ONE conversion of the log."""
    counter = TransitionCounter(course.nodes, course.command_of)
    if adjacency is not None:
        counter.restore(adjacency, ())
    counter.convert(ui_events(frames))
    return counter


def expected_enjoyment(course: Course, rows: Sequence[Mapping[str, Any]]) -> int:
    return enjoyment(rows, course.feedback_subjects)


def record_enjoyment(course: Course, record: Mapping[str, Any]) -> int:
    """The enjoyment a dashboard would be answered from this progress record."""
    return CourseView(course).enjoyment(CourseProgress.from_record(course, record).snapshot())
