"""Lab courses as immutable data, and the one place that decides what a valid course is.

A course is read from a file (see ``comparison_graphs/README.md``) so that adding a course
or a task is an edit to data, never to code. Everything here is frozen (tuples, read-only
mappings, read-only arrays) so one ``Catalog`` can be shared by every trio task without
locks or defensive copies. This module does no I/O: loaders live in ``courses.files`` and
``courses.legacy`` and all of them funnel through ``course_from_mapping``.
"""

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn

import attrs
import numpy as np

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
OPTIONAL_FIELDS = ("about",)
# Ids end up in file names ("<exp>-<course>.json", "<exp>-<course>-<task>.csv").
PATH_SEPARATORS = ("/", "\\")


class CourseError(ValueError):
    """A course source is wrong; the message names the source (file) and the field."""


@attrs.frozen
class Vertex:
    """A centroid anchor: where one node pulls the student's centre of mass."""

    name: str
    x: float = attrs.field(converter=float)
    y: float = attrs.field(converter=float)


def _frozen_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


def _frozen_positions(value: Mapping[str, Iterable[float]]) -> Mapping[str, tuple[float, float]]:
    def point(xy: Iterable[float]) -> tuple[float, float]:
        x, y = xy
        return (float(x), float(y))

    return MappingProxyType({node: point(xy) for node, xy in value.items()})


def _frozen_array(value: Any) -> np.ndarray:
    array = np.array(value, dtype=np.float64)  # always a copy: nobody else holds a handle
    array.flags.writeable = False
    return array


def _frozen_tasks(value: Mapping[str, Any]) -> Mapping[str, np.ndarray]:
    return MappingProxyType({task: _frozen_array(matrix) for task, matrix in value.items()})


def _same_tasks(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    """Task order matters (it is the key order of replies), and arrays need array_equal."""
    return list(a) == list(b) and all(np.array_equal(a[task], b[task]) for task in a)


def _tasks_repr(tasks: Mapping[str, np.ndarray]) -> str:
    return f"<{len(tasks)} tasks: {', '.join(tasks)}>"


@attrs.frozen
class Course:
    """Everything the service knows about one course of one lab type.

    Build it with ``course_from_mapping`` (which validates); the constructor only freezes.
    """

    exp: str
    course: str
    nodes: tuple[str, ...] = attrs.field(converter=tuple)
    command_of: Mapping[str, str] = attrs.field(converter=_frozen_mapping, hash=False)
    positions: Mapping[str, tuple[float, float]] = attrs.field(
        converter=_frozen_positions, hash=False
    )
    centroid_vertices: tuple[Vertex, ...] = attrs.field(converter=tuple)
    centroid_keys: Mapping[str, str] = attrs.field(converter=_frozen_mapping, hash=False)
    full_task: str
    feedback_subjects: frozenset[str] = attrs.field(converter=frozenset)
    tasks: Mapping[str, np.ndarray] = attrs.field(
        converter=_frozen_tasks, eq=attrs.cmp_using(eq=_same_tasks), hash=False, repr=_tasks_repr
    )
    _stacked: np.ndarray = attrs.field(init=False, eq=False, hash=False, repr=False)

    @_stacked.default
    def _stack_tasks(self) -> np.ndarray:
        # Computed once here so that distance to every task is one vectorised call.
        n = len(self.nodes)
        stacked = (
            np.stack(list(self.tasks.values())) if self.tasks else np.zeros((0, n, n), np.float64)
        )
        stacked.flags.writeable = False
        return stacked

    @property
    def key(self) -> str:
        return f"{self.exp}-{self.course}"

    def graph_name(self, task: str) -> str:
        return f"{self.exp}-{self.course}-{task}"

    @property
    def full_graph(self) -> np.ndarray:
        return self.tasks[self.full_task]

    @property
    def stacked(self) -> np.ndarray:
        """All task matrices as one read-only (k, n, n) array, in task order."""
        return self._stacked


def _index_graphs(catalog: "Catalog") -> Mapping[str, tuple[Course, str]]:
    graphs: dict[str, tuple[Course, str]] = {}
    for key, course in catalog.courses.items():
        if key != (course.exp, course.course):
            raise CourseError(f"catalog: courses[{key!r}]: holds course {course.key!r}")
        for task in course.tasks:
            name = course.graph_name(task)
            if name in graphs:
                other, other_task = graphs[name]
                raise CourseError(
                    f"catalog: {course.key}: tasks[{task!r}]: graph name {name!r} is also "
                    f"{other.key} task {other_task!r}"
                )
            graphs[name] = (course, task)
    return MappingProxyType(graphs)


@attrs.frozen
class Catalog:
    """All courses the service serves, with an O(1) index from graph name to task."""

    courses: Mapping[tuple[str, str], Course] = attrs.field(converter=_frozen_mapping, hash=False)
    _graphs: Mapping[str, tuple[Course, str]] = attrs.field(
        init=False, eq=False, hash=False, repr=False, default=attrs.Factory(_index_graphs, True)
    )

    @classmethod
    def of(cls, courses: Iterable[Course], *, sources: Sequence[str] | None = None) -> "Catalog":
        """Index ``courses``, refusing two with the same (exp, course).

        ``sources`` (parallel to ``courses``) lets the error name both files.
        """
        by_key: dict[tuple[str, str], Course] = {}
        seen_in: dict[tuple[str, str], str] = {}
        for index, course in enumerate(courses):
            source = sources[index] if sources is not None else f"course #{index}"
            key = (course.exp, course.course)
            if key in by_key:
                raise CourseError(
                    f"{source}: exp/course: course {course.key!r} is already defined by "
                    f"{seen_in[key]}"
                )
            by_key[key] = course
            seen_in[key] = source
        return cls(by_key)

    def course(self, exp: str, course: str) -> Course | None:
        return self.courses.get((exp, course))

    def find_graph(self, name: str) -> tuple[Course, str] | None:
        """``"<exp>-<course>-<task>"`` -> (course, task code), or None if no course has it."""
        return self._graphs.get(name)


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
    if not tasks:
        check.fail("tasks", "must hold at least one task")

    centroid_keys = {}
    for key, task in check.mapping(data["centroid_keys"], "centroid_keys").items():
        field = f"centroid_keys[{key!r}]"
        centroid_keys[check.text(key, field)] = check.text(task, field)
        if task not in tasks:
            check.fail(field, f"{task!r} is not a task code of this course")
    full_task = check.text(data["full_task"], "full_task")
    if full_task not in tasks:
        check.fail("full_task", f"{full_task!r} is not a task code of this course")

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
    )
