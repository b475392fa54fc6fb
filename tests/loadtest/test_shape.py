"""Reply checks: each way a reply can be wrong is caught, and a right one passes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from loadtest.script import ALL_FEEDBACK_CONTENTS
from loadtest.shape import Ask, check_reply, parse_frame

NODES = ("a", "b")
ASK = Ask(
    request_id="r1",
    content="all_feedback",
    user="u1",
    exp="spinner",
    course="cie3",
    expected=ALL_FEEDBACK_CONTENTS,
    nodes=frozenset(NODES),
    graph_names=frozenset({"spinner-cie3-1", "spinner-cie3-all"}),
)


def envelope(content: str) -> dict[str, Any]:
    return {
        "user": "u1",
        "type": "response",
        "exp": "spinner",
        "course": "cie3",
        "content": content,
        "id": "r1",
    }


def graph(content: str) -> dict[str, Any]:
    return envelope(content) | {
        "nodes": [{"id": node, "label": node} for node in NODES],
        "edges": [{"from": "a", "to": "b"}],
        "node_info": {"in_centrality": {"a": 0.0, "b": 1.0}},
    }


GOOD = [
    graph("student_graph"),
    graph("comparison_graph"),
    envelope("task_identification") | {"tasks": {"spinner-cie3-1": 3.0, "spinner-cie3-all": None}},
    envelope("indicators") | {"indicators": {"exploration": None, "enjoyment": -1, "edges": 0.5}},
    envelope("centroids")
    | {
        "centroids": {
            "student": [None, None],
            "task1": [0.5, 0.1],
            "all": [0.0, 1.0],
            "vertices": [{"name": "a", "x": 0.5, "y": 0.8}],
        }
    },
]


def test_a_right_reply_set_passes():
    for position, frame in enumerate(GOOD):
        assert check_reply(ASK, position, frame).problem is None


def test_task_feedback_reply_passes():
    ask = Ask(
        "r2",
        "task_feedback",
        "u1",
        "spinner",
        "cie3",
        ("task_feedback",),
        ASK.nodes,
        ASK.graph_names,
    )
    keys = ("hardware", "hardware_freq", "transition", "transition_freq")
    frame = envelope("task_feedback") | {"feedback": {key: [] for key in keys}}
    assert check_reply(ask, 0, frame).problem is None
    del frame["feedback"]["transition"]
    assert "feedback" in check_reply(ask, 0, frame).problem


def broken(position: int, change) -> dict[str, Any]:
    frame = copy.deepcopy(GOOD[position])
    change(frame)
    return frame


@pytest.mark.parametrize(
    ("position", "change", "words"),
    [
        (0, lambda f: f.update(content="comparison_graph"), "expected 'student_graph'"),
        (0, lambda f: f.update(nodes=[]), "nodes missing or empty"),
        (0, lambda f: f["nodes"].pop(), "every node of the course"),
        (0, lambda f: f["node_info"]["in_centrality"].update(a=None), "in_centrality"),
        (1, lambda f: f.pop("edges"), "edges"),
        (2, lambda f: f["tasks"].pop("spinner-cie3-1"), "one distance per comparison graph"),
        (3, lambda f: f["indicators"].pop("enjoyment"), "indicators must hold"),
        (3, lambda f: f["indicators"].update(enjoyment=1.5), "not an integer"),
        (4, lambda f: f["centroids"].update(student=None), "[x, y]"),
        (4, lambda f: f["centroids"].pop("vertices"), "student, all and vertices"),
        (4, lambda f: f.update(user="someone else"), "user or exp"),
        (4, lambda f: f.update(course="engdes1"), "course is not the one asked"),
        (4, lambda f: f.update(type="request"), "expected 'response'"),
    ],
)
def test_each_wrong_shape_is_named(position, change, words):
    verdict = check_reply(ASK, position, broken(position, change))
    assert verdict.problem is not None
    assert words in verdict.problem


def test_comparison_graph_may_leave_out_the_course():
    frame = graph("comparison_graph")
    del frame["course"]
    assert check_reply(ASK, 1, frame).problem is None


def test_an_error_reply_is_counted_by_code_and_a_malformed_one_is_wrong():
    error = {
        "type": "error",
        "user": "u1",
        "id": "r1",
        "error": {"code": "unknown_graph", "message": "no"},
    }
    verdict = check_reply(ASK, 1, error)
    assert (verdict.error_code, verdict.problem) == ("unknown_graph", None)
    assert check_reply(ASK, 1, {"type": "error", "id": "r1"}).problem is not None


def test_more_replies_than_asked_is_wrong():
    assert "reply #6" in check_reply(ASK, 5, GOOD[0]).problem


def test_nan_on_the_wire_is_found_and_the_frame_still_read():
    text = json.dumps(GOOD[3]).replace("null", "NaN")
    frame, problem = parse_frame(text)
    assert frame is not None
    assert frame["id"] == "r1"
    assert "NaN on the wire" in problem
    assert parse_frame('{"a": Infinity}')[1].startswith("Infinity")


def test_unreadable_frames():
    assert parse_frame("not json") == (None, "not JSON")
    assert parse_frame("[1, 2]") == (None, "not a JSON object")
    assert parse_frame(json.dumps(GOOD[0])) == (GOOD[0], None)
