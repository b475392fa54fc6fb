"""Properties that a wrong formula would break even where the golden cases pass."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import analytics

SPINNER = [
    "voltage_step",
    "voltage_ramp",
    "position_step",
    "position_ramp",
    "speed_step",
    "speed_ramp",
]
SPINNER_LOGS = {
    "voltage": "voltage_step",
    "voltage_ramp": "voltage_ramp",
    "position": "position_step",
    "position_ramp": "position_ramp",
    "speed": "speed_step",
    "speed_ramp": "speed_ramp",
}
POSITIONS = {name: (float(i), float(-i)) for i, name in enumerate(SPINNER)}

counts = hnp.arrays(np.int64, (6, 6), elements=st.integers(0, 40))
nonzero_counts = counts.filter(lambda m: m.any())
params = st.fixed_dictionaries(
    {
        "a": st.sampled_from([0, 0.5, 1, 2.5, 10, 20]),
        "b": st.sampled_from([0, 0.5, 1, 2, 10]),
        "loop_factor": st.sampled_from([0, 0.5, 1, 2, 3]),
        "upper_max": st.sampled_from([-1, 0.5, 1, 2, 5]),
        "lower_max": st.sampled_from([-1, -0.5, -0.25]),
    }
)


def reference_task_distance(A, B, *, a, b, loop_factor, upper_max, lower_max) -> float:
    """The golden README's rule, transcribed cell by cell with no numpy."""
    A, B = np.asarray(A).tolist(), np.asarray(B).tolist()
    if not any(any(row) for row in A):
        return math.nan
    total, penalties = 0.0, []
    for i, (row_a, row_b) in enumerate(zip(A, B, strict=False)):
        for j, (x, y) in enumerate(zip(row_a, row_b, strict=False)):
            factor = loop_factor if i == j else 1
            if x == 0 and y != 0:
                total += a * factor
            elif x != 0 and y == 0:
                total += b * factor
            elif x != y:
                r = (x - y) / y
                if 0 <= r <= upper_max:
                    penalties.append(b * r / upper_max)
                elif r > upper_max:
                    penalties.append(b)
                elif lower_max <= r < 0:
                    penalties.append(a * abs(r) / abs(lower_max))
                else:
                    penalties.append(a)
    return total + (sum(penalties) / len(penalties) if penalties else 0.0)


@given(nonzero_counts, counts, params)
def test_task_distance_matches_cellwise_rule(A, B, p) -> None:
    assert math.isclose(
        analytics.task_distance(A, B, **p), reference_task_distance(A, B, **p), rel_tol=1e-12
    )


@given(nonzero_counts, params)
def test_task_distance_of_a_graph_to_itself_is_zero(A, p) -> None:
    assert analytics.task_distance(A, A, **p) == 0


@given(counts, params)
def test_task_distance_of_an_empty_student_is_undefined(B, p) -> None:
    assert math.isnan(analytics.task_distance(np.zeros((6, 6)), B, **p))


@given(nonzero_counts, counts, params, st.integers(2, 7))
def test_task_distance_ignores_a_common_scale(A, B, p, k) -> None:
    assert math.isclose(
        analytics.task_distance(k * A, k * B, **p), analytics.task_distance(A, B, **p), rel_tol=1e-9
    )


@given(nonzero_counts, counts, params, st.sampled_from([0.5, 2, 3]))
def test_task_distance_is_linear_in_both_weights(A, B, p, k) -> None:
    scaled = dict(p, a=k * p["a"], b=k * p["b"])
    assert math.isclose(
        analytics.task_distance(A, B, **scaled),
        k * analytics.task_distance(A, B, **p),
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


@given(nonzero_counts, st.lists(counts, min_size=1, max_size=5), params)
def test_vectorised_distances_equal_one_by_one(A, Bs, p) -> None:
    stacked = analytics.task_distances(A, np.stack(Bs), **p)
    assert stacked.tolist() == [analytics.task_distance(A, B, **p) for B in Bs]


@given(counts, counts, counts)
def test_ged_is_a_metric(A, B, C) -> None:
    assert analytics.ged(A, A) == 0
    assert analytics.ged(A, B) == analytics.ged(B, A)
    assert analytics.ged(A, C) <= analytics.ged(A, B) + analytics.ged(B, C)
    assert analytics.ged(A, np.zeros((6, 6))) == A.sum()


@given(counts, nonzero_counts, st.integers(1, 9))
def test_total_edges_is_a_percentage_of_the_task(A, B, k) -> None:
    assert analytics.total_edges(B, B) == 100
    assert math.isclose(analytics.total_edges(k * A, B), k * analytics.total_edges(A, B))


def test_total_edges_against_an_empty_graph_is_undefined() -> None:
    assert math.isnan(analytics.total_edges(np.ones((6, 6)), np.zeros((6, 6))))


vertices = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(SPINNER), "x": st.floats(-2, 2), "y": st.floats(-2, 2)}
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda v: v["name"],
)


