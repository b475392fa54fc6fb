"""The oracle of the robustness tests: what the service should answer, computed directly.

Two independent computations of the same frames:

- ``Reference``: the decoded frames fed to ``analytics.progress.StudentProgress``
  and answered by ``analytics.replies.Replier`` (the exact wire text);
- ``check_independently``: the public analytics API of DESIGN.md
  (``TransitionCounter``, ``vis_graph``, ``task_distance``, ``total_edges``,
  ``enjoyment``, ``centroid``) over the raw frames, no session code at all.

The tests at the bottom check the oracle itself against the golden sessions,
so a robustness failure points at the service, not at the oracle.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import trio

import analytics
from analytics.progress import StudentProgress
from analytics.replies import Replier
from analytics.transitions import UiEvent
from courses import Course, bundled_catalog
from messages import Request, decode, encode
from store import SqliteStore
from tests.analytics.test_golden import close
from tests.conftest import golden

CATALOG = bundled_catalog()
REPLIER = Replier(CATALOG)
COURSES: list[Course] = [
    CATALOG.courses[("spinner", "cie3")],
    CATALOG.courses[("spinner", "engdes1")],
    CATALOG.courses[("pendulum", "engdes1")],
]
STATES = [
    "Engaged",
    "Curious",
    "Delighted",
    "Bored",
    "Confused",
    "Frustrated",
    "Surprised",
    "Anxious",
    "Meh",  # unknown: scores 0
]
DATA_SHAPES: list[Any] = [None, 73, "73", {"v": 1.5, "unit": "V"}, [1, 2, 3], 0.25]


def task_graph(course: Course) -> str:
    """A task graph of ``course`` as the deployed dashboard asks for it (not ``all``)."""
    task = next(task for task in course.tasks if task != course.full_task)
    return course.graph_name(task)


def script(
    rng: random.Random, user: str, course: Course, n: int, *, t0: int = 1_673_262_940_000
) -> list[dict[str, Any]]:
    """A scripted student: ``n`` frames, mostly commands, some noise, some feedback.

    ``t`` is not monotonic and repeats; two hardware units are mixed in, so the
    counter's sort-by-``t`` rule across hardware is exercised too.
    """
    logs = [*course.command_of, "not_a_command", "camera"]
    subjects = sorted(course.feedback_subjects)
    units = [f"{course.exp[:4]}{rng.randrange(10, 40)}", f"{course.exp[:4]}{rng.randrange(40, 99)}"]
    frames = []
    t = t0
    for _ in range(n):
        t += rng.choice([0, 1, 7, 250, 1300, -3])
        hardware = units[0] if rng.random() < 0.9 else units[1]
        kind = rng.random()
        envelope = {
            "user": user,
            "t": t,
            "exp": course.exp,
            "course": course.course,
            "hardware": hardware,
        }
        if kind < 0.78:
            payload: dict[str, Any] = {"log": rng.choice(logs)}
            if rng.random() < 0.8:
                payload["data"] = rng.choice(DATA_SHAPES)
            frames.append({**envelope, "type": "analytics", "payload": payload})
        elif kind < 0.88:
            payload = {"log": rng.choice(logs), "type": "mouseenter", "component": "graph"}
            frames.append({**envelope, "type": "log", "payload": payload})
        else:
            payload = {"state": rng.choice(STATES), "subject": rng.choice(subjects)}
            if payload["subject"] == "Other":
                payload["input"] = "the disc wobbles"
            frames.append({**envelope, "type": "feedback", "payload": payload})
    return frames


def request_frame(
    user: str, course: Course, content: str, *, id: Any = None, **payload: Any
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "user": user,
        "type": "request",
        "exp": course.exp,
        "course": course.course,
        "payload": {"content": content, **payload},
    }
    if id is not None:
        frame["id"] = id
    return frame


class Reference:
    """Every user's progress, fed the same decoded frames the service was sent."""

    def __init__(self) -> None:
        self.progress: dict[str, StudentProgress] = {}
        self.frames: dict[str, list[dict[str, Any]]] = {}

    def record(self, frames: Iterable[dict[str, Any]]) -> None:
        for frame in frames:
            message = decode(json.dumps(frame))
            assert not isinstance(message, Request)
            progress = self.progress.setdefault(
                message.user, StudentProgress(message.user, CATALOG)
            )
            progress.apply(message)
            self.frames.setdefault(message.user, []).append(frame)

    def answer(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies the service must send to request ``frame``, as parsed JSON."""
        request = decode(json.dumps(frame))
        assert isinstance(request, Request)
        progress = self.progress.get(request.user)
        snapshot = None if progress is None else progress.snapshot(request.exp, request.course)
        return [orjson.loads(encode(reply)) for reply in REPLIER.answer(request, snapshot)]

    def events(self, user: str) -> list[dict[str, Any]]:
        return self.frames.get(user, [])


def check_independently(
    course: Course, frames: Sequence[dict[str, Any]], replies: Sequence[dict[str, Any]]
) -> None:
    """Check replies with the public analytics API, from the raw frames alone.

    ``frames`` are one user's events in the order sent (any course: only
    ``course``'s ``analytics`` frames count); ``replies`` any mix of
    student_graph, task_identification, indicators and centroids replies.
    """
    counter = analytics.TransitionCounter(course.nodes, course.command_of)
    feedback = []
    for frame in frames:
        if (frame["exp"], frame["course"]) != (course.exp, course.course):
            continue
        if frame["type"] == "analytics":
            counter.convert([UiEvent(frame["t"], frame.get("hardware"), frame["payload"]["log"])])
        elif frame["type"] == "feedback":
            feedback.append(frame["payload"])
    matrix = counter.matrix
    nodes = list(course.nodes)
    vertices = [{"name": v.name, "x": v.x, "y": v.y} for v in course.centroid_vertices]
    seen = set()
    for reply in replies:
        assert reply["type"] == "response", reply
        content = reply["content"]
        seen.add(content)
        if content == "student_graph":
            drawn = analytics.vis_graph(matrix, nodes, course.positions)
            assert close(reply["nodes"], orjson.loads(orjson.dumps(drawn["nodes"])))
            assert close(reply["edges"], orjson.loads(orjson.dumps(drawn["edges"])))
            assert close(reply["node_info"]["in_centrality"], dict(drawn["in_centrality"]))
            weights = {(e["from"], e["to"]): e["width"] for e in reply["edges"]}
            expected = {
                (nodes[i], nodes[j]): int(matrix[i, j])
                for i in range(len(nodes))
                for j in range(len(nodes))
                if matrix[i, j]
            }
            assert weights == expected
        elif content == "task_identification":
            expected = {
                course.graph_name(task): analytics.task_distance(matrix, graph)
                for task, graph in course.tasks.items()
            }
            assert close(reply["tasks"], _wire(expected))
        elif content == "indicators":
            full = course.full_graph
            expected = {
                "exploration": analytics.task_distance(matrix, full, a=0, b=10),
                "enjoyment": analytics.enjoyment(feedback, course.feedback_subjects),
                "edges": analytics.total_edges(matrix, full),
            }
            assert close(reply["indicators"], _wire(expected))
        elif content == "centroids":
            x, y = analytics.centroid(matrix, nodes, vertices)
            assert close(reply["centroids"]["student"], _wire([x, y]))
    assert seen, "nothing was checked"


def _wire(value: Any) -> Any:
    """``value`` as it looks on the wire: NaN becomes null (PROTOCOL.md, difference 1)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    return value


def assert_replies(actual: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]]) -> None:
    """Equal as JSON, with a readable message naming the first reply that differs."""
    assert len(actual) == len(expected), (len(actual), [r.get("content") for r in actual])
    for got, want in zip(actual, expected, strict=True):
        assert got == want, f"{want.get('content')}: {got} != {want}"


