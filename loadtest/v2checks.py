"""Is a v2 reply right? The page's wire rules, then the reference's exact values. Sans-io.

Two levels. ``shape_problem`` holds every reply to what breaks the real
pages (PROTOCOL-V2.md): an empty or missing ``nodes``, a centrality that is
not a number, duplicate edge ids, an ``ordered_actions`` pair that is no
edge, a string where a number is expected, a missing key. ``difference``
then compares the reply with ``V2Expected``'s, numbers to 1e-9 relative
(key order and the order of ``edges`` and ``nodes`` carry no meaning;
``ordered_actions`` and ``session_times`` are ordered). A problem is named
by endpoint and path, never by values, so the kinds a report counts stay
few; ``Verdict.detail`` keeps the values of one example.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any, Final

import attrs

from loadtest.v2reference import CourseFacts

REL_TOLERANCE: Final = 1e-9
GRAPHS: Final = frozenset({"studentGraph", "comparisonGraph"})
# The keys each reply must hold, and what each is: "number", "object", "list".
KEYS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "taskCompletion": (
        ("task_dissimilarity", "object"),
        ("task_completion", "object"),
        ("task_decision", "object"),
    ),
    "otherIndicators": (("indicators", "object"),),
    "taskExploration": (("task_exploration", "number"),),
    "usageStats": (
        ("interactionCounts", "object"),
        ("numLogs", "number"),
        ("session_dates", "list"),
        ("session_times", "list"),
    ),
    "getUserFeedback": (("feedback", "object"),),
}


@attrs.frozen
class Verdict:
    """A reply judged: fine (``problem`` None), or its problem and one example's values."""

    problem: str | None = None
    detail: str | None = None


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is(kind: str, value: object) -> bool:
    if kind == "number":
        return is_number(value)
    return isinstance(value, dict if kind == "object" else list)


def shape_problem(endpoint: str, reply: Any) -> str | None:
    """What in ``reply`` would break the page, or None."""
    if not isinstance(reply, dict):
        return "not a JSON object"
    problems = _graph_problems(reply) if endpoint in GRAPHS else _reply_problems(endpoint, reply)
    return next(problems, None)


# The checks below yield their first problem only: each runs once those above it passed.


def _reply_problems(endpoint: str, reply: Mapping[str, Any]) -> Iterator[str]:
    for key, kind in KEYS[endpoint]:
        if not _is(kind, reply.get(key)):
            yield f"$.{key} missing or not a {kind}"
    if endpoint == "otherIndicators" and not is_number(reply["indicators"].get("total_edges")):
        yield "$.indicators.total_edges missing or not a number"
    if endpoint == "taskCompletion":
        for key in ("task_dissimilarity", "task_completion"):
            if not all(map(is_number, reply[key].values())):
                yield f"$.{key}: a value that is not a number"
        if not all(isinstance(v, bool) for v in reply["task_decision"].values()):
            yield "$.task_decision: a value that is not a bool"
    if endpoint == "getUserFeedback":
        feedback = reply["feedback"]
        if not all(isinstance(feedback.get(key), dict) for key in ("difficulty", "completion")):
            yield "$.feedback.difficulty or .completion missing"


def _graph_problems(reply: Mapping[str, Any]) -> Iterator[str]:
    nodes = reply.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        yield "$.nodes missing or empty"
    if not all(isinstance(node, dict) and isinstance(node.get("id"), str) for node in nodes):
        yield "$.nodes: a node without an id"
    edges = reply.get("edges")
    if not isinstance(edges, list) or not all(isinstance(edge, dict) for edge in edges):
        yield "$.edges missing"
    ids = [edge.get("id") for edge in edges]
    if len(set(ids)) != len(ids):
        yield "$.edges: duplicate ids"
    for edge in edges:
        if edge.get("id") != f"{edge.get('from')}->{edge.get('to')}":
            yield "$.edges[].id is not <from>-><to>"
        if not is_number(edge.get("weight")) or edge.get("arrows") != "to":
            yield "$.edges[]: weight not a number, or arrows not 'to'"
        if not _labels_weight(edge):
            yield "$.edges[].label is not the weight"
    info = reply.get("node_info")
    centrality = info.get("in_centrality") if isinstance(info, dict) else None
    if not isinstance(centrality, dict) or set(centrality) != {node["id"] for node in nodes}:
        yield "$.node_info.in_centrality missing, or not of every node"
    if not all(map(is_number, centrality.values())):
        yield "$.node_info.in_centrality: a value that is not a number"
    actions = reply.get("ordered_actions")
    if not isinstance(actions, list):
        yield "$.ordered_actions missing"
    if not set(ids) >= {f"{a}->{b}" for a, b in pairwise(actions)}:
        yield "$.ordered_actions: a pair that is no edge"