@given(counts, vertices, st.integers(2, 9))
def test_centroid_lies_inside_the_massive_vertices_and_ignores_scale(A, verts, k) -> None:
    x, y = analytics.centroid(A, SPINNER, verts)
    masses = {v["name"]: A[:, SPINNER.index(v["name"])].sum() for v in verts}
    heavy = [v for v in verts if masses[v["name"]] > 0]
    if not heavy:
        assert math.isnan(x)
        assert math.isnan(y)
        return
    assert min(v["x"] for v in heavy) - 1e-9 <= x <= max(v["x"] for v in heavy) + 1e-9
    assert min(v["y"] for v in heavy) - 1e-9 <= y <= max(v["y"] for v in heavy) + 1e-9
    kx, ky = analytics.centroid(k * A, SPINNER, verts)
    assert math.isclose(kx, x, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(ky, y, rel_tol=1e-9, abs_tol=1e-12)


@given(counts)
def test_vis_graph_draws_every_edge_and_node_once(A) -> None:
    drawn = analytics.vis_graph(A, SPINNER, POSITIONS)
    assert sorted(node["id"] for node in drawn["nodes"]) == sorted(SPINNER)
    assert len(drawn["edges"]) == np.count_nonzero(A)
    assert sum(edge["width"] for edge in drawn["edges"]) == A.sum()
    assert all(edge["label"] == str(int(edge["width"])) for edge in drawn["edges"])
    assert list(drawn["in_centrality"]) == SPINNER
    for j, name in enumerate(SPINNER):
        assert drawn["in_centrality"][name] == np.count_nonzero(A[:, j]) / 5


@given(counts, counts)
def test_task_feedback_lists_exactly_the_cells_below_the_task(A, B) -> None:
    advice = analytics.task_feedback(A, B, SPINNER)
    below = sum(1 for i in range(6) for j in range(6) if A[i, j] < B[i, j])
    assert sum(map(len, advice.values())) == below
    assert set(advice["hardware"]) <= set(SPINNER)
    assert all(" to " in item for item in advice["transition"] + advice["transition_freq"])
    assert analytics.task_feedback(B, B, SPINNER) == {
        "hardware": [],
        "hardware_freq": [],
        "transition": [],
        "transition_freq": [],
    }


STATES = [
    "Engaged",
    "Curious",
    "Delighted",
    "Bored",
    "Confused",
    "Frustrated",
    "Surprised",
    "Anxious",
    "Happy",
    "",
]
feedback = st.lists(
    st.fixed_dictionaries(
        {"state": st.sampled_from(STATES), "subject": st.sampled_from(["UI", "LA", "Nonsense"])}
    ),
    max_size=30,
)


@given(feedback, st.randoms())
def test_enjoyment_counts_each_valid_entry_once_in_any_order(entries, rng) -> None:
    subjects = {"UI", "LA"}
    total = analytics.enjoyment(entries, subjects)
    shuffled = list(entries)
    rng.shuffle(shuffled)
    assert analytics.enjoyment(shuffled, subjects) == total
    valid = [e for e in entries if e["subject"] in subjects and e["state"] in STATES[:8]]
    assert abs(total) <= len(valid)
    assert (
        analytics.enjoyment([*entries, {"state": "Curious", "subject": "UI"}], subjects)
        == total + 1
    )
    assert analytics.enjoyment(entries, set()) == 0


logs = st.sampled_from([*SPINNER_LOGS, "help", "camera", "reset", None])
single_stream = st.lists(
    st.builds(
        lambda t, log: {"t": t, "hardware": "spin30", "log": log}, st.integers(0, 10**6), logs
    ),
    max_size=60,
)


@given(single_stream)
def test_one_stream_counted_per_event_equals_the_whole_log(events) -> None:
    whole = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    whole.convert(events)
    incremental = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    for event in events:
        incremental.convert([event])
    assert np.array_equal(whole.matrix, incremental.matrix)
    commands = [SPINNER.index(SPINNER_LOGS[e["log"]]) for e in events if e["log"] in SPINNER_LOGS]
    # Conservation: one transition per consecutive pair of commands, each where it belongs.
    assert whole.matrix.sum() == max(len(commands) - 1, 0)
    expected = np.zeros((6, 6), dtype=np.int64)
    for source, target in pairwise(commands):
        expected[source, target] += 1
    assert np.array_equal(whole.matrix, expected)


class LiteralCounter:
    """The golden README's conversion with no compaction of leftovers."""

    def __init__(self) -> None:
        self.matrix = np.zeros((6, 6), dtype=np.int64)
        self.stored: list[dict] = []

    def convert(self, batch: list[dict]) -> None:
        stored = self.stored + batch
        if len({e["hardware"] for e in stored}) > 1:
            ordered = sorted(stored, key=lambda e: e["t"])
        else:
            ordered = stored
        commands = [
            SPINNER.index(SPINNER_LOGS[e["log"]]) for e in ordered if e["log"] in SPINNER_LOGS
        ]
        for source, target in pairwise(commands):
            self.matrix[source, target] += 1
        self.stored = [ordered[-1]] if len(commands) >= 2 else stored


multi_stream_batches = st.lists(
    st.lists(
        st.builds(
            lambda t, hw, log: {"t": t, "hardware": hw, "log": log},
            st.integers(0, 30),
            st.sampled_from(["spin30", "spin31", "spin32"]),
            logs,
        ),
        max_size=8,
    ),
    max_size=12,
)


@given(multi_stream_batches)
def test_compacted_leftovers_give_the_same_counts_as_keeping_everything(batches) -> None:
    literal = LiteralCounter()
    counter = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    for batch in batches:
        literal.convert(batch)
        counter.convert(batch)
        assert np.array_equal(counter.matrix, literal.matrix)
    assume(batches)


def test_leftovers_stay_bounded_under_a_flood_of_non_commands() -> None:
    counter = analytics.TransitionCounter(SPINNER, SPINNER_LOGS)
    counter.convert([{"t": 0, "hardware": "spin30", "log": "voltage"}])
    for t in range(1, 10_000):
        counter.convert([{"t": t, "hardware": f"spin{t % 3}", "log": "camera"}])
    assert len(counter.pending) <= 6
    counter.convert([{"t": 10_000, "hardware": "spin30", "log": "speed"}])
    assert counter.matrix[0, 4] == 1
