"""One user's progress on one course, updated event by event.

This is the state a session actor keeps in memory: transition counts (one
conversion per command event, so a request never pays for history) and a
tally of feedback. It is pure: the actor decides when to call it and when to
persist ``to_record()``.

Both generations of clients feed the same progress (PROTOCOL-V2.md: one
session per ``(user, exp, course)``). v1 commands are counted in arrival order
by the old rule; v2 statements, once a user sends one, in timestamp order by
a ``V2Session`` beside it (the two rules cannot share one chain). Every reply,
v1 or v2, sees the sum of both counts and one feedback tally; the v2 step view
(``ordered_actions``), usage and task feedback come from the statements.

Memory (issue 13.3): every active user holds one of these per course, so
they hold no more than their own counts. Objects have ``__slots__``; the
feedback tally exists from the first entry that scores; the course keys and
feedback keys are tuples shared by every user (``shared_pair``); a snapshot
is built per request and not kept (building one costs 3-8 microseconds on
a busy 2-core machine, against ~50 for all_feedback's replies; keeping one
cost 500-900 bytes per user). A v2 snapshot likewise (a read is an HTTP
request; keeping both views cost ~2 KB per user with a v2 dashboard).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

import attrs
import numpy as np
import numpy.typing as npt
import orjson

from analytics.course_view import StudentSnapshot
from analytics.feedback import feedback_score
from analytics.transitions import TransitionCounter, UiEvent
from analytics.v2_session import V2Session, V2Snapshot
from courses import Catalog, Course
from messages import (
    NULL_USERNAME,
    V2_EVENT_CLASSES,
    AffectiveState,
    AnalyticsEvent,
    Event,
    LogEvent,
    Request,
    Statement,
    StatementEvent,
    UserFeedback,
    UserFeedbackEvent,
    V2Event,
    decode,
    decode_statement,
    decode_user_feedback,
)

# The ``type`` of a stored v2 row (a v1 frame's is its own: analytics, log, feedback).
STATEMENT_TYPE: Final = StatementEvent.TYPE
USER_FEEDBACK_TYPE: Final = UserFeedbackEvent.TYPE


class StoredEvent(Protocol):
    """A stored event as the store gives it back (``store.EventRow``)."""

    @property
    def user(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def exp(self) -> str: ...
    @property
    def course(self) -> str: ...
    @property
    def hardware(self) -> str | None: ...
    @property
    def t(self) -> int: ...
    @property
    def payload(self) -> Any: ...


@functools.lru_cache(maxsize=1024)
def shared_pair(first: str, second: str) -> tuple[str, str]:
    """One tuple for every user keyed by it: a course key, a feedback key.

    Called only with pairs the catalog knows (a defined course, a feedback
    entry that scores), so what it holds is bounded by the catalog.
    """
    return (sys.intern(first), sys.intern(second))


class CourseProgress:
    """Transition counts and feedback tallies of one user on one course.

    ``version`` grows with every change that can alter a reply, so readers can
    cache what they derive from a version.
    """

    __slots__ = ("_counter", "_feedback", "course", "v2", "version")

    def __init__(self, course: Course) -> None:
        self.course = course
        self.version = 0
        self._counter = TransitionCounter(course.nodes, course.command_of)
        # (state, subject) -> count; None until an entry scores (most users send none).
        self._feedback: dict[tuple[str, str], int] | None = None
        self.v2: V2Session | None = None  # made by the first statement: v1 users pay nothing

    @property
    def counts_shared(self) -> bool:
        """Whether the v1 counts cost this user nothing yet (the course's shared zeros)."""
        return self._counter.counts_shared

    def add_statement(self, statement: Statement) -> None:
        """Count a v2 ``addLog`` statement, in any arrival order (``V2Session``)."""
        self._statements().add_statement(statement)
        self._changed()

    def add_user_feedback(self, feedback: UserFeedback) -> None:
        """Apply a ``submitUserFeedback`` body; an affective state joins the one tally."""
        if isinstance(feedback, AffectiveState):
            self.add_feedback(feedback.state, feedback.subject)
            return
        self._statements().add_user_feedback(feedback)
        self._changed()

    def _statements(self) -> V2Session:
        if self.v2 is None:
            self.v2 = V2Session(self.course)
        return self.v2

    def add_command(self, event: UiEvent) -> None:
        """Count an ``analytics`` event (a command or not: the counter decides)."""
        self._counter.convert((event,))
        self._changed()

    def add_feedback(self, state: str, subject: str) -> None:
        """Tally a feedback entry that scores; the others are only stored (by the caller).

        An unknown state or subject scores 0, so leaving it out of the tally
        changes no reply, and the tally (and every snapshot of it) stays bounded
        by the course, not by what a client invents (issue 12, finding 4).
        """
        if feedback_score(state, subject, self.course.feedback_subjects):
            self._tally({shared_pair(state, subject): 1})
            self._changed()

    def _tally(self, counts: Mapping[tuple[str, str], int]) -> None:
        if self._feedback is None:
            self._feedback = {}
        feedback = self._feedback
        for key, n in counts.items():
            feedback[key] = feedback.get(key, 0) + n

    def import_legacy(self, matrix: npt.ArrayLike, events: Iterable[UiEvent]) -> None:
        """Start from the old service's adjacency ``matrix`` plus its unconverted log.

        The old service converted the whole unconverted log at once (sorted by
        ``t`` when it spans several hardware files), which one conversion does.
        """
        self._counter.restore(matrix, ())
        self._counter.convert(events)
        self._changed()

    def snapshot(self) -> StudentSnapshot:
        """An immutable view of the current state, made anew at each call (not kept)."""
        matrix = self._counter.matrix
        if self.v2 is not None:
            matrix = matrix + self.v2.timeline.matrix
        matrix.flags.writeable = False
        return StudentSnapshot(matrix, dict(self._feedback or ()))

    def v2_snapshot(self) -> V2Snapshot:
        """What the v2 replies read: the statements' state, with every count and the tally.

        Made anew at each call, like ``snapshot``.
        """
        own = self.v2.snapshot() if self.v2 is not None else V2Snapshot.empty(0)
        student = self.snapshot()
        return attrs.evolve(own, matrix=student.matrix, feedback=student.feedback)

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record from which ``from_record`` rebuilds this exact state."""
        record = {
            "version": self.version,
            "matrix": self._counter.matrix.tolist(),
            "pending": [list(event) for event in self._counter.pending],
            "feedback": [
                [state, subject, n] for (state, subject), n in (self._feedback or {}).items()
            ],
        }
        if self.v2 is not None:
            record["v2"] = self.v2.to_record()
        return record

    @classmethod
    def from_record(cls, course: Course, record: Mapping[str, Any]) -> CourseProgress:
        """Rebuild from ``to_record()`` output; raises ``ValueError`` on a bad record."""
        progress = cls(course)
        try:
            progress._counter.restore(
                np.asarray(record["matrix"], dtype=np.int64),
                (UiEvent(*event) for event in record["pending"]),
            )
            feedback = {
                shared_pair(state, subject): int(n) for state, subject, n in record["feedback"]
            }
            if feedback:
                progress._tally(feedback)
            progress.version = int(record["version"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad progress record: {exc}") from exc
        if "v2" in record:
            progress.v2 = V2Session.from_record(course, record["v2"])
        return progress

    def _changed(self) -> None:
        self.version += 1


class StudentProgress:
    """Everything one user has done, per ``(exp, course)``: a session actor's state.

    Only courses the catalog defines are tracked; events of other courses are
    still stored by the caller, they just have no graph to count into.
    """

    __slots__ = ("_catalog", "courses", "user")

    def __init__(self, user: str, catalog: Catalog) -> None:
        self.user = user
        self._catalog = catalog
        self.courses: dict[tuple[str, str], CourseProgress] = {}

    def apply(self, event: Event | V2Event, hardware: str | None = None) -> CourseProgress | None:
        """Apply one event in arrival order; returns the progress it changed, if any.

        ``hardware`` stands in for the event's when it names none (hub mode:
        the connection's stream).
        """
        if isinstance(event, V2_EVENT_CLASSES):
            return self.apply_v2(event.exp, event.course, event.payload)
        if isinstance(event, LogEvent):
            return None  # interaction logs never enter the graph (PROTOCOL.md)
        progress = self.course(event.exp, event.course)
        if progress is None:
            return None
        if isinstance(event, AnalyticsEvent):
            own = event.hardware
            progress.add_command(
                UiEvent(event.t, hardware if own is None else own, event.payload.log)
            )
        else:
            progress.add_feedback(event.payload.state, event.payload.subject)
        return progress

    def apply_v2(
        self, exp: str, code: str, item: Statement | UserFeedback
    ) -> CourseProgress | None:
        """Apply a v2 statement or feedback body of course ``code`` (an alias names the course).

        The progress is kept under the code as sent, like every stored row of
        it, so a snapshot covers exactly the rows of its key.
        """
        if self.user == NULL_USERNAME:
            return None  # a browser without a user name: research data, never a graph
        progress = self._resolved(exp, code)
        if progress is None:
            return None
        if isinstance(item, Statement):
            progress.add_statement(item)
        else:
            progress.add_user_feedback(item)
        return progress

    def _resolved(self, exp: str, code: str) -> CourseProgress | None:
        progress = self.courses.get((exp, code))
        if progress is None:
            definition = self._catalog.resolve(exp, code)
            if definition is None:
                return None
            progress = self.courses[shared_pair(exp, code)] = CourseProgress(definition)
        return progress

    def replay(self, stored: StoredEvent) -> None:
        """Apply an event as it was stored (``stored_message``); raises as it does."""
        message = stored_message(stored)
        if message is not None:
            self.apply(message)

    def course(self, exp: str, course: str) -> CourseProgress | None:
        """The progress on a defined course, created empty on first use."""
        key = (exp, course)
        progress = self.courses.get(key)
        if progress is not None and progress.course.course != course:
            return None  # an alias, made by v2 statements: v1 frames do not know aliases
        if progress is None:
            definition = self._catalog.course(exp, course)
            if definition is None:
                return None
            progress = self.courses[shared_pair(exp, course)] = CourseProgress(definition)
        return progress

    def snapshot(self, exp: str, course: str) -> StudentSnapshot | None:
        progress = self.courses.get((exp, course))
        return None if progress is None else progress.snapshot()

    def restore(self, records: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[str]:
        """Load saved records; returns a problem line for each one that was skipped."""
        problems = []
        for (exp, course), record in records.items():
            definition = self._catalog.resolve(exp, course)
            if definition is None:
                problems.append(f"{exp}-{course}: the course is no longer defined")
                continue
            try:
                progress = CourseProgress.from_record(definition, record)
                self.courses[shared_pair(exp, course)] = progress
            except ValueError as exc:
                problems.append(f"{exp}-{course}: {exc}")
        return problems


def stored_message(stored: StoredEvent) -> Event | V2Event | None:
    """The message an event was stored from, decoded again; None for a request.

    Raises ``DecodeError`` (or ``ValueError``) for a row that no longer
    decodes, e.g. one stored before a limit was added.
    """
    if stored.type == STATEMENT_TYPE:
        statement = decode_statement(orjson.dumps(stored.payload))
        return StatementEvent(stored.user, stored.exp, stored.course, statement, stored.hardware)
    if stored.type == USER_FEEDBACK_TYPE:
        feedback = decode_user_feedback(orjson.dumps(stored.payload))
        return UserFeedbackEvent(stored.user, stored.exp, stored.course, feedback, stored.t)
    frame = {
        "user": stored.user,
        "t": stored.t,
        "type": stored.type,
        "exp": stored.exp,
        "course": stored.course,
        "payload": stored.payload,
    }
    if stored.hardware is not None:
        frame["hardware"] = stored.hardware
    message = decode(orjson.dumps(frame))
    return None if isinstance(message, Request) else message
