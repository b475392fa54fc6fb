"""Error codes of the wire and the one exception the codec raises.

The codes are the ``error.code`` values of an error reply (PROTOCOL.md,
"Errors are answered"). They live in one table so that the actors, the
analytics replies and the codec all spell them the same way.
"""

from enum import StrEnum

__all__ = ["DecodeError", "ErrorCode"]


class ErrorCode(StrEnum):
    """Every ``error.code`` the service writes, and when.

    ==================  ===========================================================
    code                sent when
    ==================  ===========================================================
    ``bad_json``        the frame is not JSON text (unparsable, invalid UTF-8)
    ``invalid_message`` it is JSON but not a message we know: not an object,
                        unknown or missing ``type``/``content``, a field of the
                        wrong type, or an id outside its limits
    ``unknown_course``  a request names an ``exp``/``course`` with no definition
    ``unknown_graph``   a comparison graph or task name that no course defines
    ``forbidden``       the connection may not do this (authorisation, planned)
    ``overloaded``      the service sheds this request to protect the others
    ``too_large``       a frame or a request exceeds a size limit
    ``internal_error``  a bug on our side; the details are in the service log
    ==================  ===========================================================

    A ``StrEnum`` so that a code compares equal to its wire string and
    serialises as one without a hook.
    """

    BAD_JSON = "bad_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_COURSE = "unknown_course"
    UNKNOWN_GRAPH = "unknown_graph"
    FORBIDDEN = "forbidden"
    OVERLOADED = "overloaded"
    TOO_LARGE = "too_large"
    INTERNAL_ERROR = "internal_error"


class DecodeError(Exception):
    """A frame that could not be turned into a message.

    It is the only exception ``messages.decode`` raises, so the connection
    actor needs one ``except`` to answer any bad frame and keep the
    connection open.

    Attributes:
        code: ``bad_json`` or ``invalid_message``.
        problems: one readable line per problem, each ending in ``@ <path>``
            (``"required field missing @ $.payload.graph"``). They name
            paths and expected types, never echo the client's values at
            length, so they are safe to send back and to log.
        message: the problems joined by ``"; "``: the ``error.message`` of
            the reply.
        user: the frame's ``user`` if it could be read and is a valid id,
            so that the error reply can name it; else ``None``.
        request_id: the frame's ``id`` if it could be read and is valid,
            so that the error reply can echo it; else ``None``.
        message_type: the frame's ``type`` if it is a known tag, else
            ``None``. In relay mode only requests are answered with errors,
            so the actor needs to know whether the bad frame was one.
        is_reply: the frame is a ``response`` or ``error``: on a relay,
            another client's reply, to be ignored rather than answered.
    """

    def __init__(
        self,
        code: ErrorCode,
        problems: list[str],
        *,
        user: str | None = None,
        request_id: str | int | None = None,
        message_type: str | None = None,
        is_reply: bool = False,
    ) -> None:
        self.code = code
        self.problems = problems
        self.message = "; ".join(problems)
        self.user = user
        self.request_id = request_id
        self.message_type = message_type
        self.is_reply = is_reply
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"DecodeError(code={self.code.value!r}, problems={self.problems!r})"
