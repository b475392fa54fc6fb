"""The v2 replies beyond the golden students: edges of the rules, courses, 404s, feedback."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from typing import Any

import orjson
import pytest

from analytics.course_view import CourseView
from analytics.timeline import ORDERED_ACTIONS_MAX, ActionTimeline
from analytics.usage import session_dates_and_times
from analytics.v2_replies import V2Replier
from analytics.v2_session import V2Session
from courses import (
    Catalog,
    bundled_catalog,
    bundled_directory,
    parse_course_json,
)
from messages import (
    AffectiveState,
    Identity,
    Statement,
    UserCompletion,
    UserDifficulty,
)

CATALOG = bundled_catalog()
REPLIER = V2Replier(CATALOG)
SPINNER = CATALOG.course("spinner", "engdes1")
ANA = Identity("ana", "ed1", "spinner")


def click(
    t: int, node: str | None, verb: str = "clicked", object_id: str | None = "s1"
) -> Statement:
    return Statement(verb=verb, timestamp=t, object_id=object_id, graph_node=node)


def session_of(*statements: Statement, course: Any = SPINNER) -> V2Session:
    session = V2Session(course)
    for statement in statements:
        session.add_statement(statement)
    return session


def reply(endpoint: str, session: V2Session | None, identity: Identity = ANA, **kw: Any) -> Any:
    answer = REPLIER.answer(endpoint, identity, session and session.snapshot(), **kw)
    assert answer.status == 200, answer.body
    return orjson.loads(orjson.dumps(answer.body))


def nodes_of(session: V2Session) -> list[str]:
    return reply("studentGraph", session)["ordered_actions"]


# --- The slider rule and the order -----------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "merged"),
    [
        (click(2_000, "speed_step", "changed"), True),  # 2 s later: the same action
        (click(2_001, "speed_step", "changed"), False),
        (click(500, "speed_step", "changed", object_id="s2"), False),  # another slider
        (click(500, "speed_step", "changed", object_id=None), False),
        (click(500, "speed_ramp", "changed"), False),  # another node
        (click(500, "speed_step", "pressed-hotkey"), False),
        (click(500, "speed_step", "clicked"), False),
    ],
)
def test_a_changed_right_after_its_clicked_within_2_s_is_one_action(changed, merged):
    actions = nodes_of(session_of(click(0, "speed_step"), changed))
    assert actions == ["speed_step"] if merged else ["speed_step", changed.graph_node]


def test_the_slider_rule_looks_at_the_entry_right_before():
    both = [click(0, "speed_step"), click(5, "speed_step", "changed")]
    assert nodes_of(session_of(*both, click(9, "speed_step", "changed"))) == ["speed_step"] * 2
    # A late action landing between them splits the pair, wherever it arrives.
    between = click(3, "voltage_step")
    expected = ["speed_step", "voltage_step", "speed_step"]
    assert nodes_of(session_of(*both, between)) == expected
    assert nodes_of(session_of(between, *both)) == expected
    # Unknown nodes and node-less statements never enter the timeline: no split.
    others = [click(3, "not_a_node"), click(4, None), click(4, "voltage", "data-hovered")]
    assert nodes_of(session_of(both[0], *others, both[1])) == ["speed_step"]


def test_equal_timestamps_keep_their_arrival_order_and_self_loops_count():
    session = session_of(click(7, "voltage_step"), click(7, "speed_step"), click(7, "speed_step"))
    graph = reply("studentGraph", session)
    assert graph["ordered_actions"] == ["voltage_step", "speed_step", "speed_step"]
    assert {e["id"]: e["weight"] for e in graph["edges"]} == {
        "voltage_step->speed_step": 1,
        "speed_step->speed_step": 1,
    }


def test_past_10000_actions_the_latest_are_sent_and_the_weights_stay_whole():
    session = V2Session(SPINNER)
    n = ORDERED_ACTIONS_MAX + 50
    for k in range(n):
        session.add_statement(click(k * 10_000, SPINNER.nodes[k % 2], object_id=None))
    graph = reply("studentGraph", session)
    assert len(graph["ordered_actions"]) == ORDERED_ACTIONS_MAX
    assert graph["ordered_actions"][-1] == SPINNER.nodes[(n - 1) % 2]
    assert sum(edge["weight"] for edge in graph["edges"]) == n - 1


def test_a_timeline_refuses_nodes_outside_the_course():
    with pytest.raises(ValueError, match="node index 6"):
        ActionTimeline(6).add(0, 6, "clicked", None)


# --- Replies -------------------------------------------------------------------------


def test_no_statements_and_the_null_user_get_the_empty_replies():
    busy = session_of(click(0, "speed_step"), click(5_000, "speed_ramp"))
    for session, identity in ((None, ANA), (busy, Identity("null", "ed1", "spinner"))):
        graph = reply("studentGraph", session, identity)
        assert [node["id"] for node in graph["nodes"]] == list(SPINNER.nodes)
        assert graph["edges"] == []
        assert graph["ordered_actions"] == []
        assert set(graph["node_info"]["in_centrality"].values()) == {0.0}
        assert reply("taskCompletion", session, identity) == {
            "task_dissimilarity": {},
            "task_completion": {},
            "task_decision": {},
        }
        assert reply("otherIndicators", session, identity) == {"indicators": {"total_edges": 0.0}}
        assert reply("taskExploration", session, identity) == {"task_exploration": 0.0}
        assert reply("usageStats", session, identity) == {
            "interactionCounts": {},
            "numLogs": 0,
            "session_dates": [],
            "session_times": [],
        }
        assert reply("getUserFeedback", session, identity) == {
            "feedback": {"difficulty": {}, "completion": {}}
        }


def test_one_action_is_no_transition_yet():
    session = session_of(click(0, "position_step"))
    assert reply("taskCompletion", session)["task_completion"] == {}
    assert reply("studentGraph", session)["ordered_actions"] == ["position_step"]


@pytest.mark.parametrize("code", ["ed1", "engdes1"])
def test_tasks_are_named_with_the_course_code_as_requested(code):
    identity = Identity("ana", code, "pendulum")
    session = session_of(
        click(0, "record"), click(1, "record"), course=CATALOG.resolve("pendulum", code)
    )
    completion = reply("taskCompletion", session, identity)
    expected = [f"pendulum-{code}-{task}" for task in SPINNER.tasks]
    for part in completion.values():
        assert list(part) == expected
    assert completion["task_completion"]["pendulum-" + code + "-all"] == 1 / 78


@pytest.mark.parametrize(
    ("code", "task"), [(c, t) for c in ("ed1", "engdes1") for t in SPINNER.tasks]
)
def test_a_comparison_graph_walks_exactly_its_task_matrix(code, task):
    identity = Identity("ana", code, "spinner")
    graph = reply("comparisonGraph", None, identity, taskcode=f"spinner-{code}-{task}")
    matrix = SPINNER.tasks[task]
    nodes = SPINNER.nodes
    weights = {
        f"{nodes[i]}->{nodes[j]}": matrix[i, j] for i, j in zip(*matrix.nonzero(), strict=True)
    }
    assert {edge["id"]: edge["weight"] for edge in graph["edges"]} == weights
    assert all(edge["label"] == str(edge["weight"]) for edge in graph["edges"])
    pairs = Counter(f"{a}->{b}" for a, b in pairwise(graph["ordered_actions"]))
    assert pairs == weights
    assert graph["hardware"] == "spinner"
    assert len(graph["nodes"]) == len(nodes)


def test_a_graph_without_an_euler_trail_sends_a_trail_on_its_edges():
    identity = Identity("ana", "cie3", "spinner")
    graph = reply("comparisonGraph", None, identity, taskcode="spinner-cie3-mean-21-22")
    weights = {edge["id"]: edge["weight"] for edge in graph["edges"]}
    pairs = Counter(f"{a}->{b}" for a, b in pairwise(graph["ordered_actions"]))
    assert all(weights[pair] >= count for pair, count in pairs.items())
    assert sum(pairs.values()) == sum(weights.values()) - 3  # all but speed_step's loops


@pytest.mark.parametrize(
    ("endpoint", "identity", "taskcode", "code"),
    [
        ("studentGraph", Identity("ana", "ed2", "spinner"), None, "unknown_course"),
        ("usageStats", Identity("ana", "ed1", "rotor"), None, "unknown_course"),
        ("comparisonGraph", ANA, "spinner-ed1-9", "unknown_graph"),
        ("comparisonGraph", ANA, "pendulum-ed1-2", "unknown_graph"),
        ("comparisonGraph", ANA, None, "unknown_graph"),
    ],
)
def test_unknown_things_are_404_with_an_error_object(endpoint, identity, taskcode, code):
    answer = REPLIER.answer(endpoint, identity, None, taskcode=taskcode)
    assert answer.status == 404
    assert answer.body["error"]["code"] == code
    assert answer.body["error"]["message"]


def test_an_endpoint_the_router_does_not_route_is_a_bug():
    with pytest.raises(ValueError, match="no v2 endpoint 'chat'"):
        REPLIER.answer("chat", ANA, None)


def test_usage_counts_verbs_and_renders_sessions_in_the_service_time_zone():
    day = 1_733_959_191_865  # 2024-12-11 23:19:51 UTC
    session = session_of(
        Statement("session-started", day),
        click(day + 1_000, "speed_step"),
        Statement("data-hovered", day + 40 * 60_000),  # after 30 min of silence
    )
    usage = reply("usageStats", session)
    assert usage == {
        "interactionCounts": {"session-started": 1, "clicked": 1, "data-hovered": 1},
        "numLogs": 3,
        "session_dates": ["2024-12-11"],
        "session_times": ["23:19:51", "23:59:51"],
    }
    plus_one = dt.timezone(dt.timedelta(hours=1))
    local = V2Replier(CATALOG, tz=plus_one).answer("usageStats", ANA, session.snapshot()).body
    assert local["session_dates"] == ["2024-12-12"]
    assert local["session_times"] == ["00:19:51", "00:59:51"]


def test_a_start_past_year_9999_is_left_out_not_a_crash():
    assert session_dates_and_times([0, 2**53 - 1]) == (["1970-01-01"], ["00:00:00"])


def test_user_feedback_keeps_the_last_value_per_task_of_the_course():
    session = session_of()
    session.add_user_feedback(UserDifficulty({"spinner-ed1-2": 4, "spinner-ed1-all": 2}))
    session.add_user_feedback(UserDifficulty({"spinner-ed1-2": None, "spinner-engdes1-all": 5}))
    session.add_user_feedback(UserCompletion({"spinner-ed1-1-core": True, "spinner-ed1-9": True}))
    session.add_user_feedback(UserCompletion({"pendulum-ed1-2": True, "x": False}))
    assert reply("getUserFeedback", session) == {
        "feedback": {
            "difficulty": {"spinner-ed1-all": 5},
            "completion": {"spinner-ed1-1-core": True},
        }
    }
    canonical = reply("getUserFeedback", session, Identity("ana", "engdes1", "spinner"))
    assert canonical["feedback"]["difficulty"] == {"spinner-engdes1-all": 5}


def test_affective_states_feed_the_v1_enjoyment():
    session = session_of()
    session.add_user_feedback(AffectiveState("Curious", "Workbook"))
    session.add_user_feedback(AffectiveState("Curious", "Workbook", "fun"))
    session.add_user_feedback(AffectiveState("Bored", "UI"))
    session.add_user_feedback(AffectiveState("Bored", "Nowhere"))
    assert CourseView(SPINNER).enjoyment(session.snapshot().student) == 1


def test_the_completion_threshold_is_a_course_setting():
    data = json.loads((bundled_directory() / "spinner-engdes1.json").read_text())
    data["completion_threshold"] = 0.2
    course = parse_course_json(json.dumps(data), source="t")
    replier = V2Replier(Catalog.of([course]))
    # Five position_step self-loops: all of task 1-core (5), 5/13 of 1-ext.
    session = session_of(*(click(k * 10_000, "position_step") for k in range(6)), course=course)
    decision = replier.answer("taskCompletion", ANA, session.snapshot()).body["task_decision"]
    assert decision["spinner-ed1-1-core"]
    assert decision["spinner-ed1-1-ext"]  # 0.38 >= 0.2
    assert not REPLIER.answer("taskCompletion", ANA, session.snapshot()).body["task_decision"][
        "spinner-ed1-1-ext"
    ]


def test_a_course_without_its_own_threshold_takes_the_services():
    replier = V2Replier(CATALOG, threshold=0.3)
    session = session_of(*(click(k * 10_000, "position_step") for k in range(6)))
    decision = replier.answer("taskCompletion", ANA, session.snapshot()).body["task_decision"]
    assert decision["spinner-ed1-1-ext"]  # 5/13 = 0.38 >= 0.3
    assert not REPLIER.answer("taskCompletion", ANA, session.snapshot()).body["task_decision"][
        "spinner-ed1-1-ext"
    ]  # 0.38 < 0.8


# --- Lab kinds with no task graphs ------------------------------------------------------


def test_truss_has_a_student_graph_usage_and_empty_task_replies():
    pending = bundled_catalog()
    truss = pending.course("truss", "ed1")
    replier = V2Replier(pending)
    identity = Identity("ana", "ed1", "truss")
    session = session_of(click(0, "tare_load"), click(3_000, "record"), course=truss)
    answer = lambda endpoint: replier.answer(endpoint, identity, session.snapshot()).body  # noqa: E731
    assert answer("studentGraph")["ordered_actions"] == ["tare_load", "record"]
    assert answer("taskCompletion") == {
        "task_dissimilarity": {},
        "task_completion": {},
        "task_decision": {},
    }
    assert answer("otherIndicators") == {"indicators": {"total_edges": 0.0}}
    assert answer("taskExploration") == {"task_exploration": 100.0}
    assert answer("usageStats")["numLogs"] == 2
    missing = replier.answer("comparisonGraph", identity, None, taskcode="truss-ed1-all")
    assert missing.status == 404


def test_the_v1_view_of_a_course_without_tasks_answers_with_nulls():
    truss = bundled_catalog().course("truss", "ed1")
    view = CourseView(truss)
    session = session_of(click(0, "tare_load"), click(3_000, "record"), course=truss)
    student = session.snapshot().student
    assert view.task_identification(student) == {}
    assert math.isnan(view.indicators(student)["edges"])
    assert set(view.centroids(student)) == {"student", "vertices"}


# --- State on disk, and the architecture --------------------------------------------------


def test_a_session_record_rebuilds_the_same_replies():
    session = session_of(
        click(0, "speed_step"), click(5, "speed_step", "changed"), click(9, "voltage_step")
    )
    session.add_user_feedback(UserDifficulty({"spinner-ed1-2": 3}))
    session.add_user_feedback(AffectiveState("Engaged", "LA"))
    record = json.loads(json.dumps(session.to_record()))
    copy = V2Session.from_record(SPINNER, record)
    assert copy.version == session.version
    assert copy.snapshot() == session.snapshot()
    for endpoint in ("studentGraph", "usageStats", "getUserFeedback", "taskCompletion"):
        assert reply(endpoint, copy) == reply(endpoint, session)
    with pytest.raises(ValueError, match="not pendulum-engdes1's"):
        V2Session.from_record(CATALOG.course("pendulum", "engdes1"), record)
    for broken in ({}, {**record, "usage": None}, {**record, "format": 9}):
        with pytest.raises(ValueError, match="record"):
            V2Session.from_record(SPINNER, broken)


def test_the_v2_core_stays_sans_io():
    code = (
        "import sys, analytics.v2_replies, analytics.v2_session, messages.statements;"
        "print(sorted({'trio', 'actors', 'socket', 'sqlite3', 'pandas'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
