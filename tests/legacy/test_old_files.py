"""Directories written by the old service's own pandas calls import to its answers.

The fixtures are written by ``tests.legacy.old_service`` (the old code's
calls); what the old service would answer is taken from the golden cases
(``adjacency_batches``: the matrix after each conversion) and the golden
README's formulas (enjoyment, edges; exploration through the cell-by-cell
transcription of ``tests.analytics.test_properties``), never from the code
under test.
"""

from __future__ import annotations

import math
import random
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli.main import main
from courses import Catalog
from legacy import read_feedback, read_legacy_user, scan_legacy
from store import DATABASE_NAME, SqliteStore
from tests.actors.conftest import client, request, running_service, service_settings
from tests.analytics.test_properties import reference_task_distance
from tests.conftest import golden
from tests.legacy.old_service import (
    STATES,
    OldService,
    feedback_frame,
    old_subjects,
    reference_course,
    reference_enjoyment,
    ui_frame,
)

BATCHES = [case for case in golden("reference_cases") if case["kind"] == "adjacency_batches"]
# Each golden case's lab, on a course of that lab (engdes1 has both).
COURSE_OF = {"spinner": "cie3", "pendulum": "engdes1"}


def write_case(old: OldService, user: str, case: dict[str, Any], course: str, *, last: bool):
    """The case's batches as the old service saw them: a conversion after each batch
    (a dashboard request), the last one only if ``last``."""
    exp = case["exp"]
    for number, batch in enumerate(case["batches"], 1):
        for event in batch:
            old.add_log(ui_frame(user, exp, course, event))
        if number < len(case["batches"]) or last:
            old.convert(user, exp, course)


def imported_record(directory: Path, catalog: Catalog, user: str) -> dict[str, Any]:
    (files,) = [files for files in scan_legacy(directory).users if files.user == user]
    result = read_legacy_user(files, catalog, first_seq=1)
    assert result.problems == ()
    (row,) = result.progress
    return row.record


def test_the_fixture_writes_the_old_services_bytes(tmp_path: Path) -> None:
    old = OldService(tmp_path)
    old.add_feedback(feedback_frame("u", "spinner", "cie3", "Curious", "UI"))
    old.add_feedback(feedback_frame("u", "spinner", "cie3", "Curious", "UI"))
    old.add_feedback(feedback_frame("u", "spinner", "cie3", "Bored", "spinner-cie3-3"))
    old.add_feedback(feedback_frame("u", "spinner", "cie3", "Sleepy", "UI"))  # KeyError: dropped

    zeros = ",".join(["0.0"] * 9)
    assert (tmp_path / "u-spinner-cie3-feedback.csv").read_text() == "\n".join(
        [
            ",Workbook,Remote work,Hardware,UI,LA,Other,spinner-cie3-1-2,spinner-cie3-3,"
            "spinner-cie3-4",
            f"Engaged,{zeros}",
            "Curious,0.0,0.0,0.0,2.0,0.0,0.0,0.0,0.0,0.0",
            f"Delighted,{zeros}",
            "Bored,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0",
            *(f"{state},{zeros}" for state in STATES[4:]),
            "",
        ]
    )

    for t, log in enumerate(["voltage", "help", "speed", "voltage"]):
        old.add_log(ui_frame("u", "spinner", "cie3", {"t": t, "hardware": "spin30", "log": log}))
    old.convert("u", "spinner", "cie3")

    adjacency = (tmp_path / "u-spinner-cie3-adjacency.csv").read_text().splitlines()
    assert (
        adjacency[0]
        == ",voltage_step,voltage_ramp,position_step,position_ramp,speed_step,speed_ramp"
    )
    assert adjacency[1] == "voltage_step,0.0,0.0,0.0,0.0,1.0,0.0"
    assert adjacency[5] == "speed_step,1.0,0.0,0.0,0.0,0.0,0.0"
    # The converted log is rewritten as its last line alone.
    (log,) = old.logs_of("u", "spinner", "cie3")
    assert log.read_text().count("\n") == 1
    assert '"log": "voltage"' in log.read_text()


@pytest.mark.parametrize("last", [False, True], ids=["last-batch-pending", "all-converted"])
@pytest.mark.parametrize("case", BATCHES, ids=[case["id"] for case in BATCHES])
def test_the_old_layout_imports_to_the_matrix_the_old_service_answered(
    tmp_path: Path, catalog: Catalog, case: dict[str, Any], last: bool
) -> None:
    write_case(OldService(tmp_path), "3f2504e0-4f89-11d3", case, COURSE_OF[case["exp"]], last=last)

    record = imported_record(tmp_path, catalog, "3f2504e0-4f89-11d3")

    assert record["matrix"] == np.asarray(case["expected"][-1]).astype(int).tolist()


def test_the_matrix_feedback_layout_imports_entry_by_entry(tmp_path: Path, catalog) -> None:
    old = OldService(tmp_path)
    sent = [("Curious", "UI")] * 3 + [("Bored", "spinner-cie3-3"), ("Engaged", "Hardware")]
    for state, subject in sent:
        old.add_feedback(feedback_frame("u", "spinner", "cie3", state, subject))
    (files,) = scan_legacy(tmp_path).users

    read = read_feedback(files.courses[0].feedback)

    assert sorted((row.state, row.subject) for row in read.rows) == sorted(sent)
    assert {(row.t, row.input, row.hardware) for row in read.rows} == {(0, None, None)}
    assert read.problems == ()


