"""One course seen from the analytics side: what does not depend on the student
is computed once, what does is computed from a ``StudentSnapshot``.

The payloads returned here are already in wire shape (plain dicts, lists and
floats, ``nan`` where undefined); ``analytics.replies`` wraps them in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from analytics.distance import DistanceTable, DistanceWeights, total_edges
from analytics.feedback import feedback_score, task_feedback
from analytics.graph import centroid, vis_graph
from courses import Course

# The indicator "exploration" is task_distance against the full graph with
# these weights: only edges the student adds count (DESIGN.md, golden README).
EXPLORATION_WEIGHTS = DistanceWeights(a=0, b=10)
TASK_IDENTIFICATION_WEIGHTS = DistanceWeights()


@attrs.frozen
class StudentSnapshot:
    """An immutable copy of what one user has done on one course.

    ``matrix`` holds the transition counts (rows "from"); ``feedback`` counts
    each ``(state, subject)`` pair the user sent, so enjoyment needs no list
    that grows with history.
    """

    matrix: npt.NDArray[np.int64]
    feedback: Mapping[tuple[str, str], int] = attrs.field(factory=dict)


class CourseView:
    """Precomputed figures of ``course`` and the per-student payload builders."""

    def __init__(self, course: Course) -> None:
        self.course = course
        nodes = list(course.nodes)
        self._nodes = nodes
        self._positions = dict(course.positions)
        self._vertices = [{"name": v.name, "x": v.x, "y": v.y} for v in course.centroid_vertices]
        self._graph_names = [course.graph_name(task) for task in course.tasks]
        self._full = course.full_graph
        # One table answers task identification (every task graph) and the
        # exploration indicator (the full graph, last row) in a single pass.
        self._distances = DistanceTable(
            np.concatenate([course.stacked, self._full[np.newaxis]]),
            [TASK_IDENTIFICATION_WEIGHTS] * len(course.tasks) + [EXPLORATION_WEIGHTS],
        )
        self._last_distances: tuple[StudentSnapshot | None, list[float]] = (None, [])
        self._comparison = {
            task: vis_graph(graph, nodes, self._positions) for task, graph in course.tasks.items()
        }
        keys = dict(course.centroid_keys)
        if course.full_task is not None:  # a course with no task graphs has no "all"
            keys.setdefault("all", course.full_task)
        self._task_centroids = {
            key: list(centroid(course.tasks[task], nodes, self._vertices))
            for key, task in keys.items()
        }

    def student_graph(self, student: StudentSnapshot) -> dict[str, Any]:
        """Drawing data of the student's own graph: every node, even with no edges."""
        return vis_graph(student.matrix, self._nodes, self._positions)

    def comparison_graph(self, task: str) -> dict[str, Any]:
        """Drawing data of one task graph; shared and never mutated, so not copied."""
        return self._comparison[task]

    def task_identification(self, student: StudentSnapshot) -> dict[str, float]:
        """Distance to every comparison graph of the course, keyed by full graph name."""
        distances = self._distances_of(student)[:-1]
        return dict(zip(self._graph_names, distances, strict=True))

    def indicators(self, student: StudentSnapshot) -> dict[str, float | int]:
        """Exploration, enjoyment and the share of the full graph's edges made."""
        return {
            "exploration": self._distances_of(student)[-1],
            "enjoyment": self.enjoyment(student),
            "edges": total_edges(student.matrix, self._full),
        }

    def _distances_of(self, student: StudentSnapshot) -> list[float]:
        """The distance row of ``student``; all_feedback asks twice for the same snapshot."""
        last, distances = self._last_distances
        if last is not student:
            distances = self._distances(student.matrix).tolist()
            self._last_distances = (student, distances)
        return distances

    def enjoyment(self, student: StudentSnapshot) -> int:
        subjects = self.course.feedback_subjects
        return sum(
            count * feedback_score(state, subject, subjects)
            for (state, subject), count in student.feedback.items()
        )

    def centroids(self, student: StudentSnapshot) -> dict[str, Any]:
        """The student's centre of mass, then each task's, then the vertices."""
        return {
            "student": list(centroid(student.matrix, self._nodes, self._vertices)),
            **self._task_centroids,
            "vertices": self._vertices,
        }

    def task_feedback(self, student: StudentSnapshot, graph: npt.ArrayLike) -> dict[str, list[str]]:
        """What to do more of to match ``graph`` (a task graph on this course's nodes)."""
        return task_feedback(student.matrix, graph, self._nodes)

    def empty_snapshot(self) -> StudentSnapshot:
        """The state of a user who has sent nothing on this course yet."""
        n = len(self._nodes)
        return StudentSnapshot(np.zeros((n, n), dtype=np.int64))
