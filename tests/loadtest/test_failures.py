"""What goes wrong is counted: silence, garbage, refusal, remote hosts."""

from __future__ import annotations

import pytest

from loadtest import LoadOptions, LoadTestError, format_report, is_loopback, run_load
from tests.loadtest.fakes import fake_server, silent, wrong_shapes

QUICK = {
    "users": 3,
    "duration_s": 1.0,
    "request_interval_s": 0.2,
    "think_time_s": (0.05, 0.1),
    "reply_timeout_s": 0.5,
}


async def test_a_service_that_never_answers_has_every_request_missing():
    async with fake_server(silent) as (url, received):
        report = await run_load(LoadOptions(urls=(url,), **QUICK))
    assert report.requests > 0
    assert report.requests == received[0]
    assert report.replies_missing == report.requests
    assert report.answered == 0
    assert report.latency_samples == 0
    assert report.latency_ms["p50"] is None
    expected_frames = sum(
        n * (5 if content == "all_feedback" else 1)
        for content, n in report.requests_by_content.items()
    )
    assert report.reply_frames_missing == expected_frames
    assert not report.ok
    text = format_report(report)
    assert f"{report.requests} of {report.requests} requests were not fully answered" in text


async def test_replies_of_the_wrong_shape_are_counted():
    async with fake_server(wrong_shapes) as (url, _):
        options = LoadOptions(urls=(url,), request_mix=(("all_feedback", 1.0),), **QUICK)
        report = await run_load(options)
    assert report.requests > 0
    assert report.replies_missing == 0  # five frames came for each
    assert report.wrong_shape == 5 * report.requests
    kinds = " ".join(report.wrong_shape_kinds)
    assert "NaN on the wire" in kinds
    assert "nodes missing or empty" in kinds
    assert "expected 'comparison_graph'" in kinds
    assert not report.ok
    assert "replies of the wrong shape" in format_report(report)


async def test_nothing_listening_is_a_connection_failure_not_a_crash():
    async with fake_server(silent) as (url, _):
        pass  # the port is free again
    report = await run_load(LoadOptions(urls=(url,), **QUICK))
    assert report.connect_failures == 6  # three students, three dashboards
    assert report.events_sent == report.requests == 0
    assert not report.ok


@pytest.mark.parametrize(
    "url", ["ws://10.0.0.5:8000", "ws://example.org/spin30", "wss://192.168.1.2:443/x"]
)
async def test_remote_hosts_are_refused_unless_allowed(url):
    host = url.split("//")[1].split("/")[0].rsplit(":", 1)[0]
    with pytest.raises(LoadTestError, match=host):
        await run_load(LoadOptions(urls=(url,), **QUICK))


def test_what_counts_as_loopback():
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.3.4.5")
    assert is_loopback("::1")
    assert is_loopback("[::1]")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("loopback.example.org")


@pytest.mark.parametrize(
    "change",
    [
        {"users": 0},
        {"duration_s": 0},
        {"duration_s": float("inf")},
        {"rate": -1.0},
        {"think_time_s": (2.0, 1.0)},
        {"request_mix": (("student_graph", 1.0),)},
        {"urls": ()},
    ],
)
def test_invalid_options_are_refused(change):
    values = {"urls": ("ws://127.0.0.1:1",), **QUICK} | change
    with pytest.raises(ValueError):  # noqa: PT011 - each names its own field
        LoadOptions(**values)
