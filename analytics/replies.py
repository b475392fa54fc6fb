"""Answers to dashboard requests, built from a student snapshot (pure).

``Replier`` holds one ``CourseView`` per course of the catalog, computed once
at start-up, and turns a ``Request`` plus the requesting user's snapshot into
the replies of PROTOCOL.md: a list, because ``all_feedback`` is answered with
five messages, each a reply or an error reply standing in for it.
"""

from __future__ import annotations

from collections.abc import Callable

from analytics.course_view import CourseView, StudentSnapshot
from courses import Catalog
from messages import (
    AllFeedbackRequest,
    CentroidsReply,
    CentroidsRequest,
    ComparisonGraphReply,
    ComparisonGraphRequest,
    ErrorCode,
    ErrorReply,
    IndicatorsReply,
    IndicatorsRequest,
    OutboundMessage,
    Request,
    StudentGraphReply,
    StudentGraphRequest,
    TaskFeedbackReply,
    TaskFeedbackRequest,
    TaskIdentificationReply,
    TaskIdentificationRequest,
    reply_envelope,
)

Part = Callable[[Request, CourseView | None, StudentSnapshot | None], OutboundMessage]


class Replier:
    """Builds every reply of PROTOCOL.md; one per service, shared by the workers."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._views = {key: CourseView(course) for key, course in catalog.courses.items()}
        self._parts: dict[type, tuple[Part, ...]] = {
            StudentGraphRequest: (self._student_graph,),
            ComparisonGraphRequest: (self._comparison_graph,),
            TaskIdentificationRequest: (self._task_identification,),
            IndicatorsRequest: (self._indicators,),
            CentroidsRequest: (self._centroids,),
            TaskFeedbackRequest: (self._task_feedback,),
            AllFeedbackRequest: (
                self._student_graph,
                self._comparison_graph,
                self._task_identification,
                self._indicators,
                self._centroids,
            ),
        }

    def view(self, exp: str, course: str) -> CourseView | None:
        return self._views.get((exp, course))

    def answer(self, request: Request, student: StudentSnapshot | None) -> list[OutboundMessage]:
        """The replies to ``request``, in order; ``student`` None means nothing sent yet."""
        view = self.view(request.exp, request.course)
        if view is not None and student is None:
            student = view.empty_snapshot()
        return [part(request, view, student) for part in self._parts[type(request.payload)]]

    def _unknown_course(self, request: Request) -> ErrorReply:
        known = ", ".join(sorted(f"{exp}-{course}" for exp, course in self._views))
        return ErrorReply(
            ErrorCode.UNKNOWN_COURSE,
            f"no course {request.exp!r}/{request.course!r} is defined; known: {known}",
            user=request.user,
            id=request.id,
        )

    def _unknown_graph(self, request: Request, name: str | None, why: str = "") -> ErrorReply:
        return ErrorReply(
            ErrorCode.UNKNOWN_GRAPH,
            f"no comparison graph {name!r}{why}",
            user=request.user,
            id=request.id,
        )

    def _student_graph(
        self, request: Request, view: CourseView | None, student: StudentSnapshot | None
    ) -> OutboundMessage:
        if view is None or student is None:
            return self._unknown_course(request)
        drawn = view.student_graph(student)
        return StudentGraphReply(
            **reply_envelope(request),
            nodes=drawn["nodes"],
            edges=drawn["edges"],
            in_centrality=drawn["in_centrality"],
        )

    def _comparison_graph(
        self, request: Request, view: CourseView | None, student: StudentSnapshot | None
    ) -> OutboundMessage:
        name = request.payload.graph  # type: ignore[union-attr]  # both parts carry graph
        found = self.catalog.find_graph(name) if name is not None else None
        if found is None:
            return self._unknown_graph(request, name)
        course, task = found
        drawn = self._views[(course.exp, course.course)].comparison_graph(task)
        return ComparisonGraphReply(
            **reply_envelope(request),
            nodes=drawn["nodes"],
            edges=drawn["edges"],
            in_centrality=drawn["in_centrality"],
        )

    def _task_identification(
        self, request: Request, view: CourseView | None, student: StudentSnapshot | None
    ) -> OutboundMessage:
        if view is None or student is None:
            return self._unknown_course(request)
        return TaskIdentificationReply(
            **reply_envelope(request), tasks=view.task_identification(student)
        )

    def _indicators(
        self, request: Request, view: CourseView | None, student: StudentSnapshot | None
    ) -> OutboundMessage:
        if view is None or student is None:
            return self._unknown_course(request)
        return IndicatorsReply(**reply_envelope(request), **view.indicators(student))

    def _centroids(
        self, request: Request, view: CourseView | None, student: StudentSnapshot | None
    ) -> OutboundMessage:
        if view is None or student is None:
            return self._unknown_course(request)
        return CentroidsReply(**reply_envelope(request), centroids=view.centroids(student))

    def _task_feedback(
        self, request: Request, view: CourseView | None, student: StudentSnapshot | None
    ) -> OutboundMessage:
        if view is None or student is None:
            return self._unknown_course(request)
        name = request.payload.task  # type: ignore[union-attr]
        found = self.catalog.find_graph(name)
        if found is None:
            return self._unknown_graph(request, name)
        course, task = found
        if course.nodes != view.course.nodes:
            return self._unknown_graph(
                request, name, f": its nodes are not those of {view.course.key}"
            )
        return TaskFeedbackReply(
            **reply_envelope(request), **view.task_feedback(student, course.tasks[task])
        )
