"""The command line: exit codes, --spawn (both kinds), the JSON file, progress lines."""

from __future__ import annotations

import io
import json

import pytest

from loadtest import cli_main
from loadtest.progress import progress_display, progress_line
from loadtest.runner import Progress
from loadtest.spawn import free_port
from tests.loadtest.fakes import fake_server, silent

SHORT = [
    "--users", "3", "--duration", "1", "--request-interval", "0.2",
    "--think-time", "0.05", "0.1", "--no-progress",
]  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "ws://10.1.2.3:8000"],
        ["--url", "ws://127.0.0.1:8000", "--url", "ws://lab.example.org/spin30"],
        [],  # neither --url nor --spawn
        ["--url", "ws://127.0.0.1:8000", "--spawn"],
        ["--url", "http://127.0.0.1:8000"],
        ["--url", "ws://127.0.0.1:8000", "--users", "0"],
        ["--url", "ws://127.0.0.1:8000", "--duration", "nan"],
        ["--url", "ws://127.0.0.1:8000", "--bogus"],
    ],
)
def test_usage_errors_exit_2_before_anything_connects(argv, capsys):
    assert cli_main(argv) == 2
    assert capsys.readouterr().err


def test_the_remote_host_is_named(capsys):
    assert cli_main(["--url", "ws://10.1.2.3:8000"]) == 2
    assert "10.1.2.3" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert cli_main(["--help"]) == 0
    assert "--spawn" in capsys.readouterr().out


def test_spawn_in_process_runs_reports_and_counts_the_store(tmp_path, capsys):
    out = tmp_path / "report.json"
    code = cli_main(["--spawn", "in-process", *SHORT, "--json", str(out), "--plot", "x.png"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    figures = json.loads(out.read_text())
    assert figures["events_stored"] == figures["events_sent"] > 0
    assert figures["requests"] > 0
    assert figures["replies_missing"] == 0
    assert figures["service"]["how"] == "in-process"
    assert "Problems: none" in printed
    assert "matplotlib is not installed" in printed or "plot written" in printed


def test_spawn_subprocess_stops_the_service_cleanly_and_counts_the_store(tmp_path, capsys):
    out = tmp_path / "report.json"
    code = cli_main(["--spawn", *SHORT, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    figures = json.loads(out.read_text())
    assert figures["service"]["how"] == "subprocess"
    assert figures["service"]["exit_code"] == 0
    assert figures["events_stored"] == figures["events_sent"] > 0
    assert "-m cli.main" in figures["service"]["command"]


def test_nothing_listening_exits_1(capsys):
    code = cli_main(["--url", f"ws://127.0.0.1:{free_port()}", *SHORT])
    assert code == 1
    assert "failed to open" in capsys.readouterr().out


async def test_a_silent_service_fails_the_report_that_sets_the_exit_code():
    # cli_main runs its own trio loop, so here the same path is taken through run_load.
    from loadtest import LoadOptions, run_load  # noqa: PLC0415

    async with fake_server(silent) as (url, _):
        report = await run_load(
            LoadOptions(urls=(url,), users=1, duration_s=0.6, request_interval_s=0.2,
                        think_time_s=(0.05, 0.1), reply_timeout_s=0.3)
        )  # fmt: skip
    assert not report.ok
    assert any("not fully answered" in line for line in report.problems())


def test_plain_progress_lines():
    progress = Progress(
        elapsed_s=2.0, duration_s=10.0, events_sent=100, events_per_s=50.0, requests=4,
        answered=3, in_flight=1, missing=0, errors=0, wrong_shape=0, connection_problems=0,
        recent_p50_ms=0.9, recent_p99_ms=None,
    )  # fmt: skip
    stream = io.StringIO()
    with progress_display(use_rich=False, stream=stream) as show:
        assert show is not None
        show(progress)
    assert stream.getvalue() == progress_line(progress) + "\n"
    assert "events 100 (50/s)" in stream.getvalue()
    assert "p99 -" in stream.getvalue()
    with progress_display(enabled=False) as show:
        assert show is None
