"""v2 runs: against the real service in-process (everything stored and right), against
fakes that lose or garble (every failure counted), and the counts of the report."""

from __future__ import annotations

import json

import attrs
import pytest

from loadtest import ServiceInfo, cli_main
from loadtest.runner import Progress
from loadtest.stats import Timeline
from loadtest.v2options import V2Options
from loadtest.v2report import format_v2_report, report_of
from loadtest.v2runner import run_load_v2
from loadtest.v2tally import V2Tally
from store import SqliteStore
from tests.actors.conftest import running_service, service_settings
from tests.loadtest.fakes import fake_http_server

FAST = {"request_interval_s": 0.1, "think_time_s": (0.02, 0.06), "reply_timeout_s": 3.0}
SHORT = [
    "--users", "4", "--duration", "1", "--request-interval", "0.1",
    "--think-time", "0.02", "0.06", "--no-progress",
]  # fmt: skip


async def test_a_short_run_is_stored_whole_and_every_reply_is_right(tmp_path):
    settings = service_settings(tmp_path, http_listen="127.0.0.1:0", flush_interval_s=0.01)
    async with running_service(settings) as service:
        options = V2Options(
            url=f"http://127.0.0.1:{service.http_port}", users=12, duration_s=2.0,
            overtake_share=0.3, **FAST,
        )  # fmt: skip
        seen: list[Progress] = []
        report = await run_load_v2(options, on_progress=seen.append, progress_interval_s=0.5)
    with SqliteStore(tmp_path) as store:
        rows = store.count_events()
    submitted = report.answered.get("submitUserFeedback", 0)
    assert report.statements_sent > 0
    assert report.statements_stored == report.statements_sent == rows - submitted
    assert report.overtaking_steps > 0
    assert report.checked_exact > 0
    assert report.checked_shape_only == report.students_uncertain == 0
    assert report.wrong == report.errors == report.missing == {}
    assert report.requests["preflight"] == report.answered["preflight"] >= 12
    assert report.ok, report.problems()
    figures = report.to_json()
    assert figures["latency_by_endpoint"]["addLog"]["n"] == report.statements_sent
    assert sum(row["events"] for row in figures["timeline"]) == report.statements_sent
    assert "Problems: none" in format_v2_report(report)
    assert len(seen) >= 3
    assert {p.label for p in seen} == {"v2"}
    sent = [p.events_sent for p in seen]
    assert sent == sorted(sent)
    assert 0 < sent[-1] <= report.statements_sent
    assert any(p.recent_p50_ms is not None for p in seen)


def garbling(method: str, target: str, body: bytes) -> tuple[int, list[str], bytes]:
    """A service that loses every third statement (503) and answers reads wrongly."""
    cors = ["Access-Control-Allow-Origin: *"]
    if method == "OPTIONS":
        allow = ["Access-Control-Allow-Methods: GET, POST, OPTIONS",
                 "Access-Control-Allow-Headers: authorization, content-type"]  # fmt: skip
        return 204, cors + allow, b""
    if "/addLog?" in target:
        garbling.statements += 1  # type: ignore[attr-defined]
        if garbling.statements % 3 == 0:  # type: ignore[attr-defined]
            return 503, cors, b'{"error": {"code": "overloaded", "message": "busy"}}'
        return 200, cors, b'{"stored":true}'
    if "/usageStats?" in target:  # no CORS header, and the wrong count
        return 200, [], b'{"interactionCounts": {}, "numLogs": -1, "session_dates": [], ' \
                        b'"session_times": []}'  # fmt: skip
    return 200, cors, b'{"nodes": []}'


