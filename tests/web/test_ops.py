"""The ops surface: metrics, configuration, logs."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest
import trio

from cli.main import main
from telemetry.logs import configure_logging
from tests.actors.conftest import client, event, request, running_service, service_settings
from tests.actors.test_relay import http_call

SECRET_USER = "3f2a4c1e-9b7d-4e0a-8c51-2d6f0e9a7b13"


async def test_metrics_count_what_happened_and_never_name_a_user(tmp_path) -> None:
    settings = service_settings(tmp_path, http_listen="127.0.0.1:0", flush_interval_s=0.01)
    async with running_service(settings) as service, client(service) as ws:
        for t, log in enumerate(["voltage", "speed", "position"]):
            await ws.send(event(SECRET_USER, log, t))
        await ws.ask(request(SECRET_USER, "all_feedback", graph="spinner-cie3-3"), 5)
        await ws.ask(request(SECRET_USER, "indicators", course="nope"), 1)
        await ws.ask("{broken", 1)
        await trio.sleep(0.05)  # a commit window
        status, headers, body = await trio.to_thread.run_sync(
            http_call, service.http_port, "GET", "/metrics", {}
        )
    text = body.decode()
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert 'la_events_total{type="analytics"} 3.0' in text
    assert 'la_requests_total{content="all_feedback"} 1.0' in text
    assert 'la_error_replies_total{code="bad_json"} 1.0' in text
    assert 'la_error_replies_total{code="unknown_course"} 1.0' in text
    assert 'la_request_latency_seconds_count{content="all_feedback"} 1.0' in text
    assert "la_store_commit_seconds_count" in text
    assert "la_active_sessions 1.0" in text
    assert 'la_connections{mode="hub"} 1.0' in text
    assert "la_store_healthy 1.0" in text
    assert SECRET_USER not in text


def test_config_prints_the_effective_settings_with_flags_over_environment(
    monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DATA_PATH", "/srv/old")
    monkeypatch.setenv("LA_WORKERS", "3")
    monkeypatch.setenv("LOG_URL", "ws://relay.local/spin30, ws://relay.local/spin31")
    assert main(["config", "--workers", "5"]) == 0
    effective = json.loads(capsys.readouterr().out)
    assert effective["data_path"] == "/srv/old"
    assert effective["workers"] == 5
    assert effective["connect"] == ["ws://relay.local/spin30", "ws://relay.local/spin31"]
    assert effective["listen"] is None  # relay mode alone: no hub unless asked


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["config", "--workers", "many"], {}, "workers"),
        (["config"], {"LA_FLUSH_INTERVAL_S": "-1"}, "LA_FLUSH_INTERVAL_S"),
        (["serve", "--listen", "nowhere"], {}, "--listen"),
    ],
)
def test_an_invalid_setting_stops_with_exit_code_2_naming_it(
    argv, env, named, monkeypatch, capsys
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_a_variable_that_is_no_setting_is_named_in_a_warning(monkeypatch, capsys) -> None:
    for key in [k for k in os.environ if k.startswith("LA_")]:
        monkeypatch.delenv(key)  # only this test's variables, whatever the shell exported
    monkeypatch.setenv("LA_WORKRS", "4")  # a typo
    monkeypatch.setenv("LA_SHARDS", "4")  # a setting of an older version
    monkeypatch.setenv("LA_WORKERS", "3")
    try:
        assert main(["config"]) == 0
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    ignored = {r["variable"]: r["why"] for r in lines if r["event"] == "settings.ignored_variable"}
    assert set(ignored) == {"LA_WORKRS", "LA_SHARDS"}
    assert "typo" in ignored["LA_WORKRS"]
    assert "shards" in ignored["LA_SHARDS"]


def test_logs_are_json_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        logging.getLogger("actors.test").warning("store.write_failed", extra={"error": "disk full"})
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            logging.getLogger("actors.test").exception("session.crashed", extra={"user": "u1"})
    finally:
        logging.getLogger().handlers.clear()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # one event per line, the traceback inside its line
    first, second = map(json.loads, lines)
    assert first["event"] == "store.write_failed"
    assert first["level"] == "warning"
    assert first["error"] == "disk full"
    assert second["event"] == "session.crashed"
    assert second["user"] == "u1"
    assert "ZeroDivisionError" in second["exc"]