def test_bad_counts_are_problems_naming_file_row_and_column(tmp_path: Path, catalog) -> None:
    name = "u-spinner-cie3-feedback.csv"
    (tmp_path / name).write_text(
        ",UI,Hardware,Cooking\n"
        "Curious,1.5,2.0,1.0\n"
        "Bored,-1.0,x,0.0\n"
        "Engaged,1.0\n"
        "Sleepy,0.0,1.0,0.0\n"
    )

    result = read_legacy_user(scan_legacy(tmp_path).users[0], catalog, first_seq=1)

    assert [(e.payload["state"], e.payload["subject"]) for e in result.events] == [
        ("Curious", "Hardware"),
        ("Curious", "Hardware"),
        ("Curious", "Cooking"),  # not a subject of the course: stored, scores 0
        ("Sleepy", "Hardware"),  # not a state: stored, scores 0
    ]
    assert result.problems == (
        f"{name}: line 2: state 'Curious', subject 'UI': '1.5' is not a whole number; not imported",
        f"{name}: line 3: state 'Bored', subject 'UI': '-1.0' is not a finite count >= 0; "
        "not imported",
        f"{name}: line 3: state 'Bored', subject 'Hardware': 'x' is not a number; not imported",
        f"{name}: line 4: state 'Engaged' has 1 count(s), the header names 3 subjects; "
        "row not imported",
    )
    (row,) = result.progress
    # The tally holds what scores only: bounded by the course (issue 12, finding 4).
    assert sorted(map(tuple, row.record["feedback"])) == [("Curious", "Hardware", 2)]


# --- A whole cohort, end to end ------------------------------------------------------


def old_answers(case: dict[str, Any], course: str, feedback: list[tuple[str, str]]) -> dict:
    """What the old service answered: the golden matrix, and the README's indicators."""
    figures = reference_course(case["exp"], course)
    matrix = np.asarray(case["expected"][-1], dtype=float)
    full = np.asarray(figures["comparison_graphs"][figures["full_task"]], dtype=float)
    nodes = figures["nodes"]
    return {
        "edges": {
            (nodes[i], nodes[j]): matrix[i, j] for i, j in zip(*np.nonzero(matrix), strict=True)
        },
        "indicators": {
            "exploration": reference_task_distance(
                matrix, full, a=0, b=10, loop_factor=2, upper_max=2, lower_max=-1
            ),
            "enjoyment": reference_enjoyment(feedback, case["exp"], course),
            "edges": 100 * matrix.sum() / full.sum(),
        },
    }


def write_cohort(directory: Path) -> dict[tuple[str, str, str], dict]:
    """One student per golden batch case (both spinner courses), with feedback."""
    old, rng, expected = OldService(directory), random.Random(13), {}
    for number, case in enumerate(BATCHES):
        exp = case["exp"]
        course = "engdes1" if exp == "pendulum" or number % 2 else "cie3"
        user = f"5e1d{number:04d}-0c4b-4b1e-9a57-{number:012d}"
        write_case(old, user, case, course, last=False)
        subjects = [*old_subjects(course), *reference_course(exp, course)["feedback_task_subjects"]]
        kept = []
        for _ in range(rng.randrange(12)):
            state, subject = rng.choice([*STATES, "Sleepy"]), rng.choice([*subjects, "Cooking"])
            old.add_feedback(feedback_frame(user, exp, course, state, subject))
            if state in STATES and subject in old_subjects(course):  # else the old one dropped it
                kept.append((state, subject))
        expected[user, exp, course] = old_answers(case, course, kept)
    return expected


def records(data: Path) -> dict[str, Any]:
    """Every user's stored state and the events count."""
    with closing(sqlite3.connect(data / DATABASE_NAME)) as db:
        users = {row[0] for row in db.execute("SELECT user FROM progress")}
    with SqliteStore(data) as store:
        return {user: store.load_user(user) for user in users} | {"": store.count_events()}


async def test_a_cohort_imports_whole_and_is_answered_as_the_old_service_did(
    tmp_path: Path, capsys
) -> None:
    old_dir, data = tmp_path / "old", tmp_path / "store"
    old_dir.mkdir()
    expected = write_cohort(old_dir)

    assert main(["import-legacy", str(old_dir), "--data", str(data)]) == 0
    report = capsys.readouterr().out
    assert f"imported: {len(expected)} user(s)" in report
    assert "failed: 0 user(s)" in report
    assert "problems: 0 line(s)" in report

    async with running_service(service_settings(data)) as service, client(service) as dashboard:
        for (user, exp, course), answers in expected.items():
            graph, indicators = [
                (await dashboard.ask(request(user, content, exp=exp, course=course), 1))[0]
                for content in ("student_graph", "indicators")
            ]
            assert {(e["from"], e["to"]): e["width"] for e in graph["edges"]} == answers["edges"]
            got, want = indicators["indicators"], answers["indicators"]
            assert got["enjoyment"] == want["enjoyment"], user
            assert got["edges"] == pytest.approx(want["edges"], rel=1e-9)
            if math.isnan(want["exploration"]):
                assert got["exploration"] is None
            else:
                assert math.isclose(got["exploration"], want["exploration"], rel_tol=1e-9)

    # (The service may re-save imported snapshots in its own form: compare after it ran.)
    first = records(data)
    assert main(["import-legacy", str(old_dir), "--data", str(data)]) == 0
    assert f"{len(expected)} already imported" in capsys.readouterr().out
    assert records(data) == first
