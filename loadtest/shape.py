"""Is a reply what was asked for? Sans-io checks of one reply frame.

A load test that only counts frames would call a service that answers
garbage fast a success. Each reply is checked against the request it
answers: its position in the reply set (``all_feedback`` answers in a fixed
order), the envelope, the keys the dashboard reads, and the wire rules of
PROTOCOL.md (no ``NaN``, a number for every node's centrality, non-empty
``nodes``). Only shapes are checked, never the analytics' numbers: those
have golden tests of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson

INDICATOR_KEYS = ("exploration", "enjoyment", "edges")
FEEDBACK_KEYS = ("hardware", "hardware_freq", "transition", "transition_freq")


@attrs.frozen
class Ask:
    """A request in flight, as the checks need it: what each reply must be."""

    request_id: str
    content: str
    user: str
    exp: str
    course: str
    expected: tuple[str, ...]
    nodes: frozenset[str]
    graph_names: frozenset[str]


@attrs.frozen
class Verdict:
    """One reply judged: an error reply (its code), a wrong shape (why), or fine."""

    error_code: str | None = None
    problem: str | None = None


class _NaNFoundError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NaNFoundError(name)


def parse_frame(text: str | bytes) -> tuple[dict[str, Any] | None, str | None]:
    """``(frame, problem)``: the frame if it is a JSON object, and what is wrong with it.

    orjson refuses ``NaN`` and ``Infinity``; the stdlib parser is tried then,
    so that such a reply can still be matched to its request by ``id`` and
    counted as wrong rather than lost as unreadable.
    """
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            json.loads(text, parse_constant=_refuse_constant)
        except _NaNFoundError as found:
            frame = json.loads(text)
            problem = f"{found} on the wire (PROTOCOL.md: undefined numbers are null)"
            return (frame if isinstance(frame, dict) else None), problem
        except ValueError:
            return None, "not JSON"
        return None, "not JSON"
    if not isinstance(frame, dict):
        return None, "not a JSON object"
    return frame, None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _graph(ask: Ask, frame: Mapping[str, Any], *, every_node: bool) -> str | None:
    nodes = frame.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        return "nodes missing or empty (the dashboard then drops the edges)"
    if not all(isinstance(node, dict) and "id" in node for node in nodes):
        return "a node without an id"
    if not isinstance(frame.get("edges"), list):
        return "edges missing"
    info = frame.get("node_info")
    centrality = info.get("in_centrality") if isinstance(info, dict) else None
    if not isinstance(centrality, dict) or not all(map(_is_number, centrality.values())):
        return "node_info.in_centrality missing, or holding a value that is not a number"
    ids = {node["id"] for node in nodes}
    if every_node and (ids != ask.nodes or set(centrality) != ask.nodes):
        return "student_graph must list every node of the course, with its in_centrality"
    return None


def _tasks(ask: Ask, frame: Mapping[str, Any]) -> str | None:
    tasks = frame.get("tasks")
    if not isinstance(tasks, dict) or set(tasks) != ask.graph_names:
        return "tasks must hold one distance per comparison graph of the course"
    if not all(value is None or _is_number(value) for value in tasks.values()):
        return "a task distance that is neither a number nor null"
    return None


def _indicators(_: Ask, frame: Mapping[str, Any]) -> str | None:
    values = frame.get("indicators")
    if not isinstance(values, dict) or any(key not in values for key in INDICATOR_KEYS):
        return f"indicators must hold {', '.join(INDICATOR_KEYS)}"
    if type(values["enjoyment"]) is not int:
        return "indicators.enjoyment is not an integer"
    if not all(values[k] is None or _is_number(values[k]) for k in ("exploration", "edges")):
        return "an indicator that is neither a number nor null"
    return None


def _centroids(_: Ask, frame: Mapping[str, Any]) -> str | None:
    values = frame.get("centroids")
    if not isinstance(values, dict) or any(k not in values for k in ("student", "all", "vertices")):
        return "centroids must hold student, all and vertices"
    for key, point in values.items():
        if key == "vertices":
            continue
        if not (isinstance(point, list) and len(point) == 2):
            return f"centroid {key!r} is not [x, y] (an undefined one is [null, null])"
        if not all(v is None or _is_number(v) for v in point):
            return f"centroid {key!r} holds a value that is neither a number nor null"
    vertices = values["vertices"]
    if not isinstance(vertices, list) or not all(
        isinstance(v, dict) and {"name", "x", "y"} <= set(v) for v in vertices
    ):
        return "centroids.vertices must be a list of {name, x, y}"
    return None


def _task_feedback(_: Ask, frame: Mapping[str, Any]) -> str | None:
    values = frame.get("feedback")
    if not isinstance(values, dict) or any(
        not isinstance(values.get(key), list) for key in FEEDBACK_KEYS
    ):
        return f"feedback must hold the lists {', '.join(FEEDBACK_KEYS)}"
    return None


_BODY_CHECKS: dict[str, Callable[[Ask, Mapping[str, Any]], str | None]] = {
    "student_graph": lambda ask, frame: _graph(ask, frame, every_node=True),
    "comparison_graph": lambda ask, frame: _graph(ask, frame, every_node=False),
    "task_identification": _tasks,
    "indicators": _indicators,
    "centroids": _centroids,
    "task_feedback": _task_feedback,
}


def check_error(ask: Ask, frame: Mapping[str, Any]) -> Verdict:
    error = frame.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if not isinstance(code, str) or not isinstance(error.get("message"), str):  # type: ignore[union-attr]
        return Verdict(error_code=None, problem="error reply without error.code and message")
    if frame.get("user", ask.user) != ask.user:
        return Verdict(error_code=code, problem="error reply names another user")
    return Verdict(error_code=code)


def _envelope(ask: Ask, expected: str, frame: Mapping[str, Any]) -> str | None:
    if frame.get("type") != "response":
        return f"type {frame.get('type')!r}, expected 'response'"
    if frame.get("content") != expected:
        return f"reply is {frame.get('content')!r}, expected {expected!r}"
    if frame.get("user") != ask.user or frame.get("exp") != ask.exp:
        return f"{expected}: user or exp is not the one asked"
    # The original comparison_graph reply has no course; every other names it.
    if expected != "comparison_graph" and frame.get("course") != ask.course:
        return f"{expected}: course is not the one asked"
    return None


def check_reply(ask: Ask, position: int, frame: Mapping[str, Any]) -> Verdict:
    """Judge the ``position``-th reply (from 0) to ``ask``, already matched by ``id``."""
    if position >= len(ask.expected):
        return Verdict(problem=f"reply #{position + 1} to a request that gets {len(ask.expected)}")
    if frame.get("type") == "error":
        return check_error(ask, frame)
    expected = ask.expected[position]
    problem = _envelope(ask, expected, frame)
    if problem is None:
        body = _BODY_CHECKS[expected](ask, frame)
        problem = None if body is None else f"{expected}: {body}"
    return Verdict(problem=problem)
