"""Inbound messages: what lab UIs and dashboards send (PROTOCOL.md, "Inbound").

Every frame is an envelope (``user``, ``t``, ``type``, ``exp``, ``course``,
``hardware``) around a ``payload`` whose shape depends on ``type``; a
request's payload is in turn tagged by ``content``. The tags are class
constants (``TYPE``, ``CONTENT``) so that the codec builds its dispatch
table from the classes and a tag is spelled in exactly one place.

The classes only hold data. Decoding, validation and limits live in
``messages.codec``: attrs validators would report errors without the
field's path (cattrs#440).
"""

import enum
from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeAlias

from attrs import field, frozen

__all__ = [
    "ABSENT",
    "Absent",
    "AllFeedbackRequest",
    "AnalyticsEvent",
    "AnalyticsPayload",
    "CentroidsRequest",
    "ComparisonGraphRequest",
    "Event",
    "FeedbackEvent",
    "FeedbackPayload",
    "InboundMessage",
    "IndicatorsRequest",
    "LogEvent",
    "LogPayload",
    "Request",
    "RequestPayload",
    "StudentGraphRequest",
    "TaskFeedbackRequest",
    "TaskIdentificationRequest",
]


class Absent(enum.Enum):
    """The type of ``ABSENT``: a key that was not in the frame at all.

    ``payload.data`` must be stored as it came, and pendulum commands such
    as ``brake`` send no ``data`` while other UIs send ``"data": null``.
    ``None`` already means JSON ``null``, so absence needs its own value.
    An enum member is a typed singleton that survives copy and pickle.
    """

    ABSENT = "ABSENT"

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        """Falsy, like the ``None`` a reader would otherwise expect."""
        return False


ABSENT: Final = Absent.ABSENT


def _no_extra() -> dict[str, Any]:
    return {}


# --- Event payloads -----------------------------------------------------------


@frozen
class AnalyticsPayload:
    """A command the student gave the hardware (``{"log": "voltage", ...}``).

    ``data`` is opaque: a number, a numeric string such as ``"73"``,
    ``null``, an object, an array, or ``ABSENT`` when the key was missing.
    It is stored, never interpreted, so its shape is never validated.
    ``extra`` holds every other key of the payload, so nothing is lost.
    """

    log: str
    data: Any = ABSENT
    extra: Mapping[str, Any] = field(factory=_no_extra)


@frozen
class LogPayload:
    """An interaction event (the dashboard's ``analytics-interaction`` logs).

    Never part of the transition graph. These carry keys of their own,
    including a ``type`` key of the payload (``"mouseenter"``); those are
    in ``extra``. ``log`` is ``None`` when the key is missing or ``null``.
    """

    log: str | None = None
    extra: Mapping[str, Any] = field(factory=_no_extra)


@frozen
class FeedbackPayload:
    """How the student feels (``state``) about what (``subject``).

    ``input`` is the free text that comes with subject ``Other``; ``None``
    when missing or ``null``.
    """

    state: str
    subject: str
    input: str | None = None
    extra: Mapping[str, Any] = field(factory=_no_extra)


# --- Request payloads, tagged by ``content`` ------------------------------------


@frozen
class StudentGraphRequest:
    """The student's own transition graph."""

    CONTENT: ClassVar[str] = "student_graph"


@frozen
class ComparisonGraphRequest:
    """One comparison graph, by its full ``<exp>-<course>-<task>`` name."""

    CONTENT: ClassVar[str] = "comparison_graph"
    graph: str


@frozen
class TaskIdentificationRequest:
    """The distance from the student's graph to every task graph of the course."""

    CONTENT: ClassVar[str] = "task_identification"


@frozen
class IndicatorsRequest:
    """Exploration, enjoyment and share of the expected edges."""

    CONTENT: ClassVar[str] = "indicators"


@frozen
class CentroidsRequest:
    """Where the student's graph sits among the task centroids."""

    CONTENT: ClassVar[str] = "centroids"


@frozen
class TaskFeedbackRequest:
    """Which edges of the task graph ``task`` the student missed or underused."""

    CONTENT: ClassVar[str] = "task_feedback"
    task: str


@frozen
class AllFeedbackRequest:
    """The dashboard's poll: five replies, comparison graph ``graph`` included.

    ``graph`` is ``None`` when the dashboard did not send it; the comparison
    part is then answered with an ``unknown_graph`` error.
    """

    CONTENT: ClassVar[str] = "all_feedback"
    graph: str | None = None


RequestPayload: TypeAlias = (
    StudentGraphRequest
    | ComparisonGraphRequest
    | TaskIdentificationRequest
    | IndicatorsRequest
    | CentroidsRequest
    | TaskFeedbackRequest
    | AllFeedbackRequest
)

# --- Messages -------------------------------------------------------------------


@frozen(kw_only=True)
class _EventEnvelope:
    """The fields every stored event carries (PROTOCOL.md, "Inbound messages")."""

    user: str
    t: int
    exp: str
    course: str
    hardware: str | None = None


@frozen(kw_only=True)
class AnalyticsEvent(_EventEnvelope):
    """``type: "analytics"``: a command, counted in the transition graph.

    ``hardware`` is ``None`` when the frame had none (the dashboard never
    sends it; in hub mode the connection's path stands in for it).
    """

    TYPE: ClassVar[str] = "analytics"
    payload: AnalyticsPayload


@frozen(kw_only=True)
class LogEvent(_EventEnvelope):
    """``type: "log"``: stored for research, never counted."""

    TYPE: ClassVar[str] = "log"
    payload: LogPayload


@frozen(kw_only=True)
class FeedbackEvent(_EventEnvelope):
    """``type: "feedback"``: one emotion report, counted for enjoyment."""

    TYPE: ClassVar[str] = "feedback"
    payload: FeedbackPayload


@frozen(kw_only=True)
class Request:
    """``type: "request"``: a dashboard asks for analytics.

    ``t`` is optional here (a request is not stored as research data).
    ``id`` is the client's correlation id, echoed in every reply to it.
    """

    TYPE: ClassVar[str] = "request"
    user: str
    t: int | None = None
    exp: str
    course: str
    hardware: str | None = None
    id: str | int | None = None
    payload: RequestPayload


Event: TypeAlias = AnalyticsEvent | LogEvent | FeedbackEvent
InboundMessage: TypeAlias = AnalyticsEvent | LogEvent | FeedbackEvent | Request
