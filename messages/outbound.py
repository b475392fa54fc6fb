"""Outbound messages: responses to requests and the error reply.

A response goes out as ``{"user", "type": "response", "exp", "course",
"content", <fields>, "id"?}`` (PROTOCOL.md, "Responses"). The classes hold
the values; ``messages.encoding.encode`` writes the wire shape, including the
nesting the dashboard expects (``node_info.in_centrality``,
``indicators``, ``feedback``).

Node, edge and centroid values are built by ``analytics`` already in wire
shape and are passed through as they are: copying or re-validating them
would cost most of the encode budget. Undefined numbers may be ``nan``
anywhere in them; the encoder writes ``null``.

Every class is keyword-only: the replies have several same-typed fields
(``user``, ``exp``, ``course``), and a positional mix-up would go out on
the wire unnoticed.
"""

from typing import Any, ClassVar, Self, TypeAlias

from attrs import field, frozen

from messages.errors import DecodeError, ErrorCode
from messages.inbound import Request

__all__ = [
    "CentroidsReply",
    "ComparisonGraphReply",
    "ErrorReply",
    "IndicatorsReply",
    "OutboundMessage",
    "Reply",
    "StudentGraphReply",
    "TaskFeedbackReply",
    "TaskIdentificationReply",
    "reply_envelope",
]


def reply_envelope(request: Request) -> dict[str, Any]:
    """The envelope fields every reply to ``request`` carries.

    Use as ``StudentGraphReply(**reply_envelope(request), nodes=...)`` so
    that ``user``, ``exp``, ``course`` and ``id`` are always copied alike.
    """
    return {
        "user": request.user,
        "exp": request.exp,
        "course": request.course,
        "id": request.id,
    }


@frozen(kw_only=True)
class _Response:
    """The envelope every response carries; ``id`` only when the request had one."""

    user: str
    exp: str
    course: str
    id: str | int | None = None


@frozen(kw_only=True)
class _GraphReply(_Response):
    """A drawn graph: vis-network nodes and edges, and in-centrality per node."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    in_centrality: dict[str, float]


@frozen(kw_only=True)
class StudentGraphReply(_GraphReply):
    """The student's graph: every node of the course, even with no edges."""

    CONTENT: ClassVar[str] = "student_graph"


@frozen(kw_only=True)
class ComparisonGraphReply(_GraphReply):
    """A comparison graph, drawn like the student's."""

    CONTENT: ClassVar[str] = "comparison_graph"


@frozen(kw_only=True)
class TaskIdentificationReply(_Response):
    """Distance to each task graph, keyed ``<exp>-<course>-<task>``; ``None`` if undefined."""

    CONTENT: ClassVar[str] = "task_identification"
    tasks: dict[str, float | None]


@frozen(kw_only=True)
class IndicatorsReply(_Response):
    """Exploration and share of expected edges (``None`` if undefined), enjoyment."""

    CONTENT: ClassVar[str] = "indicators"
    exploration: float | None
    enjoyment: int
    edges: float | None


@frozen(kw_only=True)
class CentroidsReply(_Response):
    """Centroids, already wire-shaped by analytics.

    Keys ``student``, the course's task keys, ``all`` (each ``[x, y]``,
    ``[None, None]`` when undefined) and ``vertices`` (``[{name, x, y}]``).
    Kept as one plain dict because the task keys depend on the course.
    """

    CONTENT: ClassVar[str] = "centroids"
    centroids: dict[str, Any]


@frozen(kw_only=True)
class TaskFeedbackReply(_Response):
    """Edges of the task graph the student never used, or used less often."""

    CONTENT: ClassVar[str] = "task_feedback"
    hardware: list[str]
    hardware_freq: list[str]
    transition: list[str]
    transition_freq: list[str]


@frozen
class ErrorReply:
    """``{"type": "error", "user"?, "id"?, "error": {"code", "message"}}``.

    ``user`` and ``id`` are left out of the wire when ``None``: a frame
    whose user could not be read gets an error without one.
    """

    # Converted so that a plain "bad_json" is checked against the table at
    # construction, not discovered on the wire.
    code: ErrorCode = field(converter=ErrorCode)
    message: str
    user: str | None = None
    id: str | int | None = None

    @classmethod
    def from_decode_error(cls, error: DecodeError) -> Self:
        """The reply to a frame that failed to decode, echoing what could be read."""
        return cls(error.code, error.message, user=error.user, id=error.request_id)


Reply: TypeAlias = (
    StudentGraphReply
    | ComparisonGraphReply
    | TaskIdentificationReply
    | IndicatorsReply
    | CentroidsReply
    | TaskFeedbackReply
)
OutboundMessage: TypeAlias = Reply | ErrorReply
