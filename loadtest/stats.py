"""Latency figures: exact percentiles of every sample, and per-second buckets.

Samples are kept, not binned: a dashboard polls every couple of seconds, so
even a long run has at most a few hundred thousand round trips (a few MB of
floats), and an exact sort removes any question about histogram error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p999", 0.999),
)
LATENCY_METHOD = "exact: every sample sorted, linear interpolation between closest ranks"


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of sorted samples, interpolated between closest ranks.

    The same definition as ``statistics.quantiles(method="inclusive")``
    (and numpy's default): the median of [1, 2] is 1.5, p100 is the max.
    Raises ``ValueError`` for no samples or ``q`` outside 0..1.
    """
    if not ordered:
        raise ValueError("no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within 0..1, got {q!r}")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def samples_since(
    latencies_s: dict[str, list[float]], seen: dict[str, int], skip: Iterable[str] = ()
) -> list[float]:
    """The samples added since the last call (``seen`` keeps the counts), sorted;
    those of the kinds in ``skip`` left out (and marked seen)."""
    recent: list[float] = []
    for kind, samples in latencies_s.items():
        if kind not in skip:
            recent += samples[seen.get(kind, 0) :]
        seen[kind] = len(samples)
    recent.sort()
    return recent


def recent_ms(recent: Sequence[float], q: float) -> float | None:
    """Percentile ``q`` of sorted ``recent`` samples in ms, or None without samples."""
    return percentile(recent, q) * 1000 if recent else None


def summarize_ms(samples_s: Iterable[float]) -> dict[str, float | None]:
    """``{p50, p90, p99, p999, max}`` in milliseconds (``None`` with no samples)."""
    ordered = sorted(samples_s)
    if not ordered:
        return {name: None for name, _ in PERCENTILES} | {"max": None}
    figures = {name: round(percentile(ordered, q) * 1000, 4) for name, q in PERCENTILES}
    return figures | {"max": round(ordered[-1] * 1000, 4)}


@attrs.define
class Second:
    """What happened in one second of the run (by the time requests were sent)."""

    events: int = 0
    requests: int = 0
    missing: int = 0
    latencies_s: list[float] = attrs.field(factory=list)


@attrs.define
class Timeline:
    """Per-second buckets from the start of the run, for a plot and for spotting stalls."""

    start: float
    seconds: dict[int, Second] = attrs.field(factory=dict)

    def at(self, when: float) -> Second:
        index = max(0, int(when - self.start))
        bucket = self.seconds.get(index)
        if bucket is None:
            bucket = self.seconds[index] = Second()
        return bucket

    def to_json(self) -> list[dict[str, Any]]:
        rows = []
        for index in range(max(self.seconds, default=-1) + 1):
            bucket = self.seconds.get(index, Second())
            figures = summarize_ms(bucket.latencies_s)
            rows.append(
                {
                    "t_s": index,
                    "events": bucket.events,
                    "requests": bucket.requests,
                    "answered": len(bucket.latencies_s),
                    "missing": bucket.missing,
                    "p50_ms": figures["p50"],
                    "p99_ms": figures["p99"],
                }
            )
        return rows
