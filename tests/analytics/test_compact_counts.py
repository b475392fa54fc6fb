"""The compact transition counts (16-bit cells, widened on overflow) against the literal rule.

``TransitionCounter`` keeps its counts in a flat array of 16-bit cells and
widens every cell to 64 bits the first time one would overflow or a restored
count does not fit. Counting must not notice: the literal rule of the golden
README (``LiteralCounter``, numpy int64, no compaction) is the reference.
"""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import analytics
from analytics.progress import CourseProgress
from courses import bundled_catalog
from tests.analytics.test_properties import (
    SPINNER,
    SPINNER_LOGS,
    LiteralCounter,
    multi_stream_batches,
)

# Starting counts at the edges of a 16-bit cell, and past it.
edge_counts = hnp.arrays(
    np.int64, (6, 6), elements=st.sampled_from([0, 1, 65_534, 65_535, 65_536, 2**40])
)


@given(edge_counts, multi_stream_batches)
def test_counts_restored_at_the_edges_of_a_cell_count_on_as_the_literal_rule(
    start, batches
) -> None:
    literal = LiteralCounter()
    literal.matrix = start.copy()
    counter = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    counter.restore(start, ())
    for batch in batches:
        literal.convert(batch)
        counter.convert(batch)
        assert np.array_equal(counter.matrix, literal.matrix)
        assert counter.matrix.dtype == np.int64


@given(multi_stream_batches, multi_stream_batches)
def test_a_counter_restored_from_its_matrix_and_leftovers_goes_on_as_the_original(
    before, after
) -> None:
    """What a snapshot saves (``matrix``, ``pending``) is all the counter needs."""
    original = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    for batch in before:
        original.convert(batch)
    restored = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    restored.restore(original.matrix, original.pending)
    for batch in after:
        original.convert(batch)
        restored.convert(batch)
        assert np.array_equal(restored.matrix, original.matrix)
        assert restored.pending == original.pending


def test_a_full_16_bit_cell_widens_and_keeps_every_count() -> None:
    """Every cell at 65,535 (the most a 16-bit cell holds): the next transition makes
    65,536 in its own cell and changes no other."""
    counter = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    counter.restore(np.full((6, 6), 65_535), ())
    events = [{"t": t, "hardware": "spin30", "log": log} for t, log in enumerate(["voltage"] * 3)]
    counter.convert(events)  # voltage -> voltage twice
    expected = np.full((6, 6), 65_535, dtype=np.int64)
    expected[0, 0] += 2
    assert np.array_equal(counter.matrix, expected)


def test_a_progress_record_survives_json_at_any_count() -> None:
    """``to_record`` is plain JSON with the exact counts; ``from_record`` restores them."""
    course = bundled_catalog().course("spinner", "cie3")
    assert course is not None
    progress = CourseProgress(course)
    large = np.arange(36, dtype=np.int64).reshape(6, 6) * (2**33)
    progress.import_legacy(large, [analytics.UiEvent(5, "spin30", "speed")])
    progress.add_feedback("Curious", "UI")
    record = orjson.loads(orjson.dumps(progress.to_record()))
    again = CourseProgress.from_record(course, record)
    assert record["matrix"] == large.tolist()
    assert record["pending"] == [[5, "spin30", "speed"]]
    assert record["feedback"] == [["Curious", "UI", 1]]
    assert again.to_record() == record
    assert np.array_equal(again.snapshot().matrix, large)
