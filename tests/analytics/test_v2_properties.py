"""Properties of the v2 timeline, usage and trails against naive references written here.

The references take the rules of PROTOCOL-V2.md literally and recompute everything
from scratch: sort all statements by (timestamp, arrival), apply the slider rule,
count pairs; start sessions at ``session-started`` or after 30 minutes of silence.
The incremental structures must agree after every single arrival, in any order.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import timeline as timeline_module
from analytics import usage as usage_module
from analytics.euler import euler_trail
from analytics.timeline import ActionTimeline
from analytics.usage import UsageTally

MANY = settings(max_examples=200, deadline=None)
N = 4
SLIDER_MS = 2000  # PROTOCOL-V2.md: "within 2 s"
GAP_MS = 30 * 60 * 1000  # "after 30 minutes of silence"


class Action(NamedTuple):
    t: int
    node: int
    verb: str
    object_id: str | None


actions = st.builds(
    Action,
    st.integers(0, 12_000) | st.sampled_from([0, 1_000, 2_000, 2_001, 4_000]),
    st.integers(0, N - 1),
    st.sampled_from(["clicked", "changed", "pressed-hotkey", "changed"]),
    st.sampled_from([None, "slider-a", "slider-b", ""]),
)


def naive_counted(arrived: list[Action]) -> list[int]:
    """The counted node sequence of PROTOCOL-V2.md, from scratch."""
    ordered = [a for _, a in sorted(enumerate(arrived), key=lambda p: (p[1].t, p[0]))]
    counted = []
    for k, action in enumerate(ordered):
        before = ordered[k - 1] if k else None
        same_slider = (
            before is not None
            and action.verb == "changed"
            and before.verb == "clicked"
            and action.object_id is not None
            and action.object_id == before.object_id
            and action.node == before.node
            and action.t - before.t <= SLIDER_MS
        )
        if not same_slider:
            counted.append(action.node)
    return counted


def naive_matrix(counted: list[int]) -> list[list[int]]:
    pairs = Counter(pairwise(counted))
    return [[pairs[(i, j)] for j in range(N)] for i in range(N)]


def fed(arrived: list[Action]) -> ActionTimeline:
    timeline = ActionTimeline(N)
    for action in arrived:
        assert timeline.add(*action)
    return timeline


@MANY
@given(st.lists(actions, max_size=40))
def test_late_insertion_recounts_exactly_what_a_full_recount_gives(arrived):
    timeline = ActionTimeline(N)
    for k, action in enumerate(arrived, 1):
        timeline.add(*action)
        counted = naive_counted(arrived[:k])
        assert timeline.matrix.tolist() == naive_matrix(counted)
        assert list(timeline.ordered_actions()) == counted
        assert timeline.counted_actions == len(counted)


# Starting counts at the edges of a 16-bit cell, and past it.
edge_counts = st.lists(
    st.lists(st.sampled_from([0, 1, 65_534, 65_535, 65_536, 2**40]), min_size=N, max_size=N),
    min_size=N,
    max_size=N,
)


@MANY
@given(edge_counts, st.lists(actions, max_size=40))
def test_counts_restored_at_the_edges_of_a_cell_count_on_as_a_full_recount(start, arrived):
    """The counts are 16-bit cells until one would overflow (then 64-bit): unnoticed."""
    record = {**ActionTimeline(N).to_record(), "counts": start}
    timeline = ActionTimeline.from_record(N, record)
    for k, action in enumerate(arrived, 1):
        timeline.add(*action)
        added = naive_matrix(naive_counted(arrived[:k]))
        expected = [[start[i][j] + added[i][j] for j in range(N)] for i in range(N)]
        assert timeline.matrix.tolist() == expected
    assert ActionTimeline.from_record(N, timeline.to_record()).matrix.tolist() == (
        timeline.matrix.tolist()
    )


@MANY
@given(st.lists(actions, max_size=40), st.randoms(use_true_random=False))
def test_the_arrival_order_does_not_matter_when_timestamps_differ(arrived, rng):
    distinct = list({action.t: action for action in arrived}.values())
    shuffled = distinct[:]
    rng.shuffle(shuffled)
    one, two = fed(distinct), fed(shuffled)
    assert one.matrix.tolist() == two.matrix.tolist()
    assert one.ordered_actions() == two.ordered_actions()


@MANY
@given(st.lists(actions, max_size=60), st.integers(1, 30))
def test_ordered_actions_walk_the_edges_and_the_latest_are_kept(arrived, limit):
    timeline = fed(arrived)
    everything = list(timeline.ordered_actions())
    weights = Counter(pairwise(everything))
    matrix = timeline.matrix
    assert weights == {(i, j): matrix[i, j] for i in range(N) for j in range(N) if matrix[i, j]}
    assert list(timeline.ordered_actions(limit)) == everything[-limit:]


@MANY
@given(st.lists(actions, max_size=60))
def test_a_trimmed_timeline_keeps_whole_history_counts(arrived):
    """With tiny bounds: accepted statements count exactly, refused ones not at all."""
    with (
        mock.patch.object(timeline_module, "RETAINED_ENTRIES", 6),
        mock.patch.object(timeline_module, "TRIM_CHUNK", 2),
    ):
        timeline = ActionTimeline(N)
        flags = [timeline.add(*action) for action in arrived]
        accepted = [action for action, ok in zip(arrived, flags, strict=True) if ok]
        assert len(timeline) <= 6 + 2
        counted = naive_counted(accepted)
        assert timeline.matrix.tolist() == naive_matrix(counted)
        kept = list(timeline.ordered_actions())
        assert kept == counted[len(counted) - len(kept) :]
        for k, (action, ok) in enumerate(zip(arrived, flags, strict=True)):
            if not ok:  # only what is older than everything kept, the latest included
                assert action.t < max(
                    a.t for a, was in zip(arrived[:k], flags[:k], strict=True) if was
                )


@MANY
@given(st.lists(actions, max_size=40), st.lists(actions, max_size=10))
def test_a_timeline_record_rebuilds_the_same_timeline(arrived, later):
    timeline = fed(arrived)
    record = json.loads(json.dumps(timeline.to_record()))
    copy = ActionTimeline.from_record(N, record)
    for action in later:
        timeline.add(*action)
        copy.add(*action)
    assert copy.matrix.tolist() == timeline.matrix.tolist()
    assert copy.ordered_actions() == timeline.ordered_actions()
    assert copy.to_record() == timeline.to_record()


def test_many_object_ids_widen_the_slider_array_and_still_pair():
    timeline = ActionTimeline(2)
    for k in range(20_000):
        timeline.add(10 * k, k % 2, "clicked", f"slider-{k}")
    timeline.add(10 * 19_999 + 1, 1, "changed", "slider-19999")  # the same slider
    timeline.add(10 * 19_999 + 2, 1, "changed", "slider-1")  # another one
    assert timeline.counted_actions == 20_001
    copy = ActionTimeline.from_record(2, json.loads(json.dumps(timeline.to_record())))
    assert copy.to_record() == timeline.to_record()


# --- Usage ------------------------------------------------------------------------------

statements = st.tuples(
    st.sampled_from(["session-started", "clicked", "data-hovered", "changed"]),
    st.integers(0, 16).map(lambda k: k * 15 * 60 * 1000)
    | st.integers(0, 4 * 3600 * 1000)
    | st.sampled_from([GAP_MS, GAP_MS + 1, 2 * GAP_MS + 1]),
)


def naive_starts(arrived: list[tuple[str, int]]) -> list[int]:
    ordered = [s for _, s in sorted(enumerate(arrived), key=lambda p: (p[1][1], p[0]))]
    return [
        t
        for k, (verb, t) in enumerate(ordered)
        if k == 0 or verb == "session-started" or t - ordered[k - 1][1] > GAP_MS
    ]


@MANY
@given(st.lists(statements, max_size=40))
def test_sessions_equal_a_full_recount_after_every_statement(arrived):
    tally = UsageTally()
    for k, (verb, t) in enumerate(arrived, 1):
        assert tally.add(verb, t)
        assert tally.session_starts == naive_starts(arrived[:k])
    assert tally.num_logs == len(arrived)
    assert tally.verbs == Counter(verb for verb, _ in arrived)


@MANY
@given(st.lists(statements, max_size=60))
def test_a_trimmed_tally_freezes_old_sessions(arrived):
    with (
        mock.patch.object(usage_module, "RETAINED_STATEMENTS", 5),
        mock.patch.object(usage_module, "TRIM_CHUNK", 2),
    ):
        tally = UsageTally()
        accepted = [s for s in arrived if tally.add(*s)]
        assert tally.session_starts == naive_starts(accepted)
        assert tally.num_logs == len(arrived)
        copy = UsageTally.from_record(json.loads(json.dumps(tally.to_record())))
        assert copy.to_record() == tally.to_record()


def test_verbs_past_the_limit_count_only_in_num_logs():
    tally = UsageTally()
    for k in range(usage_module.MAX_VERBS + 10):
        tally.add(f"verb-{k}", k)
    tally.add("verb-0", 1)
    assert len(tally.verbs) == usage_module.MAX_VERBS
    assert tally.verbs["verb-0"] == 2
    assert tally.num_logs == usage_module.MAX_VERBS + 11


# --- Trails -----------------------------------------------------------------------------


def pair_counts(trail: list[int], n: int) -> list[list[int]]:
    pairs = Counter(pairwise(trail))
    return [[pairs[(i, j)] for j in range(n)] for i in range(n)]


def has_euler_trail(matrix: list[list[int]]) -> bool:
    """The textbook condition, checked independently of ``analytics.euler``."""
    n = len(matrix)
    used = [v for v in range(n) if any(matrix[v]) or any(row[v] for row in matrix)]
    if not used:
        return True
    reach, frontier = {used[0]}, [used[0]]
    while frontier:
        v = frontier.pop()
        for w in range(n):
            if (matrix[v][w] or matrix[w][v]) and w not in reach:
                reach.add(w)
                frontier.append(w)
    surplus = sorted(sum(matrix[v]) - sum(row[v] for row in matrix) for v in range(n))
    balanced = all(d == 0 for d in surplus) or (
        surplus[0] == -1 and surplus[-1] == 1 and all(d == 0 for d in surplus[1:-1])
    )
    return set(used) <= reach and balanced


@MANY
@given(st.lists(st.integers(0, 5), min_size=2, max_size=80))
def test_the_trail_of_a_walk_s_matrix_reproduces_the_matrix(walk):
    matrix = pair_counts(walk, 6)
    trail = euler_trail(matrix)
    assert pair_counts(trail, 6) == matrix
    assert len(trail) == len(walk)


@MANY
@given(st.lists(st.lists(st.integers(0, 3), min_size=5, max_size=5), min_size=5, max_size=5))
def test_any_matrix_gives_a_trail_on_its_edges(matrix):
    trail = euler_trail(matrix)
    counts = pair_counts(trail, 5)
    assert all(counts[i][j] <= matrix[i][j] for i in range(5) for j in range(5))
    if has_euler_trail(matrix):
        assert counts == matrix
    assert (trail == []) == (not any(map(any, matrix)))


def test_fractional_weights_count_whole_traversals_at_least_once():
    trail = euler_trail(np.array([[0.0, 0.2], [1.6, 0.0]]))
    assert pair_counts(trail, 2) == [[0, 1], [2, 0]]


def test_two_pieces_give_the_longest():
    # 0 -> 0 (three times) and, apart, 1 -> 2: no trail covers both.
    matrix: Any = [[3, 0, 0], [0, 0, 1], [0, 0, 0]]
    assert euler_trail(matrix) == [0, 0, 0, 0]
