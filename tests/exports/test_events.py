"""``export-events``: one row per stored event, process-mining columns, streamed from a snapshot."""

from __future__ import annotations

import csv
import json
import math
import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import trio

from cli.main import main
from courses import bundled_catalog
from exports import COLUMNS, ExportError, ExportFormat, export_events
from loadtest import LoadOptions, run_load
from store import EventRow, SqliteStore
from store.snapshot import EventFilter, StoreSnapshot
from tests.actors.conftest import client, event, running_service, service_settings, wait_until
from tests.conftest import golden

T0 = 1_673_262_940_000  # 2023-01-09T11:15:40Z
LOGS = ["voltage", "speed_ramp", "help", "position", "camera"]


def some_events(count: int, *, seed: int = 5, first_seq: int = 1) -> list[EventRow]:
    """Every kind of stored event: commands, non-commands, log and feedback frames, a
    course nobody defines, no hardware."""
    rng = random.Random(seed)
    rows = []
    for seq in range(first_seq, first_seq + count):
        user = f"u{rng.randrange(7)}"
        exp, course = rng.choice([("spinner", "cie3"), ("spinner", "engdes1"), ("spinner", "cie9")])
        hardware = rng.choice(["spin30", "spin31", None])
        t = T0 + rng.randrange(10**9)
        kind = rng.choices(["analytics", "log", "feedback"], [8, 1, 1])[0]
        payload: dict[str, Any] = {"log": rng.choice(LOGS), "data": {"v": seq, "s": 'a,"b"\n'}}
        if kind == "feedback":
            payload = {"state": "Curious", "subject": "UI", "input": "fine, thanks"}
        rows.append(EventRow(seq, user, kind, exp, course, hardware, t, t + 5, payload))
    return rows


def store_with(data: Path, events: list[EventRow]) -> list[EventRow]:
    with SqliteStore(data) as store:
        for start in range(0, len(events), 5000):
            store.write_batch(events[start : start + 5000], [])
    return events


def expected_activity(row: EventRow) -> str:
    """From the reference figures: a command's node, else the frame type."""
    if row.type != "analytics":
        return row.type
    for course in golden("courses")["courses"]:
        if (course["exp"], course["course"]) == (row.exp, row.course):
            return course["log_to_command"].get(row.payload["log"], row.type)
    return row.type