def _labels_weight(edge: Mapping[str, Any]) -> bool:
    try:
        return float(edge["label"]) == edge["weight"]
    except (TypeError, ValueError):
        return False


def _differs(actual: Any, expected: Any, path: str) -> tuple[str, str] | None:
    """``(path, values)`` of the first difference, or None."""
    return next(_differences(actual, expected, path), None)


def _differences(actual: Any, expected: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            got = sorted(actual) if isinstance(actual, dict) else type(actual).__name__
            yield path, f"keys {got} != {sorted(expected)}"
        for key, value in expected.items():
            yield from _differences(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            size = len(actual) if isinstance(actual, list) else type(actual).__name__
            yield f"{path}[]", f"length {size} != {len(expected)}"
        for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
            if _differs(a, e, path) is not None:
                yield f"{path}[]", f"[{k}]: {a!r} != {e!r}"
    elif not _same_scalar(actual, expected):
        yield path, f"{actual!r} != {expected!r}"


def _same_scalar(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return actual == expected
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    return is_number(actual) and math.isclose(
        actual, expected, rel_tol=REL_TOLERANCE, abs_tol=1e-12
    )


def _edges_by_id(reply: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: {k: e[k] for k in ("from", "to", "weight", "arrows")} for e in reply["edges"]}


def difference(endpoint: str, reply: Mapping[str, Any], expected: Mapping[str, Any]) -> Verdict:
    """``reply`` (of a right shape) against the reference's; the first difference."""
    if endpoint in GRAPHS:
        actual = dict(reply) | {"edges": _edges_by_id(reply)}
        actual["nodes"] = sorted(f"{n['id']} labelled {n.get('label')}" for n in reply["nodes"])
        wanted = dict(expected)
        wanted["nodes"] = sorted(f"{n['id']} labelled {n['label']}" for n in expected["nodes"])
        if endpoint == "comparisonGraph":  # its trail is checked against the task graph
            actual.pop("ordered_actions", None)
        found = _differs(actual, wanted, "$")
    else:
        found = _differs(reply, expected, "$")
    if found is None:
        return Verdict()
    path, values = found
    return Verdict(f"{endpoint}: {path} differs from the reference", f"{path}: {values}")


def trail_problem(actions: list[str], facts: CourseFacts, task: str) -> str | None:
    """A comparison graph's ``ordered_actions`` against its task graph: every pair an edge,
    no pair more often than its weight, and exactly the weights when an Euler trail exists."""
    index = {node: i for i, node in enumerate(facts.nodes)}
    matrix = facts.tasks[task]
    try:
        pairs = Counter((index[a], index[b]) for a, b in pairwise(actions))
    except KeyError:
        return "$.ordered_actions names a node the course does not have"
    weights = {(i, j): w for i, row in enumerate(matrix) for j, w in enumerate(row) if w}
    if any(n > weights.get(pair, 0) for pair, n in pairs.items()):
        return "$.ordered_actions uses a pair more often than its weight"
    if has_euler_trail(weights) and pairs != Counter(weights):
        return "$.ordered_actions is no Euler trail of the task graph"
    return None


def has_euler_trail(weights: Mapping[tuple[int, int], float]) -> bool:
    """Whether a walk uses every edge exactly its (whole) weight: the edges connected
    (as undirected), and at most one surplus start and one surplus end of one each."""
    if not weights:
        return True
    balance: Counter[int] = Counter()
    links: dict[int, set[int]] = {}
    for (i, j), w in weights.items():
        balance[i] += int(w)
        balance[j] -= int(w)
        links.setdefault(i, set()).add(j)
        links.setdefault(j, set()).add(i)
    seen, todo = set(), [next(iter(links))]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(links[node] - seen)
    surplus = sorted(v for v in balance.values() if v)
    return seen == set(links) and surplus in ([], [-1, 1])
