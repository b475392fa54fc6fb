"""A v2 statement or feedback body as an event of a session, beside the v1 frames.

The HTTP routes decode a body (``decode_statement``, ``decode_user_feedback``)
and the query's identity; these classes put them together the way a v1 frame
carries its envelope, so that the router, the writer and the store handle
both generations alike: one user's line, one commit buffer, one table. The
stored payload is the body exactly as it came (``raw``); the stored row's
``type`` is ``TYPE``, so a replay knows how to decode it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeAlias

from attrs import frozen

from messages.statements import Statement
from messages.user_feedback import UserFeedback


@frozen
class StatementEvent:
    """One ``addLog`` statement of ``(user, exp, course)``; ``t`` is its timestamp."""

    TYPE: ClassVar[str] = "statement"

    user: str
    exp: str  # the query's hardware: the lab kind
    course: str  # as the client sent it (an alias stays an alias)
    payload: Statement
    hardware: str | None = None  # the kit (``spin30``) named inside the statement

    @property
    def t(self) -> int:
        return self.payload.timestamp


@frozen
class UserFeedbackEvent:
    """One ``submitUserFeedback`` body; ``t`` is when we received it (it names no time)."""

    TYPE: ClassVar[str] = "user_feedback"

    user: str
    exp: str
    course: str
    payload: UserFeedback
    t: int
    hardware: str | None = None


V2Event: TypeAlias = StatementEvent | UserFeedbackEvent
V2_EVENT_CLASSES: Final = (StatementEvent, UserFeedbackEvent)


def v2_payload_json(event: V2Event) -> Mapping[str, Any]:
    """What the store keeps of a v2 event: the body as it came."""
    return event.payload.raw