def expected_time(t_ms: int) -> str:
    seconds, ms = divmod(t_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def read_rows(path: Path, output_format: str) -> list[dict[str, Any]]:
    if output_format == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        assert tuple(next(reader)) == COLUMNS
        return [
            {**dict(zip(COLUMNS, cells, strict=True)), "payload": json.loads(cells[-1])}
            for cells in reader
        ]


def as_row(row: EventRow, output_format: str) -> dict[str, Any]:
    """What the export must hold for ``row`` (CSV cells are text, absent hardware is empty)."""
    text = output_format == "csv"
    return {
        "case:concept:name": row.user,
        "concept:name": expected_activity(row),
        "time:timestamp": expected_time(row.t),
        "exp": row.exp,
        "course": row.course,
        "hardware": (row.hardware or "") if text else row.hardware,
        "type": row.type,
        "seq": str(row.seq) if text else row.seq,
        "payload": row.payload,
    }


@pytest.mark.parametrize("output_format", ["csv", "jsonl"])
def test_one_row_per_event_with_process_mining_columns(tmp_path: Path, output_format: str) -> None:
    events = store_with(tmp_path / "data", some_events(500))
    destination = tmp_path / f"events.{output_format}"

    report = export_events(
        tmp_path / "data", destination, bundled_catalog(), output_format=ExportFormat(output_format)
    )

    rows = read_rows(destination, output_format)
    assert len(rows) == report.events == len(events) == 500
    assert rows == [as_row(row, output_format) for row in events]
    assert {row["concept:name"] for row in rows} >= {"voltage_step", "analytics", "log", "feedback"}


@pytest.mark.parametrize(
    ("courses", "since", "until"),
    [
        ((("spinner", "cie3"),), None, None),
        (((None, "engdes1"), ("spinner", "cie9")), None, None),
        ((), T0 + 3 * 10**8, None),
        ((("spinner", "cie3"),), T0 + 10**8, T0 + 5 * 10**8),
    ],
)
def test_filters_select_by_course_and_time(tmp_path: Path, courses, since, until) -> None:
    events = store_with(tmp_path / "data", some_events(400))
    where = EventFilter(courses=courses, since_ms=since, until_ms=until)

    export_events(tmp_path / "data", tmp_path / "e.csv", bundled_catalog(), where=where)

    wanted = [
        row
        for row in events
        if (not courses or any(exp in (None, row.exp) and c == row.course for exp, c in courses))
        and (since is None or row.t >= since)
        and (until is None or row.t < until)
    ]
    assert 0 < len(wanted) < len(events)
    assert read_rows(tmp_path / "e.csv", "csv") == [as_row(row, "csv") for row in wanted]


def test_rows_are_read_a_page_at_a_time(tmp_path: Path) -> None:
    store_with(tmp_path / "data", some_events(100))
    seen: list[tuple[int, int]] = []

    report = export_events(
        tmp_path / "data",
        tmp_path / "e.csv",
        bundled_catalog(),
        page_size=7,
        progress=lambda *p: seen.append(p),
    )

    assert report.pages == math.ceil(100 / 7)
    assert seen == [(min(7 * page, 100), 100) for page in range(1, report.pages + 1)]


def test_memory_stays_at_a_page_not_the_store(tmp_path: Path) -> None:
    store_with(tmp_path / "data", some_events(5_000))
    with StoreSnapshot(tmp_path / "data") as snapshot:
        tracemalloc.start()
        every_row = [row for page in snapshot.event_pages() for row in page]
        holding_all = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    del every_row

    tracemalloc.start()
    try:
        export_events(tmp_path / "data", tmp_path / "e.csv", bundled_catalog(), page_size=100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < holding_all / 10  # 5,000 rows held are ~50x a page of 100


def test_an_existing_file_is_refused_unless_forced(tmp_path: Path) -> None:
    store_with(tmp_path / "data", some_events(10))
    destination = tmp_path / "e.csv"
    destination.write_text("keep me")

    with pytest.raises(ExportError, match="already exists"):
        export_events(tmp_path / "data", destination, bundled_catalog())
    assert destination.read_text() == "keep me"

    export_events(tmp_path / "data", destination, bundled_catalog(), force=True)
    assert len(read_rows(destination, "csv")) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "e.csv"]  # no temporary left


def test_no_store_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no store"):
        export_events(tmp_path / "nothing", tmp_path / "e.csv", bundled_catalog())
    assert list(tmp_path.iterdir()) == []


def test_the_command(tmp_path: Path, capsys) -> None:
    store_with(tmp_path / "data", some_events(50))
    argv = ["export-events", str(tmp_path / "e.jsonl"), "--data", str(tmp_path / "data")]

    assert (
        main([*argv, "--format", "jsonl", "--course", "spinner-cie3", "--since", "2023-01-09"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == len(read_rows(tmp_path / "e.jsonl", "jsonl")) > 0

    assert main(argv) == 1
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--since", "soon"])
    assert stopped.value.code == 2


async def test_a_consistent_snapshot_while_the_service_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_service(service_settings(data)) as service, client(service) as ui:
        for t in range(300):
            await ui.send(event("u1", ("voltage", "speed", "help")[t % 3], t))
        await wait_until(lambda: service.writer.committed_seq >= 300)
        done, sent = trio.Event(), 300

        async def keep_sending() -> None:
            nonlocal sent
            while not done.is_set():
                await ui.send(event("u1", "voltage", sent))
                sent += 1
                await trio.sleep(0.001)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_sending)
            report = await trio.to_thread.run_sync(
                lambda: export_events(data, tmp_path / "e.csv", bundled_catalog(), page_size=50)
            )
            done.set()

    rows = read_rows(tmp_path / "e.csv", "csv")
    assert [int(row["seq"]) for row in rows] == list(range(1, report.max_seq + 1))
    assert 300 <= report.events == len(rows) <= sent


async def test_the_load_testers_store_exports_every_event_sent(tmp_path: Path) -> None:
    async with running_service(service_settings(tmp_path / "data")) as service:
        options = LoadOptions(
            urls=(f"ws://127.0.0.1:{service.hub_port}",),
            users=5,
            duration_s=1.0,
            request_interval_s=0.2,
            think_time_s=(0.02, 0.1),
            reply_timeout_s=2.0,
        )
        load = await run_load(options)
        await wait_until(lambda: service.writer.committed_seq >= load.events_sent)
        report = await trio.to_thread.run_sync(
            lambda: export_events(tmp_path / "data", tmp_path / "e.csv", bundled_catalog())
        )

    assert load.events_sent > 0
    assert report.events == len(read_rows(tmp_path / "e.csv", "csv")) == load.events_sent