async def test_lost_statements_and_wrong_replies_are_each_counted():
    garbling.statements = 0  # type: ignore[attr-defined]
    async with fake_http_server(garbling) as (port, _):
        options = V2Options(
            url=f"http://127.0.0.1:{port}", users=4, duration_s=1.0, overtake_share=0.0,
            request_mix=(("studentGraph", 1), ("usageStats", 1)), **FAST,
        )  # fmt: skip
        report = await run_load_v2(options)
    lost = report.statements_unknown["503 overloaded"]
    assert lost == report.statements_sent // 3
    assert report.statements_stored == report.statements_sent - lost
    assert report.students_uncertain == 4  # each had a statement that may not be kept
    assert report.wrong["studentGraph: $.nodes missing or empty"] == report.requests["studentGraph"]
    assert report.no_cors == report.requests["usageStats"]
    assert not report.ok
    problems = "\n".join(report.problems())
    assert "statements not answered 200: 503 overloaded" in problems
    assert "without Access-Control-Allow-Origin" in problems


def tallied(sent: int, stored_200: int) -> V2Tally:
    tally = V2Tally(Timeline(0.0))
    for _ in range(sent):
        tally.statement_sent("clicked", 0.5)
    for _ in range(stored_200):
        tally.statement_stored()
    for _ in range(sent - stored_200):
        tally.statement_unknown("timeout")
    return tally


@pytest.mark.parametrize(
    ("sent", "answered_200", "in_store", "problem"),
    [
        (10, 10, 10, None),
        (10, 10, 9, "DURABILITY: the store holds 9 statements, but 10 were answered 200"),
        (10, 8, 9, None),  # a timed-out statement may have been kept
        (10, 10, 11, "the store holds 11 statements, but 10 were sent"),
    ],
)
def test_sent_answered_and_stored_are_held_against_each_other(
    sent, answered_200, in_store, problem
):
    options = V2Options(url="http://127.0.0.1:1", duration_s=1.0)
    report = report_of(options, tallied(sent, answered_200), pacer=None, started_at="now",
                       cpu_s=0.0, hard_stopped=False)  # fmt: skip
    service = ServiceInfo(how="in-process", command="x", data_path="/x", statements_stored=in_store)
    report = attrs.evolve(report, service=service)
    store_lines = [line for line in report.problems() if "store holds" in line]
    assert store_lines == ([] if problem is None else [problem])


def test_feedback_answered_200_must_be_in_the_store():
    options = V2Options(url="http://127.0.0.1:1", duration_s=1.0)
    tally = tallied(3, 3)
    tally.answered["submitUserFeedback"] = 2
    report = report_of(options, tally, pacer=None, started_at="now", cpu_s=0.0,
                       hard_stopped=False)  # fmt: skip
    for kept, problem in ((2, None), (1, "DURABILITY: the store holds 1 feedback bodies, but 2")):
        service = ServiceInfo(how="in-process", command="x", data_path="/x",
                              statements_stored=3, user_feedback_stored=kept)  # fmt: skip
        lines = [line for line in attrs.evolve(report, service=service).problems()
                 if "store holds" in line]  # fmt: skip
        assert lines == ([] if problem is None else [f"{problem} were answered 200"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--protocol", "v2", "--url", "ws://127.0.0.1:8000"],
        ["--protocol", "v2", "--url", "http://10.1.2.3:8001"],
        ["--protocol", "both", "--url", "http://127.0.0.1:8001"],
        ["--protocol", "v2", "--url", "http://127.0.0.1:8001", "--overtake-share", "2"],
        ["--protocol", "v2", "--url", "http://127.0.0.1:8001", "--time-zone", "Mars/Base"],
        ["--protocol", "v3", "--spawn"],
    ],
)
def test_v2_usage_errors_exit_2_before_anything_connects(argv, capsys):
    assert cli_main(argv) == 2
    assert capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["v2", "both"])
def test_spawn_in_process_with_v2_counts_each_generation_in_the_store(protocol, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = cli_main(["--protocol", protocol, "--spawn", "in-process", *SHORT, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    figures = json.loads(out.read_text())
    v2 = figures if protocol == "v2" else figures["v2"]
    assert v2["statements_in_store"] == v2["statements_sent"] == v2["statements_stored"] > 0
    assert v2["service"]["how"] == "in-process"
    if protocol == "both":
        assert figures["ok"] is True
        assert figures["v1"]["events_stored"] == figures["v1"]["events_sent"] > 0
        assert "Load test of the hub" in printed
    assert "Load test (v2, HTTP)" in printed