@contextmanager
def stored(data: Path) -> Iterator[SqliteStore]:
    """The store in ``data``, opened anew (a stopped service has closed its own)."""
    store = SqliteStore(data)
    try:
        yield store
    finally:
        store.close()


def event_keys(frames: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What identifies a sent event in the store: type, user, course, t and payload."""
    return [
        (f["type"], f["user"], f["exp"], f["course"], f.get("hardware"), f["t"], f["payload"])
        for f in frames
    ]


def stored_keys(store: SqliteStore, user: str) -> list[tuple[Any, ...]]:
    return [
        (r.type, r.user, r.exp, r.course, r.hardware, r.t, r.payload) for r in store.events_of(user)
    ]


async def wait_until(predicate: Any, *, timeout_s: float = 5.0, poll_s: float = 0.01) -> None:
    """Poll ``predicate`` every ``poll_s`` until true; fails after ``timeout_s``."""
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(poll_s)


# --- the oracle itself ---------------------------------------------------------


def test_the_oracle_gives_the_golden_replies() -> None:
    for session in golden("wire_sessions"):
        course = CATALOG.courses[(session["exp"], session["course"])]
        reference = Reference()
        frames = [frame for frame in session["frames"] if frame["type"] != "request"]
        reference.record(frames)
        for number, scripted in enumerate(session["requests"]):
            frame = request_frame(session["user"], course, id=number, **scripted["payload"])
            replies = reference.answer(frame)
            for reply, expected in zip(replies, scripted["expected"], strict=True):
                assert all(close(reply[key], value) for key, value in expected.items())
            responses = [r for r in replies if r["type"] == "response"]
            if any(r["content"] != "comparison_graph" for r in responses):
                check_independently(course, frames, responses)


def test_the_two_computations_agree_on_random_scripts() -> None:
    rng = random.Random(7)
    for number in range(30):
        course = COURSES[number % 3]
        frames = script(rng, f"u{number}", course, rng.randrange(0, 120))
        reference = Reference()
        reference.record(frames)
        replies = reference.answer(
            request_frame(f"u{number}", course, "all_feedback", graph=task_graph(course))
        )
        assert [r["content"] for r in replies] == [
            "student_graph",
            "comparison_graph",
            "task_identification",
            "indicators",
            "centroids",
        ]
        check_independently(
            course, frames, [r for r in replies if r["content"] != "comparison_graph"]
        )


def test_the_oracle_can_tell_a_missing_event() -> None:
    """A reply computed without one command differs: the checks are not vacuous."""
    rng = random.Random(3)
    course = COURSES[0]
    frames = [f for f in script(rng, "u", course, 80) if f["type"] == "analytics"]
    commands = [i for i, f in enumerate(frames) if f["payload"]["log"] in course.command_of]
    shorter = frames[: commands[5]] + frames[commands[5] + 1 :]
    reference = Reference()
    reference.record(shorter)
    [graph] = reference.answer(request_frame("u", course, "student_graph"))
    try:
        check_independently(course, frames, [graph])
    except AssertionError:
        return
    raise AssertionError("a missing command went unnoticed")
