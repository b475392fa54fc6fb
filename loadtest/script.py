"""What the fake students and dashboards say: sans-io, seeded, no sockets.

A student's commands are a random walk over one task graph of its course,
so the service sees transition graphs shaped like real work (and requests
exercise every part of the analytics), not uniform noise. Between commands
come the other frames lab UIs really send: non-command ``analytics`` logs,
dashboard interaction ``log`` frames and ``feedback`` (valid or not: the
service must store both).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import attrs

from courses import Catalog, Course

# Share of a student's frames by kind; the rest are commands.
OTHER_ANALYTICS_SHARE = 0.06
INTERACTION_SHARE = 0.09
FEEDBACK_SHARE = 0.05
NON_COMMAND_LOGS = ("help", "camera")
INTERACTIONS = (
    {"log": "analytics-interaction", "type": "mouseenter", "component": "graph"},
    {"log": "analytics-interaction", "type": "click", "component": "indicators"},
    {"log": "analytics-interaction", "type": "mouseleave", "component": "centroids"},
)
STATES = ("Engaged", "Curious", "Delighted", "Bored", "Confused", "Frustrated", "Surprised")
BAD_STATES = ("Sleepy", "Hungry")
BAD_SUBJECTS = ("Lunch", "Weather")
FEEDBACK_INVALID_SHARE = 0.2
# Pendulum commands that lab UIs send without ``data`` (PROTOCOL.md).
NO_DATA_LOGS = frozenset({"brake", "load", "free", "measuring_tools", "record"})
ALL_FEEDBACK_CONTENTS = (
    "student_graph",
    "comparison_graph",
    "task_identification",
    "indicators",
    "centroids",
)


@attrs.frozen
class Step:
    """One step of a walk: the node, and whether the walk (re)started there."""

    node: str
    restarted: bool


class TaskWalk:
    """A random walk over a weighted graph: next node ∝ the current row's weights.

    Starts at a node with outgoing weight (∝ its row sum) and restarts there
    when it reaches a node whose row is empty. Nodes in ``allowed`` only (a
    node no UI log maps to cannot be sent); a graph with no usable edge gives
    a uniform choice that is always a restart.
    """

    def __init__(
        self, nodes: Sequence[str], matrix: Sequence[Sequence[float]], allowed: frozenset[str]
    ) -> None:
        self.nodes = tuple(nodes)
        keep = [node in allowed for node in self.nodes]
        self._rows: list[tuple[list[int], list[float]]] = []
        for i, row in enumerate(matrix):
            targets = [j for j, w in enumerate(row) if keep[i] and keep[j] and w > 0]
            weights = [float(row[j]) for j in targets]
            self._rows.append((targets, list(itertools.accumulate(weights))))
        starts = [i for i, (targets, _) in enumerate(self._rows) if targets]
        start_weights = [self._rows[i][1][-1] for i in starts]
        self._starts = (starts, list(itertools.accumulate(start_weights)))
        self._fallback = [i for i, ok in enumerate(keep) if ok]
        self._at: int | None = None

    def step(self, rng: random.Random) -> Step:
        if self._at is not None:
            targets, cumulative = self._rows[self._at]
            if targets:
                self._at = rng.choices(targets, cum_weights=cumulative)[0]
                return Step(self.nodes[self._at], restarted=False)
        starts, cumulative = self._starts
        if starts:
            self._at = rng.choices(starts, cum_weights=cumulative)[0]
        else:
            self._at = rng.choice(self._fallback)
        return Step(self.nodes[self._at], restarted=True)


def logs_by_node(course: Course) -> dict[str, tuple[str, ...]]:
    """The UI ``log`` values that the course maps to each node."""
    found: dict[str, list[str]] = {}
    for log, node in course.command_of.items():
        found.setdefault(node, []).append(log)
    return {node: tuple(logs) for node, logs in found.items()}


def course_walk(course: Course, task: str) -> TaskWalk:
    mapped = frozenset(logs_by_node(course))
    return TaskWalk(course.nodes, course.tasks[task].tolist(), mapped)


@attrs.frozen
class Persona:
    """Who one fake student is, and where it works."""

    index: int
    user: str
    course: Course
    task: str
    hardware: str | None
    url: str

    @property
    def graph(self) -> str:
        return self.course.graph_name(self.task)


def cast(
    catalog: Catalog, urls: Sequence[str], users: int, seed: int, *, hub: bool
) -> list[Persona]:
    """The students of a run: courses round robin over the catalog, tasks at random.

    Only courses with task graphs are cast, since a student walks a task. Hub
    mode gives each student the stream path of its hardware (``/spin3``); stream
    URLs are dealt round robin and their last path part is the hardware.
    """
    rng = random.Random(f"cast-{seed}")
    courses = sorted((c for c in catalog.courses.values() if c.tasks), key=lambda c: c.key)
    personas = []
    for index in range(users):
        course = courses[index % len(courses)]
        task = rng.choice(list(course.tasks))
        user = f"lt{seed}-{index:05d}-{rng.getrandbits(32):08x}"
        if hub:
            hardware: str | None = f"{course.exp[:4]}{1 + (index // len(courses)) % 30}"
            url = f"{urls[0].rstrip('/')}/{hardware}"
        else:
            url = urls[index % len(urls)]
            hardware = _stream_name(url)
        personas.append(Persona(index, user, course, task, hardware, url))
    return personas


def _stream_name(url: str) -> str | None:
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    ok = 1 <= len(name) <= 64 and name.isprintable() and "\\" not in name and ":" not in name
    return name if ok else None


class StudentScript:
    """The frames one student sends, in order: a seeded lab session."""

    def __init__(self, persona: Persona, seed: int) -> None:
        self.persona = persona
        self.rng = random.Random(f"student-{seed}-{persona.index}")
        self.walk = course_walk(persona.course, persona.task)
        self._logs = logs_by_node(persona.course)
        self._subjects = sorted(persona.course.feedback_subjects)
        self._sent = 0

    def _envelope(self, kind: str, t_ms: int, payload: dict[str, Any]) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "user": self.persona.user,
            "t": t_ms,
            "type": kind,
            "exp": self.persona.course.exp,
            "course": self.persona.course.course,
            "payload": payload,
        }
        if self.persona.hardware is not None:
            frame["hardware"] = self.persona.hardware
        return frame

    def next_frame(self, t_ms: int) -> tuple[str, dict[str, Any]]:
        """``(kind, frame)``; kind is ``command``, ``analytics``, ``log`` or ``feedback``.

        The first frame is always a command: a lab session starts at the hardware.
        """
        self._sent += 1
        draw = self.rng.random() if self._sent > 1 else 1.0
        if draw < FEEDBACK_SHARE:
            return "feedback", self._envelope("feedback", t_ms, self._feedback())
        if draw < FEEDBACK_SHARE + INTERACTION_SHARE:
            interaction = dict(self.rng.choice(INTERACTIONS))
            return "log", self._envelope("log", t_ms, interaction)
        if draw < FEEDBACK_SHARE + INTERACTION_SHARE + OTHER_ANALYTICS_SHARE:
            payload = {"log": self.rng.choice(NON_COMMAND_LOGS), "data": None}
            return "analytics", self._envelope("analytics", t_ms, payload)
        return "command", self._envelope("analytics", t_ms, self.command_payload())

    def command_payload(self) -> dict[str, Any]:
        node = self.walk.step(self.rng).node
        log = self.rng.choice(self._logs[node])
        if log in NO_DATA_LOGS:
            return {"log": log}
        data: Any = self.rng.choice(
            (round(self.rng.uniform(-10, 10), 2), str(self.rng.randint(0, 100)), None)
        )
        return {"log": log, "data": data}

    def _feedback(self) -> dict[str, Any]:
        invalid = self.rng.random() < FEEDBACK_INVALID_SHARE
        state = self.rng.choice(BAD_STATES if invalid else STATES)
        subject = self.rng.choice(BAD_SUBJECTS if invalid else self._subjects)
        payload: dict[str, Any] = {"state": state, "subject": subject}
        if subject == "Other":
            payload["input"] = "typed by a fake student of the load tester"
        return payload


def expected_contents(content: str) -> tuple[str, ...]:
    """The replies a request gets, in order (five for ``all_feedback``)."""
    return ALL_FEEDBACK_CONTENTS if content == "all_feedback" else (content,)


def request_frame(persona: Persona, content: str, request_id: str, t_ms: int) -> dict[str, Any]:
    """A dashboard's request; like the deployed one it sends no ``hardware``."""
    payload: dict[str, Any] = {"content": content}
    if content == "all_feedback":
        payload["graph"] = persona.graph
    elif content == "task_feedback":
        payload["task"] = persona.graph
    return {
        "user": persona.user,
        "t": t_ms,
        "type": "request",
        "exp": persona.course.exp,
        "course": persona.course.course,
        "id": request_id,
        "payload": payload,
    }
