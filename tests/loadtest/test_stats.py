"""Percentiles against the standard library, and the shared send schedule."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.pacing import Pacer
from loadtest.stats import Timeline, percentile, recent_ms, samples_since, summarize_ms

samples = st.lists(st.floats(0, 10.0, allow_nan=False), min_size=2, max_size=500)


@given(samples)
def test_percentiles_equal_statistics_quantiles_inclusive(data):
    ordered = sorted(data)
    cuts = statistics.quantiles(data, n=1000, method="inclusive")
    for permille in (500, 900, 990, 999):
        expected = cuts[permille - 1]
        assert math.isclose(percentile(ordered, permille / 1000), expected, abs_tol=1e-9)
    assert math.isclose(percentile(ordered, 0.5), statistics.median(data), abs_tol=1e-9)
    assert percentile(ordered, 1.0) == ordered[-1]
    assert percentile(ordered, 0.0) == ordered[0]


def test_percentile_edge_cases():
    assert percentile([3.0], 0.999) == 3.0
    assert percentile([1.0, 2.0], 0.5) == 1.5
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="quantile"):
        percentile([1.0], 1.5)


def test_summary_is_in_milliseconds_and_empty_is_none():
    figures = summarize_ms([0.001, 0.002, 0.003])
    assert figures == {"p50": 2.0, "p90": 2.8, "p99": 2.98, "p999": 2.998, "max": 3.0}
    assert summarize_ms([]) == {"p50": None, "p90": None, "p99": None, "p999": None, "max": None}


def test_timeline_buckets_by_second_and_fills_gaps():
    timeline = Timeline(start=100.0)
    timeline.at(100.2).events += 1
    timeline.at(102.9).latencies_s.append(0.004)
    rows = timeline.to_json()
    assert [row["t_s"] for row in rows] == [0, 1, 2]
    assert rows[0]["events"] == 1
    assert rows[1]["p50_ms"] is None
    assert rows[2]["p50_ms"] == 4.0


def test_pacer_spaces_slots_by_the_rate():
    pacer = Pacer(rate=100.0, start=10.0)
    due = [pacer.claim(now=10.0) for _ in range(5)]
    assert due == pytest.approx([10.0, 10.01, 10.02, 10.03, 10.04])
    assert pacer.slips == 0


def test_pacer_skips_slots_more_than_the_backlog_late_and_counts_them():
    pacer = Pacer(rate=100.0, start=0.0, max_backlog_s=1.0)
    due = pacer.claim(now=3.0)  # 3 s behind: only the last second is caught up
    assert due == pytest.approx(2.0)
    assert pacer.slips == 200


def test_samples_since_gives_each_sample_once_and_skips_what_it_is_told():
    latencies = {"a": [0.3, 0.1], "skip": [9.0]}
    seen: dict[str, int] = {}
    assert samples_since(latencies, seen, skip=("skip",)) == [0.1, 0.3]
    latencies["a"].append(0.2)
    latencies["b"] = [0.5]
    latencies["skip"].append(8.0)
    assert samples_since(latencies, seen, skip=("skip",)) == [0.2, 0.5]
    assert samples_since(latencies, seen) == []
    assert recent_ms([], 0.5) is None
    assert recent_ms([0.001, 0.003], 1.0) == 3.0
