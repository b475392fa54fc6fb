"""The v2 dashboard's replies (PROTOCOL-V2.md "Reading"), built from a ``V2Snapshot``.

Pure: a ``V2Replier`` is built once from the catalog (everything that does not depend
on the student is computed then, the comparison graphs and their trails included)
and answers ``(endpoint, identity, snapshot)`` with a status and a JSON-able object.
The objects are exactly the protocol's; numbers are plain floats and ints, never
NaN, and the dashboard's pages break on anything else (see "What breaks the real
pages"). Shared parts of replies (node lists, comparison graphs) are not copied:
callers encode replies, they never mutate them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from analytics.course_view import CourseView
from analytics.distance import total_edges
from analytics.euler import euler_trail
from analytics.graph import in_centrality
from analytics.timeline import ORDERED_ACTIONS_MAX
from analytics.usage import session_dates_and_times
from analytics.v2_session import V2Snapshot
from courses import Catalog, Course
from courses.model import DEFAULT_COMPLETION_THRESHOLD
from messages import ErrorCode, Identity

Reply = dict[str, Any]


@attrs.frozen
class V2Answer:
    """An HTTP status and the JSON object to send with it."""

    status: int
    body: Reply


def error_object(code: ErrorCode, message: str) -> Reply:
    """The v1 error object, ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code.value, "message": message}}


def _number(weight: float) -> int | float:
    """A count as the page shows it: ``2``, not ``2.0``; a mean keeps its fraction."""
    return int(weight) if float(weight).is_integer() else float(weight)


def graph_reply(
    hardware: str, nodes: Sequence[str], node_list: list[Reply], matrix: npt.ArrayLike
) -> Reply:
    """``studentGraph`` without ``ordered_actions``: every node, the edges, centrality."""
    rows = np.asarray(matrix).tolist()
    edges = [
        {
            "id": f"{nodes[i]}->{nodes[j]}",
            "from": nodes[i],
            "to": nodes[j],
            "weight": _number(weight),
            "label": str(_number(weight)),
            "arrows": "to",
        }
        for i, row in enumerate(rows)
        for j, weight in enumerate(row)
        if weight
    ]
    return {
        "hardware": hardware,
        "nodes": node_list,
        "edges": edges,
        "node_info": {"in_centrality": in_centrality(rows, nodes)},
    }


class V2CourseView:
    """One course as the v2 replies see it; shared by every code naming it."""

    def __init__(
        self, course: Course, *, default_threshold: float = DEFAULT_COMPLETION_THRESHOLD
    ) -> None:
        self.course = course
        self.default_threshold = default_threshold
        self.nodes = course.nodes
        self.view = CourseView(course)
        self._node_list = [{"id": node, "label": node} for node in course.nodes]
        stacked = course.stacked
        self._task_sums = stacked.sum(axis=(1, 2))
        self._outside_full = course.full_graph == 0
        self._empty = V2Snapshot.empty(len(course.nodes))
        self.comparisons = {
            task: {
                **graph_reply(course.exp, self.nodes, self._node_list, graph),
                "ordered_actions": self.names(euler_trail(graph)[:ORDERED_ACTIONS_MAX]),
            }
            for task, graph in course.tasks.items()
        }

    def names(self, indices: Sequence[int]) -> list[str]:
        return [self.nodes[i] for i in indices]

    def empty_snapshot(self) -> V2Snapshot:
        return self._empty

    def student_graph(self, student: V2Snapshot) -> Reply:
        reply = graph_reply(self.course.exp, self.nodes, self._node_list, student.matrix)
        reply["ordered_actions"] = self.names(student.ordered_actions)
        return reply

    def task_completion(self, student: V2Snapshot, code: str) -> Reply:
        """Distance, share done and decision per task; three empty maps before a transition."""
        if not student.transitions:
            return {"task_dissimilarity": {}, "task_completion": {}, "task_decision": {}}
        names = [f"{self.course.exp}-{code}-{task}" for task in self.course.tasks]
        distances = self.view.task_identification(student.student).values()
        done = np.minimum(student.matrix, self.course.stacked).sum(axis=(1, 2))
        # An all-zero task graph expects nothing measurable: 0, never NaN.
        sums = self._task_sums
        shares = np.divide(done, sums, out=np.zeros(len(sums)), where=sums > 0).tolist()
        own = self.course.completion_threshold
        threshold = self.default_threshold if own is None else own
        return {
            "task_dissimilarity": dict(zip(names, map(float, distances), strict=True)),
            "task_completion": dict(zip(names, shares, strict=True)),
            "task_decision": {
                name: share >= threshold for name, share in zip(names, shares, strict=True)
            },
        }

    def other_indicators(self, student: V2Snapshot) -> Reply:
        """100 x the student's transitions over the full graph's; 0 with no full graph."""
        share = total_edges(student.matrix, self.course.full_graph)
        return {"indicators": {"total_edges": 0.0 if math.isnan(share) else share}}

    def task_exploration(self, student: V2Snapshot) -> Reply:
        """100 x the share of the student's transitions on edges the full graph lacks."""
        total = student.transitions
        outside = int(student.matrix[self._outside_full].sum())
        return {"task_exploration": 100.0 * outside / total if total else 0.0}

    def usage_stats(self, student: V2Snapshot, tz: dt.tzinfo) -> Reply:
        dates, times = session_dates_and_times(student.session_starts, tz)
        return {
            "interactionCounts": dict(student.verbs),
            "numLogs": student.num_logs,
            "session_dates": dates,
            "session_times": times,
        }

    def user_feedback(self, student: V2Snapshot, code: str) -> Reply:
        prefix = f"{self.course.exp}-{code}-"
        return {
            "feedback": {
                "difficulty": {prefix + task: v for task, v in student.difficulty.items()},
                "completion": {prefix + task: v for task, v in student.completion.items()},
            }
        }


