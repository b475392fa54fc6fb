"""``forget`` and ``export-user`` from the command line, against stores a real service wrote.

The service runs on loopback (real sockets); its replies before the forget
are the reference for the other users' replies after it. The analytics of an
export are checked against the golden v2 replies, made by a reference
independent of the project.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from analytics.progress import StudentProgress
from cli.main import main
from courses import bundled_catalog
from messages import decode_identity
from store import DATABASE_NAME, EventRow, ProgressRow, SqliteStore
from tests.actors.conftest import client, event, request, running_service, service_settings
from tests.analytics.test_golden import close
from tests.conftest import golden

ANA = "a1b2c3d4-ana-0001"
BOB = "e5f6a7b8-bob-0002"
GRAPH = "spinner-cie3-3"


def run(argv: list[str], capsys) -> tuple[int, str, list[dict[str, Any]]]:
    """``main(argv)``: exit code, stdout, and the log lines (JSON on stderr)."""
    try:
        code = main(argv)
    finally:
        logging.getLogger().handlers.clear()
    captured = capsys.readouterr()
    logs = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    return code, captured.out, logs


def feedback(user: str, t: int) -> dict[str, Any]:
    frame = event(user, "", t)
    frame["type"] = "feedback"
    frame["payload"] = {"state": "Frustrated", "subject": "task", "input": "stuck"}
    return frame


async def _session(ws, user: str, logs: list[str]) -> list[dict[str, Any]]:
    for t, log in enumerate(logs):
        await ws.send(event(user, log, t))
    await ws.send(feedback(user, len(logs)))
    return await ws.ask(request(user, "all_feedback", graph=GRAPH), 5)


def rows_of(data: Path, user: str) -> dict[str, int]:
    """How many rows of each table name ``user``, with plain SQL."""
    with sqlite3.connect(data / DATABASE_NAME) as db:
        return {
            "events": db.execute("SELECT count(*) FROM events WHERE user = ?", (user,)).fetchone()[
                0
            ],
            "progress": db.execute(
                "SELECT count(*) FROM progress WHERE user = ?", (user,)
            ).fetchone()[0],
            "imports": db.execute(
                "SELECT count(*) FROM imports WHERE source LIKE ?", (user + "%",)
            ).fetchone()[0],
        }


def without_ids(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in reply.items() if k != "user"} for reply in replies]


async def test_forget_erases_a_user_and_leaves_the_others_as_they_were(tmp_path, capsys):
    data = tmp_path / "data"
    settings = service_settings(data, flush_interval_s=0.01, snapshot_interval_s=0.01)
    async with running_service(settings) as service, client(service) as ws:
        await _session(ws, ANA, ["voltage", "speed", "position", "speed"])
        bob_before = await _session(ws, BOB, ["speed", "voltage", "speed"])
        fresh_before = await ws.ask(request("never-seen", "all_feedback", graph=GRAPH), 5)
        await trio.sleep(0.1)  # a snapshot window
    assert rows_of(data, ANA)["progress"] == 1  # the snapshot is there to be erased

    code, _, _ = run(["backup", str(tmp_path / "before.sqlite3"), "--data", str(data)], capsys)
    assert code == 0
    code, out, logs = run(["forget", ANA, "--data", str(data)], capsys)
    assert code == 0
    report = json.loads(out)
    assert (report["events"], report["progress_rows"]) == (5, 1)
    assert report["events_by_type"] == {"analytics": 4, "feedback": 1}
    assert [(b["path"], b["exists"]) for b in report["backups"]] == [
        (str(tmp_path / "before.sqlite3"), True)
    ]
    [audit] = [line for line in logs if line["event"] == "audit.forget"]
    assert (audit["user"], audit["outcome"], audit["events"]) == (ANA, "done", 5)
    assert audit["who"].startswith("cli:")
    assert rows_of(data, ANA) == {"events": 0, "progress": 0, "imports": 0}

    async with running_service(settings) as service, client(service) as ws:
        ana_after = await ws.ask(request(ANA, "all_feedback", graph=GRAPH), 5)
        bob_after = await ws.ask(request(BOB, "all_feedback", graph=GRAPH), 5)
    assert without_ids(bob_after) == without_ids(bob_before)
    assert without_ids(ana_after) == without_ids(fresh_before)  # as if she never came
    assert BOB.encode() in (data / DATABASE_NAME).read_bytes()
    assert ANA.encode() not in (data / DATABASE_NAME).read_bytes()


async def test_forget_refuses_while_the_service_runs(tmp_path, capsys):
    data = tmp_path / "data"
    async with running_service(service_settings(data)) as service, client(service) as ws:
        await ws.send(event(ANA, "speed", 1))
        code, out, logs = run(["forget", ANA, "--data", str(data)], capsys)
    assert code == 1
    assert out == ""
    [audit] = [line for line in logs if line["event"] == "audit.forget"]
    assert audit["outcome"] == "failed"
    assert rows_of(data, ANA)["events"] == 1


async def test_export_user_holds_exactly_the_users_events_while_the_service_runs(tmp_path, capsys):
    data = tmp_path / "data"
    sent = {ANA: ["voltage", "speed", "position"], BOB: ["speed", "brake"]}
    destination = tmp_path / "ana.jsonl"
    settings = service_settings(data, flush_interval_s=0.01)
    async with running_service(settings) as service, client(service) as ws:
        for user, logs in sent.items():
            await _session(ws, user, logs)
        await trio.sleep(0.1)  # a commit window
        code, out, logs = run(["export-user", ANA, str(destination), "--data", str(data)], capsys)
    assert code == 0
    lines = [json.loads(line) for line in destination.read_text().splitlines()]
    kinds = [line["record"] for line in lines]
    assert kinds == ["subject"] + ["event"] * 4 + ["analytics"]
    events = [line for line in lines if line["record"] == "event"]
    assert [e["payload"].get("log") for e in events[:3]] == sent[ANA]
    assert [(e["type"], e["t"], e["hardware"]) for e in events] == [
        ("analytics", 0, "spin30"),
        ("analytics", 1, "spin30"),
        ("analytics", 2, "spin30"),
        ("feedback", 3, "spin30"),
    ]
    assert events[3]["payload"] == {"state": "Frustrated", "subject": "task", "input": "stuck"}
    assert BOB not in destination.read_text()
    assert json.loads(out)["events"] == 4
    [audit] = [line for line in logs if line["event"] == "audit.export_user"]
    assert (audit["user"], audit["events"], audit["file"]) == (ANA, 4, str(destination))
    graph = lines[-1]["replies"]["studentGraph"]
    assert {edge["id"]: edge["weight"] for edge in graph["edges"]} == {
        "voltage_step->speed_step": 1,  # the spinner-cie3 course's nodes for these commands
        "speed_step->position_step": 1,
    }


def test_export_user_refuses_an_existing_file(tmp_path, capsys):
    data = tmp_path / "data"
    with SqliteStore(data):
        pass
    destination = tmp_path / "out.jsonl"
    destination.write_text("keep me")
    code, _, _ = run(["export-user", ANA, str(destination), "--data", str(data)], capsys)
    assert code == 1
    assert destination.read_text() == "keep me"


SESSIONS = [s for s in golden("v2_sessions") if s["username"] != "null"][:6]
ENDPOINTS = ("studentGraph", "taskCompletion", "otherIndicators", "taskExploration", "usageStats")


@pytest.mark.parametrize("snapshot_after", [None, 3])
def test_export_user_analytics_equal_the_reference(tmp_path, capsys, snapshot_after):
    """Golden v2 students stored as a service stores statements; replies from the export.

    With ``snapshot_after``, each student's state after that many statements
    is a stored snapshot (made by the analytics, as a session makes one) and
    the rest its tail: the export must load them as a session would.
    """
    data = tmp_path / "data"
    catalog = bundled_catalog()
    rows, snapshots = [], []
    for session in SESSIONS:
        identity = decode_identity(
            f"username={session['username']}&course={session['course']}&hardware={session['hardware']}"
        )
        progress = StudentProgress(identity.username, catalog)
        for number, statement in enumerate(session["statements"], start=1):
            seq = len(rows) + 1
            rows.append(
                EventRow(
                    seq, identity.username, "statement", identity.hardware, identity.course,
                    None, statement["timestamp"], seq, statement,
                )
            )  # fmt: skip
            if snapshot_after is not None and number <= snapshot_after:
                progress.replay(rows[-1])
                if number == snapshot_after:
                    [(key, state)] = progress.courses.items()
                    snapshots.append(ProgressRow(identity.username, *key, seq, state.to_record()))
    assert len(snapshots) == (0 if snapshot_after is None else len(SESSIONS))
    with SqliteStore(data) as store:
        store.write_batch(rows, snapshots)
    for session in SESSIONS:
        destination = tmp_path / f"{session['name']}.jsonl"
        code, _, _ = run(
            ["export-user", session["username"], str(destination), "--data", str(data)], capsys
        )
        assert code == 0
        lines = [orjson.loads(line) for line in destination.read_bytes().splitlines()]
        events = [line for line in lines if line["record"] == "event"]
        assert [e["payload"] for e in events] == session["statements"]
        [analytics] = [line for line in lines if line["record"] == "analytics"]
        for endpoint in ENDPOINTS:
            actual, expected = analytics["replies"][endpoint], session["expected"][endpoint]
            if endpoint == "studentGraph":
                actual = {**actual, "edges": sorted(actual["edges"], key=lambda e: e["id"])}
                expected = {**expected, "edges": sorted(expected["edges"], key=lambda e: e["id"])}
            assert close(actual, expected), (session["name"], endpoint)
