"""One session key's v2 state: what its statements and feedback submissions built.

A session key is ``(user, hardware, course as requested)`` (PROTOCOL-V2.md). This is
the state an actor keeps in memory for it, pure like ``analytics.progress``: the
caller decides when to apply what, and when to persist ``to_record()``. Reads go
through ``snapshot()``, an immutable copy made at most once per change.

The ``null`` user (a browser without a user name) gets no state at all: the caller
stores such statements as research data and answers reads with an empty snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from analytics.course_view import StudentSnapshot
from analytics.feedback import feedback_score
from analytics.timeline import ORDERED_ACTIONS_MAX, ActionTimeline
from analytics.usage import UsageTally
from courses import Course
from messages import (
    AffectiveState,
    Statement,
    UserCompletion,
    UserDifficulty,
    UserFeedback,
)

RECORD_FORMAT: Final = 1


@attrs.frozen
class V2Snapshot:
    """An immutable copy of one session key's v2 state: everything the replies read.

    ``ordered_actions`` holds node indices, a byte each (the latest
    ``ORDERED_ACTIONS_MAX``); ``difficulty`` and ``completion`` are keyed by the
    course's task codes (``1-core``), the replies name them as requested.
    ``student`` is the same state for the v1 analytics (``CourseView``): the
    transition counts and the feedback tally, affective states included.
    """

    matrix: npt.NDArray[np.int64] = attrs.field(eq=False)
    ordered_actions: bytes
    verbs: Mapping[str, int]
    num_logs: int
    session_starts: tuple[int, ...]
    difficulty: Mapping[str, int]
    completion: Mapping[str, bool]
    feedback: Mapping[tuple[str, str], int]
    student: StudentSnapshot = attrs.field(init=False, eq=False, repr=False)

    @student.default
    def _student(self) -> StudentSnapshot:
        return StudentSnapshot(self.matrix, self.feedback)

    @property
    def transitions(self) -> int:
        return int(self.matrix.sum())

    @classmethod
    def empty(cls, n_nodes: int) -> V2Snapshot:
        """The state of a key with no statements (or of the ``null`` user)."""
        matrix = np.zeros((n_nodes, n_nodes), dtype=np.int64)
        matrix.flags.writeable = False
        return cls(matrix, b"", {}, 0, (), {}, {}, {})


@attrs.define
class Submitted:
    """What ``submitUserFeedback`` gave one session key: made by its first submission.

    Most keys never get one; three empty tables each would cost them ~220 bytes.
    """

    difficulty: dict[str, int] = attrs.Factory(dict)
    completion: dict[str, bool] = attrs.Factory(dict)
    feedback: Counter[tuple[str, str]] = attrs.Factory(Counter)


class V2Session:
    """Statements and feedback submissions of one session key on one course.

    ``version`` grows with every change that can alter a reply, so readers can cache
    what they derive from a version.
    """

    __slots__ = (
        "_submitted",
        "course",
        "timeline",
        "usage",
        "version",
    )

    def __init__(self, course: Course) -> None:
        self.course = course
        self.version = 0
        self.timeline = ActionTimeline(len(course.nodes))
        self.usage = UsageTally()
        self._submitted: Submitted | None = None

    def add_statement(self, statement: Statement) -> None:
        """Count one ``addLog`` statement, in any arrival order.

        Its verb and timestamp go to the usage; its graph node, if the course knows
        it, to the timeline. An unknown node is skipped: the transition runs from
        the action before it to the action after it.
        """
        self.usage.add(statement.verb, statement.timestamp)
        node = self.course.node_index.get(statement.graph_node or "")
        if node is not None:
            self.timeline.add(statement.timestamp, node, statement.verb, statement.object_id)
        self._changed()

    def add_user_feedback(self, feedback: UserFeedback) -> None:
        """Apply one ``submitUserFeedback`` body.

        An affective state joins the feedback tally (v1's, so enjoyment is the
        same). Completion and difficulty keep the last value per task; ``None``
        (``"NA"``) unsets a difficulty. Task codes that name no task of this course
        (under its code or an alias) are left out: the page lists the course's
        tasks, and an unknown code must not grow the state.
        """
        if self._submitted is None:
            self._submitted = Submitted()
        submitted = self._submitted
        if isinstance(feedback, AffectiveState):
            # Only what scores is tallied, as in CourseProgress.add_feedback.
            if feedback_score(feedback.state, feedback.subject, self.course.feedback_subjects):
                submitted.feedback[(feedback.state, feedback.subject)] += 1
        elif isinstance(feedback, UserCompletion):
            for name, done in feedback.tasks.items():
                task = self.course.task_of(name)
                if task is not None:
                    submitted.completion[task] = done
        elif isinstance(feedback, UserDifficulty):
            for name, difficulty in feedback.tasks.items():
                task = self.course.task_of(name)
                if task is None:
                    continue
                if difficulty is None:
                    submitted.difficulty.pop(task, None)
                else:
                    submitted.difficulty[task] = difficulty
        self._changed()

    def snapshot(self) -> V2Snapshot:
        """An immutable view of the current state, made anew at each call (not kept).

        A read is an HTTP request (a millisecond or more); keeping the view
        between reads cost every user with a v2 dashboard ~1 KB (issue 13.3).
        """
        submitted = self._submitted or Submitted()
        return V2Snapshot(
            matrix=self.timeline.matrix,
            ordered_actions=self.timeline.ordered_actions(ORDERED_ACTIONS_MAX),
            verbs=MappingProxyType(dict(self.usage.verbs)),
            num_logs=self.usage.num_logs,
            session_starts=tuple(self.usage.session_starts),
            difficulty=MappingProxyType(dict(submitted.difficulty)),
            completion=MappingProxyType(dict(submitted.completion)),
            feedback=MappingProxyType(dict(submitted.feedback)),
        )

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record from which ``from_record`` rebuilds this exact state."""
        submitted = self._submitted or Submitted()
        return {
            "format": RECORD_FORMAT,
            "version": self.version,
            "nodes": list(self.course.nodes),
            "timeline": self.timeline.to_record(),
            "usage": self.usage.to_record(),
            "difficulty": dict(submitted.difficulty),
            "completion": dict(submitted.completion),
            "feedback": [[state, subject, n] for (state, subject), n in submitted.feedback.items()],
        }

    @classmethod
    def from_record(cls, course: Course, record: Mapping[str, Any]) -> V2Session:
        """Rebuild from ``to_record()`` output; raises ``ValueError`` on a bad record,
        or one made when the course had other nodes (its indices would be wrong)."""
        session = cls(course)
        try:
            if record["format"] != RECORD_FORMAT:
                raise ValueError(f"record format {record['format']!r}, expected {RECORD_FORMAT}")
            if tuple(record["nodes"]) != course.nodes:
                raise ValueError(f"made for nodes {record['nodes']!r}, not {course.key}'s")
            session.timeline = ActionTimeline.from_record(len(course.nodes), record["timeline"])
            session.usage = UsageTally.from_record(record["usage"])
            submitted = Submitted(
                {str(t): int(v) for t, v in record["difficulty"].items()},
                {str(t): bool(v) for t, v in record["completion"].items()},
                Counter({(state, subject): int(n) for state, subject, n in record["feedback"]}),
            )
            if submitted != Submitted():
                session._submitted = submitted
            session.version = int(record["version"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad v2 session record: {exc!r}") from exc
        return session

    def _changed(self) -> None:
        self.version += 1
