"""What a valid course is: ``course_from_mapping`` checks plain data (parsed JSON) and freezes it.

Every loader (our JSON files, the legacy CSV layout) funnels through here, so one set of
rules decides, and every error names the source (file) and the field. No I/O.
"""

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import attrs
import numpy as np

from courses.model import Course, CourseError, Vertex

# Every field of a course file; "about" is free text for people and is not kept.
REQUIRED_FIELDS = (
    "exp",
    "course",
    "nodes",
    "log_to_command",
    "positions",
    "centroid_vertices",
    "centroid_keys",
    "full_task",
    "feedback_subjects",
    "tasks",
)
# "aliases" are other codes requests may name the course by (v2 dashboards say "ed1");
# "completion_threshold" is when v2 says a task is done (default 0.8).
OPTIONAL_FIELDS = ("about", "aliases", "completion_threshold")
# A student's v2 actions are kept one byte each (``analytics.timeline``), so a node index
# must fit in a byte. Real labs have 6 to 9 nodes.
MAX_NODES = 256
# Ids end up in file names ("<exp>-<course>.json", "<exp>-<course>-<task>.csv").
PATH_SEPARATORS = ("/", "\\")


def _fail(source: str, field: str, problem: str) -> NoReturn:
    raise CourseError(f"{source}: {field}: {problem}")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


@attrs.frozen
class _Checker:
    """Type checks that report ``source: field: problem``."""

    source: str

    def fail(self, field: str, problem: str) -> NoReturn:
        _fail(self.source, field, problem)

    def mapping(self, value: object, field: str) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            self.fail(field, f"must be an object, got {type(value).__name__}")
        return value

    def sequence(self, value: object, field: str) -> Sequence[Any]:
        if not _is_list(value):
            self.fail(field, f"must be a list, got {type(value).__name__}")
        return value  # type: ignore[return-value]

    def text(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(field, f"must be a non-empty string, got {value!r}")
        return value

    def ident(self, value: object, field: str, *, dashes: bool) -> str:
        text = self.text(value, field)
        if not text.isprintable():
            self.fail(field, f"{text!r} contains unprintable characters")
        if any(sep in text for sep in PATH_SEPARATORS):
            self.fail(field, f"{text!r} contains a path separator")
        if not dashes and "-" in text:
            self.fail(field, f"{text!r} contains '-', which separates exp, course and task")
        return text

    def number(self, value: object, field: str) -> float:
        if not _is_number(value):
            self.fail(field, f"must be a number, got {value!r}")
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number):
            self.fail(field, f"{value!r} is not a finite number")
        return number

    def known_node(self, value: object, field: str, nodes: Sequence[str]) -> str:
        node = self.text(value, field)
        if node not in nodes:
            self.fail(field, f"{node!r} is not one of the nodes")
        return node


def _nodes(check: _Checker, value: object) -> tuple[str, ...]:
    nodes = tuple(
        check.text(node, f"nodes[{i}]") for i, node in enumerate(check.sequence(value, "nodes"))
    )
    if not nodes:
        check.fail("nodes", "must list at least one node")
    if len(nodes) > MAX_NODES:
        check.fail("nodes", f"lists {len(nodes)} nodes, at most {MAX_NODES} (one byte each)")
    for i, node in enumerate(nodes):
        if node in nodes[:i]:
            check.fail(f"nodes[{i}]", f"{node!r} is listed twice")
    return nodes


def _matrix(check: _Checker, value: object, field: str, nodes: Sequence[str]) -> list[list[float]]:
    n = len(nodes)
    rows = check.sequence(value, field)
    if len(rows) != n:
        check.fail(field, f"has {len(rows)} rows, expected {n} (one per node)")
    matrix = []
    for i, row in enumerate(rows):
        if not _is_list(row):
            check.fail(field, f"row {i} ({nodes[i]}) must be a list, got {type(row).__name__}")
        if len(row) != n:
            check.fail(field, f"row {i} ({nodes[i]}) has {len(row)} entries, expected {n}")
        for j, entry in enumerate(row):
            where = f"row {i} ({nodes[i]}), column {j} ({nodes[j]})"
            if not _is_number(entry) or not math.isfinite(entry):
                check.fail(field, f"{where}: {entry!r} is not a finite number")
            if entry < 0:
                check.fail(field, f"{where}: {entry!r} is negative; counts are >= 0")
        matrix.append([float(entry) for entry in row])
    return matrix


def _positions(
    check: _Checker, value: object, nodes: Sequence[str]
) -> dict[str, tuple[float, float]]:
    positions = {}
    for node, xy in check.mapping(value, "positions").items():
        field = f"positions[{node!r}]"
        check.known_node(node, field, nodes)
        if not _is_list(xy) or len(xy) != 2:
            check.fail(field, f"must be [x, y], got {xy!r}")
        positions[node] = (check.number(xy[0], field), check.number(xy[1], field))
    missing = [node for node in nodes if node not in positions]
    if missing:
        check.fail("positions", f"missing for node(s) {', '.join(map(repr, missing))}")
    return positions


