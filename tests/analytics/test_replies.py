"""Reply builders against the scripted students of the golden wire sessions,
without sockets: frames go through the real codec and the real progress state."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from analytics.progress import StudentProgress
from analytics.replies import Replier
from courses import bundled_catalog
from messages import ErrorCode, Request, decode, encode
from tests.analytics.test_golden import close
from tests.conftest import golden

SESSIONS = golden("wire_sessions")
REPLIER = Replier(bundled_catalog())


def request(session: dict[str, Any], payload: dict[str, Any], **extra: Any) -> Request:
    frame = {
        "user": session["user"],
        "type": "request",
        "exp": session["exp"],
        "course": session["course"],
        "payload": payload,
        **extra,
    }
    message = decode(json.dumps(frame))
    assert isinstance(message, Request)
    return message


def replay(session: dict[str, Any]) -> StudentProgress:
    progress = StudentProgress(session["user"], REPLIER.catalog)
    for frame in session["frames"]:
        progress.apply(decode(json.dumps(frame)))
    return progress


def answer(progress: StudentProgress, req: Request) -> list[dict[str, Any]]:
    snapshot = progress.snapshot(req.exp, req.course)
    return [orjson.loads(encode(reply)) for reply in REPLIER.answer(req, snapshot)]


def test_there_are_thirty_sessions_on_three_courses() -> None:
    assert len(SESSIONS) == 30
    assert {(s["exp"], s["course"]) for s in SESSIONS} == {
        ("spinner", "cie3"),
        ("spinner", "engdes1"),
        ("pendulum", "engdes1"),
    }


@pytest.mark.parametrize("session", SESSIONS, ids=[s["id"] for s in SESSIONS])
def test_every_reply_of_a_scripted_student(session: dict[str, Any]) -> None:
    progress = replay(session)
    for number, scripted in enumerate(session["requests"]):
        replies = answer(progress, request(session, scripted["payload"], id=number))
        assert len(replies) == len(scripted["expected"])
        for reply, expected in zip(replies, scripted["expected"], strict=True):
            assert reply["type"] == "response"
            assert reply["user"] == session["user"]
            assert reply["id"] == number
            assert all(close(reply[key], value) for key, value in expected.items()), (
                f"{session['id']} {expected['content']}: {reply} != {expected}"
            )
            if reply["content"] != "comparison_graph":
                assert (reply["exp"], reply["course"]) == (session["exp"], session["course"])


def test_a_user_with_no_events_gets_every_node_and_no_nulls_in_centrality() -> None:
    session = {"user": "u-new", "exp": "pendulum", "course": "engdes1"}
    replies = answer(
        StudentProgress("u-new", REPLIER.catalog),
        request(session, {"content": "all_feedback", "graph": "pendulum-engdes1-2"}),
    )
    assert [r["content"] for r in replies] == [
        "student_graph",
        "comparison_graph",
        "task_identification",
        "indicators",
        "centroids",
    ]
    graph = replies[0]
    assert len(graph["nodes"]) == 9
    assert graph["edges"] == []
    assert all(v == 0.0 for v in graph["node_info"]["in_centrality"].values())
    assert set(replies[2]["tasks"].values()) == {None}
    assert replies[3]["indicators"] == {"exploration": None, "enjoyment": 0, "edges": 0.0}
    assert replies[4]["centroids"]["student"] == [None, None]


def test_unknown_graph_costs_only_the_comparison_reply() -> None:
    session = SESSIONS[0]
    replies = answer(
        replay(session),
        request(session, {"content": "all_feedback", "graph": "spinner-cie3-nope"}, id="r1"),
    )
    assert [r["type"] for r in replies] == ["response", "error", "response", "response", "response"]
    assert replies[1]["error"]["code"] == ErrorCode.UNKNOWN_GRAPH
    assert "spinner-cie3-nope" in replies[1]["error"]["message"]
    assert replies[1]["id"] == "r1"


def test_graph_names_are_looked_up_across_courses() -> None:
    cie3 = next(s for s in SESSIONS if s["course"] == "cie3")
    [reply] = answer(
        replay(cie3),
        request(cie3, {"content": "comparison_graph", "graph": "pendulum-engdes1-all"}),
    )
    assert reply["content"] == "comparison_graph"
    assert {node["id"] for node in reply["nodes"]} >= {"start", "brake"}
    [advice] = answer(
        replay(cie3), request(cie3, {"content": "task_feedback", "task": "spinner-engdes1-2"})
    )
    assert advice["content"] == "task_feedback"
    [refused] = answer(
        replay(cie3), request(cie3, {"content": "task_feedback", "task": "pendulum-engdes1-2"})
    )
    assert refused["error"]["code"] == ErrorCode.UNKNOWN_GRAPH


@pytest.mark.parametrize("course", ["", "cie9"])
def test_unknown_course_is_an_error_for_each_student_part(course: str) -> None:
    session = {"user": "u1", "exp": "spinner", "course": course}
    replies = answer(
        StudentProgress("u1", REPLIER.catalog),
        request(session, {"content": "all_feedback", "graph": "spinner-cie3-3"}),
    )
    codes = [r.get("error", {}).get("code") for r in replies]
    assert codes == ["unknown_course", None, "unknown_course", "unknown_course", "unknown_course"]
