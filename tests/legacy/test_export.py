"""``export-legacy``: the old layout again; import -> export -> import answers the same."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli.main import main
from courses import Catalog
from legacy import import_directory
from legacy.export import OLD_STATES, LegacyExportError, export_legacy
from store import DATABASE_NAME, EventRow, SqliteStore
from tests.actors.conftest import client, event, request, running_service, service_settings
from tests.legacy.conftest import Legacy
from tests.legacy.test_old_files import write_cohort

# Users written by the service itself: their state is snapshot + a replayed tail.
LIVE = [
    # no snapshot at all, one hardware and none: the pending file named "unknown"
    ("live-1", [("voltage", "spin30"), ("help", None), ("speed", "spin30"), ("position", None)]),
    # ends with fewer than two commands pending, across two hardware
    ("live-2", [("voltage", "spin30"), ("camera", "spin31")]),
    # a hardware really named "unknown" beside events without one, all pending
    ("live-3", [("help", "unknown"), ("camera", None), ("voltage", None)]),
]


def write_live_users(data: Path) -> None:
    with SqliteStore(data) as store:
        seq, rows = store.max_seq(), []
        for user, events in LIVE:
            for t, (log, hardware) in enumerate(events, start=1):
                seq += 1
                payload = {"log": log}
                rows.append(
                    EventRow(seq, user, "analytics", "spinner", "cie3", hardware, t, t, payload)
                )
            seq += 1
            rows.append(
                EventRow(
                    seq,
                    user,
                    "feedback",
                    "spinner",
                    "cie3",
                    None,
                    9,
                    9,
                    {"state": "Bored", "subject": "LA"},
                )
            )
        rows.append(
            EventRow(
                seq + 1, "a/b", "analytics", "spinner", "cie3", "spin30", 1, 1, {"log": "speed"}
            )
        )
        store.write_batch(rows, [])


def questions(catalog: Catalog, data: Path) -> list[dict[str, Any]]:
    """Every request a dashboard can make, for every user and course in the store."""
    with closing(sqlite3.connect(data / DATABASE_NAME)) as db:
        pairs = sorted(db.execute("SELECT DISTINCT user, exp, course FROM events"))
    asked = []
    for user, exp, course in pairs:
        defined = catalog.course(exp, course)
        graph = defined.graph_name(next(iter(defined.tasks))) if defined else "spinner-cie3-3"
        asked += [
            request(user, "all_feedback", exp=exp, course=course, graph=graph),
            request(user, "task_feedback", exp=exp, course=course, task=graph),
        ]
    return asked


async def answers(data: Path, asked: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The replies to ``asked``; then, after one more command per user and course (which
    meets what was pending), the student graphs again."""
    async with running_service(service_settings(data)) as service, client(service) as dashboard:
        replies = [
            await dashboard.ask(frame, 5 if frame["payload"]["content"] == "all_feedback" else 1)
            for frame in asked
        ]
        for frame in asked[::2]:
            user, exp, course = frame["user"], frame["exp"], frame["course"]
            log = "start" if exp == "pendulum" else "voltage"
            await dashboard.send(event(user, log, 2_000_000_000_000, exp=exp, course=course))
            replies.append(
                await dashboard.ask(request(user, "student_graph", exp=exp, course=course), 1)
            )
        return replies


async def test_import_export_import_gives_every_user_the_same_replies(
    legacy: Legacy, catalog: Catalog, tmp_path: Path, capsys
) -> None:
    write_cohort(legacy.directory)
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "out"
    assert main(["import-legacy", str(legacy.directory), "--data", str(first)]) == 0
    write_live_users(first)
    asked = questions(catalog, first)
    capsys.readouterr()

    async with running_service(service_settings(first)):  # the export runs beside it
        assert main(["export-legacy", str(out), "--data", str(first)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["import-legacy", str(out), "--data", str(second)]) == 0

    assert report["skipped"] == [
        "a/b: its id cannot be part of a file name (a/b-spinner-cie3-adjacency.csv); not exported"
    ]
    assert report["problems"] == []
    exported = [frame for frame in asked if frame["user"] != "a/b"]
    assert len(exported) == 2 * (6 + 14 + 3)  # (user, course) of the scenario, cohort, live
    assert await answers(second, exported) == await answers(first, exported)
    assert sorted(p.name for p in out.iterdir() if "unknown" in p.name) == [
        "live-1-unknown-spinner-cie3.json",
        "live-3-unknown-spinner-cie3.json",
        "live-3-unknown2-spinner-cie3.json",
    ]


def test_the_files_are_the_old_services_layout(
    legacy: Legacy, catalog: Catalog, tmp_path: Path
) -> None:
    with SqliteStore(tmp_path / "data") as store:
        import_directory(legacy.directory, store, catalog)

    export_legacy(tmp_path / "data", tmp_path / "out", catalog)

    adjacency = pd.read_csv(tmp_path / "out" / "bob-pendulum-engdes1-adjacency.csv", index_col=0)
    course = catalog.course("pendulum", "engdes1")
    assert list(adjacency.columns) == list(adjacency.index) == list(course.nodes)
    assert adjacency.dtypes.unique().tolist() == [np.float64]
    feedback = pd.read_csv(tmp_path / "out" / "bob-pendulum-engdes1-feedback.csv", index_col=0)
    assert list(feedback.index[:8]) == list(OLD_STATES)
    assert list(feedback.columns[:6]) == [
        "Workbook",
        "Remote work",
        "Hardware",
        "UI",
        "LA",
        "Other",
    ]
    assert feedback.loc["Curious", "Hardware"] == 1.0
    # As the old service wrote them: only its eight states and the course's subjects
    # (it dropped the others: KeyError); the stored events keep every entry.
    assert list(feedback.index) == list(OLD_STATES)
    scoring = [
        entry
        for entry in legacy.feedback["bob", "pendulum", "engdes1"]
        if entry["state"] in OLD_STATES and entry["subject"] in course.feedback_subjects
    ]
    assert len(scoring) < len(legacy.feedback["bob", "pendulum", "engdes1"])
    assert feedback.to_numpy().sum() == len(scoring)
    carol = (tmp_path / "out" / "carol-spin30-spinner-cie9.json").read_text().splitlines()
    assert len(carol) == len(legacy.frames["carol", "spinner", "cie9"])  # no matrix: every frame


def test_the_target_must_be_new_or_empty_unless_forced(legacy: Legacy, catalog, tmp_path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    with SqliteStore(data) as store:
        import_directory(legacy.directory, store, catalog)
    out.mkdir()
    export_legacy(data, out, catalog)  # empty: fine
    stale = out / "alice-spinner-cie3-adjacency.csv"
    stale.write_text("stale")
    (out / "notes.txt").write_text("mine")

    with pytest.raises(LegacyExportError, match="not empty"):
        export_legacy(data, out, catalog)
    assert stale.read_text() == "stale"
    export_legacy(data, out, catalog, force=True)
    assert stale.read_text() != "stale"
    assert (out / "notes.txt").read_text() == "mine"  # --force replaces, never deletes
    with pytest.raises(LegacyExportError, match="store's own directory"):
        export_legacy(data, data, catalog, force=True)
    with pytest.raises(LegacyExportError, match="no store"):
        export_legacy(tmp_path / "nothing", tmp_path / "out2", catalog)
    assert not (tmp_path / "out2").exists()
