"""Real runs against the service in-process: hub mode, relay mode, and the JSON report."""

from __future__ import annotations

import trio

from loadtest import LoadOptions, Progress, format_report, run_load
from tests.actors.conftest import running_service, service_settings, wait_until
from websocket.broadcast_relay import BroadcastRelay

REQUIRED_KEYS = {
    "events_sent",
    "requests",
    "replies_missing",
    "errors",
    "events_per_s",
    "latency_ms",
    "wrong_shape",
    "errors_by_code",
    "duration_s",
    "users",
    "target_rate",
    "timeline",
}
FAST = {"request_interval_s": 0.2, "think_time_s": (0.02, 0.1), "reply_timeout_s": 2.0}


async def test_a_short_run_is_fully_answered_and_every_event_is_stored(tmp_path):
    progress: list[Progress] = []
    async with running_service(service_settings(tmp_path)) as service:
        options = LoadOptions(
            urls=(f"ws://127.0.0.1:{service.hub_port}",), users=10, duration_s=2.0, **FAST
        )
        report = await run_load(options, on_progress=progress.append, progress_interval_s=0.5)
        await wait_until(lambda: service.writer.committed_seq >= report.events_sent)
        stored = service.writer.store.count_events()
    assert report.requests > 0
    assert report.answered == report.requests
    assert report.replies_missing == 0
    assert report.wrong_shape == 0
    assert report.errors == 0
    assert report.connect_failures == report.connections_lost == 0
    assert report.events_sent == stored
    assert report.events_sent == sum(report.events_by_kind.values())
    assert report.latency_samples == report.answered
    assert report.ok, report.problems()
    figures = report.to_json()
    assert set(figures) >= REQUIRED_KEYS
    assert set(figures["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}
    assert figures["latency_ms"]["p50"] <= figures["latency_ms"]["max"]
    assert sum(row["events"] for row in figures["timeline"]) == report.events_sent
    assert sum(row["answered"] for row in figures["timeline"]) == report.answered
    assert progress
    assert progress[-1].events_sent <= report.events_sent
    text = format_report(report)
    assert "Problems: none" in text
    assert f"events sent    {report.events_sent}" in text


async def test_a_target_rate_is_tracked_by_the_shared_schedule(tmp_path):
    async with running_service(service_settings(tmp_path)) as service:
        options = LoadOptions(
            urls=(f"ws://127.0.0.1:{service.hub_port}",),
            users=5,
            dashboards=1,
            duration_s=1.0,
            rate=200.0,
            ramp_s=0.0,
            **FAST,
        )
        report = await run_load(options)
    # The schedule holds at most rate x duration slots (no timing assertion below it).
    assert 0 < report.events_sent <= 200
    assert report.target_rate == 200.0
    assert report.to_json()["target_rate"] == 200.0


async def test_relay_mode_dashboards_pick_their_replies_out_of_the_shared_stream(tmp_path):
    relay = BroadcastRelay()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(relay.serve, "127.0.0.1", 0)
        urls = (f"ws://127.0.0.1:{port}/spin30", f"ws://127.0.0.1:{port}/pend2")
        settings = service_settings(tmp_path, listen=None, connect=urls)
        async with running_service(settings) as service:
            await wait_until(lambda: all(state.connected for state in service.relays))
            options = LoadOptions(urls=urls, users=6, duration_s=1.5, **FAST)
            report = await run_load(options)
            await wait_until(lambda: service.writer.committed_seq >= report.events_sent)
            stored = service.writer.store.count_events()
        nursery.cancel_scope.cancel()
    assert report.mode == "streams"
    assert report.requests > 0
    assert report.answered == report.requests
    assert report.replies_missing == report.wrong_shape == report.errors == 0
    assert report.events_sent == stored
