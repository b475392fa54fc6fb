"""Every scripted student of golden ``v2_sessions.jsonl``: decode, count, reply, compare.

The statements go through ``decode_statement`` and a ``V2Session`` in their arrival
order (overtaking included); the five replies must equal ``expected`` (numbers to
1e-9 relative, edges in any order, ``ordered_actions`` and ``session_times`` in order).
The expected replies come from a reference independent of the project.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import orjson
import pytest

from analytics.v2_replies import V2Replier
from analytics.v2_session import V2Session
from courses import bundled_catalog
from messages import decode_identity, decode_statement
from tests.analytics.test_golden import close
from tests.conftest import golden

SESSIONS = golden("v2_sessions")
REPLIER = V2Replier(bundled_catalog())
ENDPOINTS = ("studentGraph", "taskCompletion", "otherIndicators", "taskExploration", "usageStats")


def replies_of(session: dict[str, Any]) -> dict[str, Any]:
    """What the service would answer after POSTing the student's statements in order."""
    query = f"username={session['username']}&course={session['course']}"
    identity = decode_identity(f"{query}&hardware={session['hardware']}")
    view = REPLIER.view(identity.hardware, identity.course)
    assert view is not None
    state = V2Session(view.course)
    for statement in session["statements"]:
        decoded = decode_statement(orjson.dumps(statement))
        if not identity.anonymous:  # stored as research data, never given a graph
            state.add_statement(decoded)
    replies = {}
    for endpoint in ENDPOINTS:
        answer = REPLIER.answer(endpoint, identity, state.snapshot())
        assert answer.status == 200
        # Through JSON as the wire carries it: no numpy value, no NaN may survive.
        replies[endpoint] = orjson.loads(orjson.dumps(answer.body))
    return replies


def edges_by_id(graph: dict[str, Any]) -> dict[str, Any]:
    ids = [edge["id"] for edge in graph["edges"]]
    assert len(ids) == len(set(ids)), "edge ids must be unique"
    return {edge["id"]: edge for edge in graph["edges"]}


def test_all_24_students_are_there():
    assert len(SESSIONS) == 24
    assert {session["hardware"] for session in SESSIONS} == {"spinner", "pendulum"}
    assert any(session["username"] == "null" for session in SESSIONS)


@pytest.mark.parametrize("session", SESSIONS, ids=[s["name"] for s in SESSIONS])
def test_replies_equal_the_reference(session):
    actual = replies_of(session)
    expected = session["expected"]
    assert set(actual) == set(expected)
    graph, expected_graph = actual["studentGraph"], expected["studentGraph"]
    assert edges_by_id(graph).keys() == edges_by_id(expected_graph).keys()
    assert close(edges_by_id(graph), edges_by_id(expected_graph))
    rest = {key: value for key, value in graph.items() if key != "edges"}
    assert close(rest, {key: v for key, v in expected_graph.items() if key != "edges"})
    for endpoint in ENDPOINTS[1:]:
        assert close(actual[endpoint], expected[endpoint]), (endpoint, actual[endpoint])


@pytest.mark.parametrize("session", SESSIONS, ids=[s["name"] for s in SESSIONS])
def test_ordered_actions_walk_the_edges_with_their_weights(session):
    graph = replies_of(session)["studentGraph"]
    actions = graph["ordered_actions"]
    pairs = Counter(f"{source}->{target}" for source, target in pairwise(actions))
    assert pairs == {edge["id"]: edge["weight"] for edge in graph["edges"]}
    assert [node["id"] for node in graph["nodes"]] == [node["label"] for node in graph["nodes"]]
    assert graph["nodes"]
