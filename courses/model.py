"""Lab courses as immutable data.

A course is read from a file (see ``comparison_graphs/README.md``) so that adding a course
or a task is an edit to data, never to code. Everything here is frozen (tuples, read-only
mappings, read-only arrays) so one ``Catalog`` can be shared by every trio task without
locks or defensive copies. This module does no I/O: loaders live in ``courses.files`` and
``courses.legacy`` and all of them funnel through ``courses.validation.course_from_mapping``,
the one place that decides what a valid course is.
"""

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import attrs
import numpy as np

# v2 ``task_decision``: a task counts as done from this share of its transitions on.
DEFAULT_COMPLETION_THRESHOLD: Final = 0.8


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

    Build it with ``courses.validation.course_from_mapping`` (which validates); the
    constructor only freezes.
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
    full_task: str | None
    feedback_subjects: frozenset[str] = attrs.field(converter=frozenset)
    tasks: Mapping[str, np.ndarray] = attrs.field(
        converter=_frozen_tasks, eq=attrs.cmp_using(eq=_same_tasks), hash=False, repr=_tasks_repr
    )
    aliases: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    # None: the service's setting (LA_COMPLETION_THRESHOLD, default 0.8).
    completion_threshold: float | None = None
    _stacked: np.ndarray = attrs.field(init=False, eq=False, hash=False, repr=False)
    _node_index: Mapping[str, int] = attrs.field(init=False, eq=False, hash=False, repr=False)

    @_stacked.default
    def _stack_tasks(self) -> np.ndarray:
        # Computed once here so that distance to every task is one vectorised call.
        n = len(self.nodes)
        stacked = (
            np.stack(list(self.tasks.values())) if self.tasks else np.zeros((0, n, n), np.float64)
        )
        stacked.flags.writeable = False
        return stacked

    @_node_index.default
    def _index_nodes(self) -> Mapping[str, int]:
        return MappingProxyType({node: i for i, node in enumerate(self.nodes)})

    @property
    def key(self) -> str:
        return f"{self.exp}-{self.course}"

    @property
    def node_index(self) -> Mapping[str, int]:
        """Node name -> its row and column in every matrix; shared by all students."""
        return self._node_index

    def task_of(self, name: str) -> str | None:
        """The task code that graph name ``<exp>-<code>-<task>`` names, if any.

        ``code`` may be the course code or one of its aliases (v2 names tasks with the
        code as requested); ``None`` for any other name.
        """
        for code in (self.course, *self.aliases):
            prefix = f"{self.exp}-{code}-"
            if name.startswith(prefix) and name[len(prefix) :] in self.tasks:
                return name[len(prefix) :]
        return None

    def graph_name(self, task: str) -> str:
        return f"{self.exp}-{self.course}-{task}"

    @property
    def full_graph(self) -> np.ndarray:
        """The graph of the whole lab; an all-zero graph for a course with no task graphs
        (a lab kind whose comparison graphs are not made yet: nothing is expected)."""
        if self.full_task is None:
            n = len(self.nodes)
            empty = np.zeros((n, n), np.float64)
            empty.flags.writeable = False
            return empty
        return self.tasks[self.full_task]

    @property
    def stacked(self) -> np.ndarray:
        """All task matrices as one read-only (k, n, n) array, in task order."""
        return self._stacked


def _index_codes(catalog: "Catalog") -> Mapping[tuple[str, str], Course]:
    """(exp, course code or alias) -> course; an alias may not name two courses of one exp."""
    codes: dict[tuple[str, str], Course] = dict(catalog.courses)
    for course in catalog.courses.values():
        for alias in course.aliases:
            other = codes.setdefault((course.exp, alias), course)
            if other is not course:
                raise CourseError(
                    f"catalog: {course.key}: aliases: {alias!r} already names course {other.key!r}"
                )
    return MappingProxyType(codes)


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
    _codes: Mapping[tuple[str, str], Course] = attrs.field(
        init=False, eq=False, hash=False, repr=False, default=attrs.Factory(_index_codes, True)
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
        """The course with exactly this code (v1: aliases are not course codes there)."""
        return self.courses.get((exp, course))

    def resolve(self, exp: str, code: str) -> Course | None:
        """The course named ``code`` or by an alias ``code`` (v2 requests: ``ed1``)."""
        return self._codes.get((exp, code))

    def find_graph(self, name: str) -> tuple[Course, str] | None:
        """``"<exp>-<course>-<task>"`` -> (course, task code), or None if no course has it."""
        return self._graphs.get(name)
