"""The load tester's own v2 reference against the golden v2 students, and its checks.

``V2Expected`` is what every reply of a v2 load run is held to, so it is held
to the golden ``v2_sessions.jsonl`` first (replies made by a reference
independent of the project): each student's statements in timestamp order
(ties in arrival order, as PROTOCOL-V2.md says), then the five replies.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from courses import bundled_catalog
from loadtest.v2checks import Verdict, difference, has_euler_trail, shape_problem, trail_problem
from loadtest.v2reference import CourseFacts, V2Expected, task_distance
from tests.conftest import golden

SESSIONS = golden("v2_sessions")
CATALOG = bundled_catalog()
ENDPOINTS = ("studentGraph", "taskCompletion", "otherIndicators", "taskExploration", "usageStats")


def expected_of(session: dict[str, Any]) -> V2Expected:
    course = CATALOG.resolve(session["hardware"], session["course"])
    assert course is not None
    expected = V2Expected(
        CourseFacts.of(course), session["course"], anonymous=session["username"] == "null"
    )
    arrival = sorted(enumerate(session["statements"]), key=lambda p: (p[1]["timestamp"], p[0]))
    for _, statement in arrival:
        expected.add_statement(statement)
    return expected


@pytest.mark.parametrize("session", SESSIONS, ids=[s["name"] for s in SESSIONS])
def test_the_reference_gives_every_golden_reply(session):
    expected = expected_of(session)
    for endpoint in ENDPOINTS:
        golden_reply = session["expected"][endpoint]
        assert shape_problem(endpoint, golden_reply) is None, endpoint
        mine = expected.reply(endpoint)
        assert difference(endpoint, golden_reply, mine) == Verdict(), endpoint


def test_the_golden_students_cover_what_the_reference_must_get_right():
    # Overtaking, slider pairs, unknown nodes and long gaps are all there, so the
    # parametrized test above is a test of each rule (not of an easy subset).
    statements = [st for session in SESSIONS for st in session["statements"]]
    timestamps = [[st["timestamp"] for st in s["statements"]] for s in SESSIONS]
    assert any(t != sorted(t) for t in timestamps)
    assert any(st["verb"]["name"] == "changed" for st in statements)
    assert any(st.get("context", {}).get("graph_node") == "not_a_node" for st in statements)
    assert any(len(s["expected"]["usageStats"]["session_times"]) > 1 for s in SESSIONS)


def test_a_wrong_reply_is_named_by_its_path_and_shown_with_its_values():
    session = next(s for s in SESSIONS if s["expected"]["studentGraph"]["edges"])
    mine = expected_of(session).reply("usageStats")
    wrong = {**mine, "numLogs": mine["numLogs"] + 1}
    verdict = difference("usageStats", wrong, mine)
    assert verdict.problem == "usageStats: $.numLogs differs from the reference"
    assert verdict.detail == f"$.numLogs: {mine['numLogs'] + 1} != {mine['numLogs']}"
    graph = expected_of(session).reply("studentGraph")
    reply = {**graph, "edges": [
        {"id": k, **v, "label": str(v["weight"])} for k, v in graph["edges"].items()
    ]}  # fmt: skip
    assert difference("studentGraph", reply, graph) == Verdict()
    reply["ordered_actions"] = reply["ordered_actions"][1:]
    assert "ordered_actions" in (difference("studentGraph", reply, graph).problem or "")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.update(nodes=[]), "$.nodes missing or empty"),
        (lambda r: r["edges"].append(dict(r["edges"][0])), "$.edges: duplicate ids"),
        (lambda r: r["node_info"]["in_centrality"].update(x=0.0), "not of every node"),
        (lambda r: r.update(ordered_actions=["voltage_ramp", "speed_ramp"]), "no edge"),
        (lambda r: r["edges"][0].update(label="x"), "label is not the weight"),
    ],
)
def test_what_breaks_the_page_is_a_shape_problem(change, problem):
    session = next(s for s in SESSIONS if s["hardware"] == "spinner" and s["username"] != "null")
    reply = copy.deepcopy(session["expected"]["studentGraph"])
    assert shape_problem("studentGraph", reply) is None
    change(reply)
    assert problem in (shape_problem("studentGraph", reply) or "")


def test_a_missing_key_or_a_string_for_a_number_is_a_shape_problem():
    assert shape_problem("usageStats", {"numLogs": 1}) is not None
    assert shape_problem("taskExploration", {"task_exploration": "NaN"}) is not None
    empty = {"task_dissimilarity": {}, "task_completion": {}, "task_decision": {}}
    assert shape_problem("taskCompletion", empty) is None
    assert shape_problem("taskCompletion", empty | {"task_completion": {"t": None}}) is not None


def test_task_distance_by_the_readme_formula():
    # Missing edge on the diagonal 2a; additional off-diagonal b; one both-nonzero
    # cell with r = (3 - 1) / 1 = 2 -> b * 2 / 2 = 1, averaged over one cell.
    student = [[0, 1], [0, 3]]
    task = [[1, 0], [0, 1]]
    assert task_distance(student, task) == 2 * 10 + 1 + 1
    assert task_distance([[0, 0], [0, 0]], task) is None


def test_euler_trails_of_the_course_task_graphs_are_recognised():
    assert has_euler_trail({(0, 1): 1, (1, 2): 1})
    assert has_euler_trail({(0, 1): 2, (1, 0): 2})
    assert not has_euler_trail({(0, 1): 1, (2, 3): 1})  # two pieces
    assert not has_euler_trail({(0, 1): 3})  # three times from 0 to 1 with no way back
    facts = CourseFacts.of(CATALOG.courses[("spinner", "engdes1")])
    task = "1-core"
    weights = {(i, j): w for i, row in enumerate(facts.tasks[task]) for j, w in enumerate(row) if w}
    if has_euler_trail(weights):
        assert trail_problem(["voltage_step"], facts, task) is not None
    assert trail_problem([facts.nodes[0], "nowhere"], facts, task) is not None