_Part = Callable[["V2CourseView", V2Snapshot, str], Reply]
ENDPOINTS: Final = (
    "studentGraph",
    "comparisonGraph",
    "taskCompletion",
    "otherIndicators",
    "taskExploration",
    "usageStats",
    "getUserFeedback",
)


class V2Replier:
    """Every v2 read reply of the catalog's courses; one per service, shared by workers.

    ``tz`` is the service's time zone for session dates and times (default UTC);
    ``threshold`` the completion from which a task counts as done, for courses
    whose file sets none.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        tz: dt.tzinfo = dt.UTC,
        threshold: float = DEFAULT_COMPLETION_THRESHOLD,
    ) -> None:
        self.catalog = catalog
        self.tz = tz
        self._views = {
            key: V2CourseView(course, default_threshold=threshold)
            for key, course in catalog.courses.items()
        }
        self._parts: Mapping[str, _Part] = {
            "studentGraph": lambda view, s, code: view.student_graph(s),
            "taskCompletion": V2CourseView.task_completion,
            "otherIndicators": lambda view, s, code: view.other_indicators(s),
            "taskExploration": lambda view, s, code: view.task_exploration(s),
            "usageStats": lambda view, s, code: view.usage_stats(s, self.tz),
            "getUserFeedback": V2CourseView.user_feedback,
        }

    def view(self, hardware: str, code: str) -> V2CourseView | None:
        """The course ``code`` (or an alias) of lab kind ``hardware`` names, if any."""
        course = self.catalog.resolve(hardware, code)
        return None if course is None else self._views[(course.exp, course.course)]

    def answer(
        self,
        endpoint: str,
        identity: Identity,
        student: V2Snapshot | None,
        *,
        taskcode: str | None = None,
    ) -> V2Answer:
        """The reply to ``GET <th>/<endpoint>``; ``student`` None: no statements yet.

        ``404`` with an error object for an unknown course or task code. The ``null``
        user is answered as a student with no statements.

        Raises:
            ValueError: ``endpoint`` is not one of ``ENDPOINTS``.
        """
        if endpoint not in ENDPOINTS:  # the router's bug: it routes ENDPOINTS only
            raise ValueError(f"no v2 endpoint {endpoint!r}; endpoints: {', '.join(ENDPOINTS)}")
        view = self.view(identity.hardware, identity.course)
        if view is None:
            message = f"no course {identity.course!r} for hardware {identity.hardware!r}"
            return V2Answer(404, error_object(ErrorCode.UNKNOWN_COURSE, message))
        if endpoint == "comparisonGraph":
            task = None if taskcode is None else view.course.task_of(taskcode)
            if task is None:
                message = f"no task graph {taskcode!r} in course {identity.course!r}"
                return V2Answer(404, error_object(ErrorCode.UNKNOWN_GRAPH, message))
            return V2Answer(200, view.comparisons[task])
        if student is None or identity.anonymous:
            student = view.empty_snapshot()
        return V2Answer(200, self._parts[endpoint](view, student, identity.course))
