"""The scripted students: commands of the course only, walking edges of positive weight."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from courses import bundled_catalog
from loadtest.script import (
    ALL_FEEDBACK_CONTENTS,
    StudentScript,
    TaskWalk,
    cast,
    course_walk,
    expected_contents,
    logs_by_node,
    request_frame,
)

CATALOG = bundled_catalog()
COURSE_TASKS = [
    (course, task)
    for course in sorted(CATALOG.courses.values(), key=lambda c: c.key)
    for task in course.tasks
]


@given(st.sampled_from(COURSE_TASKS), st.integers(0, 2**32), st.integers(1, 400))
def test_walk_over_a_task_graph_follows_edges_of_positive_weight(course_task, seed, steps):
    course, task = course_task
    matrix = course.tasks[task]
    walk = course_walk(course, task)
    rng = random.Random(seed)
    previous = None
    for _ in range(steps):
        step = walk.step(rng)
        assert step.node in course.nodes
        index = course.nodes.index(step.node)
        if step.restarted:
            assert matrix[index].sum() > 0, "a walk starts where there is an edge to follow"
        else:
            assert previous is not None
            assert matrix[course.nodes.index(previous), index] > 0
        previous = step.node


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 7))
    weights = st.one_of(st.just(0.0), st.floats(0.01, 100.0))
    matrix = [[draw(weights) for _ in range(n)] for _ in range(n)]
    nodes = [f"n{i}" for i in range(n)]
    allowed = draw(st.sets(st.sampled_from(nodes), min_size=1))
    return nodes, matrix, frozenset(allowed)


@given(graphs(), st.integers(0, 2**32))
def test_walk_over_any_graph_stays_on_allowed_nodes_and_positive_edges(graph, seed):
    nodes, matrix, allowed = graph
    walk = TaskWalk(nodes, matrix, allowed)
    rng = random.Random(seed)
    previous = None
    for _ in range(100):
        step = walk.step(rng)
        assert step.node in allowed
        if not step.restarted:
            assert matrix[nodes.index(previous)][nodes.index(step.node)] > 0
        previous = step.node


@settings(max_examples=50)
@given(st.integers(0, 30), st.integers(0, 2**16))
def test_a_student_sends_only_commands_of_its_course_and_valid_frames(index, seed):
    persona = cast(CATALOG, ["ws://127.0.0.1:1"], index + 1, seed, hub=True)[index]
    script = StudentScript(persona, seed)
    course = persona.course
    kinds = []
    for t in range(200):
        kind, frame = script.next_frame(1_700_000_000_000 + t)
        kinds.append(kind)
        assert frame["user"] == persona.user
        assert (frame["exp"], frame["course"]) == (course.exp, course.course)
        assert frame["hardware"] == persona.hardware
        payload = frame["payload"]
        if kind == "command":
            assert frame["type"] == "analytics"
            assert payload["log"] in course.command_of
        elif kind == "analytics":
            assert payload["log"] not in course.command_of
        elif kind == "feedback":
            assert {"state", "subject"} <= set(payload)
            assert ("input" in payload) == (payload["subject"] == "Other")
        else:
            assert kind == "log"
            assert frame["type"] == "log"
    assert kinds[0] == "command"


def test_the_same_seed_gives_the_same_session():
    persona = cast(CATALOG, ["ws://127.0.0.1:1"], 3, 7, hub=True)[2]
    one, two = StudentScript(persona, 7), StudentScript(persona, 7)
    assert [one.next_frame(5) for _ in range(50)] == [two.next_frame(5) for _ in range(50)]


def test_every_node_of_the_bundled_courses_can_be_sent():
    for course in CATALOG.courses.values():
        assert set(logs_by_node(course)) == set(course.nodes)


def test_students_take_courses_round_robin_and_hub_paths_of_their_hardware():
    personas = cast(CATALOG, ["ws://127.0.0.1:8000"], 7, 1, hub=True)
    keys = sorted(c.key for c in CATALOG.courses.values() if c.tasks)
    assert len(keys) == 3  # truss and torsion have no task to walk yet
    assert [p.course.key for p in personas] == [keys[i % len(keys)] for i in range(7)]
    assert all(p.url == f"ws://127.0.0.1:8000/{p.hardware}" for p in personas)
    assert len({p.user for p in personas}) == 7
    assert all(p.task in p.course.tasks for p in personas)


def test_stream_urls_are_dealt_round_robin_and_name_the_hardware():
    urls = ["ws://127.0.0.1:9100/spin30", "ws://127.0.0.1:9100/pend2"]
    personas = cast(CATALOG, urls, 4, 1, hub=False)
    assert [p.url for p in personas] == urls * 2
    assert [p.hardware for p in personas] == ["spin30", "pend2"] * 2


def test_requests_name_the_students_task_graph():
    persona = cast(CATALOG, ["ws://127.0.0.1:1"], 1, 1, hub=True)[0]
    frame = request_frame(persona, "all_feedback", "r1", 0)
    assert frame["payload"] == {"content": "all_feedback", "graph": persona.graph}
    assert frame["id"] == "r1"
    assert "hardware" not in frame
    assert request_frame(persona, "task_feedback", "r2", 0)["payload"]["task"] == persona.graph
    assert expected_contents("all_feedback") == ALL_FEEDBACK_CONTENTS
    assert expected_contents("indicators") == ("indicators",)