def _vertices(check: _Checker, value: object, nodes: Sequence[str]) -> list[Vertex]:
    vertices: list[Vertex] = []
    for i, item in enumerate(check.sequence(value, "centroid_vertices")):
        field = f"centroid_vertices[{i}]"
        entry = check.mapping(item, field)
        if set(entry) != {"name", "x", "y"}:
            check.fail(field, f"must have exactly the keys name, x, y; got {sorted(entry)}")
        name = check.known_node(entry["name"], f"{field}.name", nodes)
        if any(vertex.name == name for vertex in vertices):
            check.fail(f"{field}.name", f"{name!r} has two vertices")
        x, y = check.number(entry["x"], f"{field}.x"), check.number(entry["y"], f"{field}.y")
        vertices.append(Vertex(name, x, y))
    return vertices


def _subjects(check: _Checker, value: object) -> list[str]:
    subjects: list[str] = []
    for i, item in enumerate(check.sequence(value, "feedback_subjects")):
        subject = check.text(item, f"feedback_subjects[{i}]")
        if subject in subjects:
            check.fail(f"feedback_subjects[{i}]", f"{subject!r} is listed twice")
        subjects.append(subject)
    return subjects


def _aliases(check: _Checker, value: object, course: str) -> list[str]:
    aliases: list[str] = []
    for i, item in enumerate(check.sequence(value, "aliases")):
        field = f"aliases[{i}]"
        alias = check.ident(item, field, dashes=False)
        if alias == course or alias in aliases:
            check.fail(field, f"{alias!r} is already a code of this course")
        aliases.append(alias)
    return aliases


def _full_task(check: _Checker, value: object, tasks: Mapping[str, Any]) -> str | None:
    """The full task's code; ``null`` exactly when the course has no task graphs yet."""
    if not tasks:
        if value is not None:
            check.fail("full_task", f"must be null: the course has no task graphs, got {value!r}")
        return None
    full_task = check.text(value, "full_task")
    if full_task not in tasks:
        check.fail("full_task", f"{full_task!r} is not a task code of this course")
    return full_task


def _threshold(check: _Checker, value: object) -> float:
    if value is None:
        return None
    threshold = check.number(value, "completion_threshold")
    if not 0 < threshold <= 1:
        check.fail("completion_threshold", f"{value!r} is not a share in (0, 1]")
    return threshold


def course_from_mapping(data: Mapping[str, Any], *, source: str) -> Course:
    """Validate a course given as plain data (parsed JSON) and freeze it.

    ``source`` names where the data came from; it starts every error message.
    """
    check = _Checker(source)
    check.mapping(data, "(course)")
    for field in REQUIRED_FIELDS:
        if field not in data:
            check.fail(field, "is missing")
    for field in data:
        if field not in REQUIRED_FIELDS + OPTIONAL_FIELDS:
            check.fail(str(field), f"is not a course field (fields: {', '.join(REQUIRED_FIELDS)})")
    exp = check.ident(data["exp"], "exp", dashes=False)
    course = check.ident(data["course"], "course", dashes=False)
    nodes = _nodes(check, data["nodes"])

    command_of = {}
    for log, node in check.mapping(data["log_to_command"], "log_to_command").items():
        field = f"log_to_command[{log!r}]"
        command_of[check.text(log, field)] = check.known_node(node, field, nodes)

    tasks = {}
    for task, matrix in check.mapping(data["tasks"], "tasks").items():
        check.ident(task, f"tasks[{task!r}]", dashes=True)
        tasks[task] = _matrix(check, matrix, f"tasks[{task!r}]", nodes)

    centroid_keys = {}
    for key, task in check.mapping(data["centroid_keys"], "centroid_keys").items():
        field = f"centroid_keys[{key!r}]"
        centroid_keys[check.text(key, field)] = check.text(task, field)
        if task not in tasks:
            check.fail(field, f"{task!r} is not a task code of this course")
    full_task = _full_task(check, data["full_task"], tasks)

    return Course(
        exp=exp,
        course=course,
        nodes=nodes,
        command_of=command_of,
        positions=_positions(check, data["positions"], nodes),
        centroid_vertices=_vertices(check, data["centroid_vertices"], nodes),
        centroid_keys=centroid_keys,
        full_task=full_task,
        feedback_subjects=_subjects(check, data["feedback_subjects"]),
        tasks=tasks,
        aliases=_aliases(check, data.get("aliases", ()), course),
        completion_threshold=_threshold(check, data.get("completion_threshold")),
    )
