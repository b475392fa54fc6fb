"""Decoding: a frame's text to a typed message (``decode``), or a readable ``DecodeError``.

The converter and the tag table are ``messages.converter``'s; encoding is
``messages.encoding``'s.

Decoding is a two-level tagged union (STYLE.md): the ``type`` tag, and for
requests ``payload.content``, are read by hand first, because cattrs' own
tagged unions report an unknown tag as "required field missing @ $" and
collide with the payload's own ``type`` key (cattrs#483). The pair
``(type, content)`` selects a structuring function from ``STRUCTURERS``.
That function structures the envelope and then the payload as the selected
class in one pass, so every error keeps its full path
(``... @ $.payload.graph``) and a frame is walked once.
"""

from typing import Any, Final

from cattrs import BaseValidationError, transform_error

from messages._body import TOO_DEEP, parse_object, too_deep
from messages._structure import describe_problem
from messages.converter import MESSAGE_TYPES, REQUEST_CONTENTS, STRUCTURERS, Structurer
from messages.errors import DecodeError, ErrorCode
from messages.inbound import ABSENT, AnalyticsEvent, AnalyticsPayload, InboundMessage, Request
from messages.limits import (
    MAX_JSON_DEPTH,
    IdLimitError,
    check_course,
    check_exp,
    check_hardware,
    check_request_id,
    check_t,
    check_user,
)

# A tag echoed in an error message is cut to this length: enough to spot a
# typo, not enough to bounce a 64 KiB string back to the client.
_ECHO_MAX_CHARS: Final = 40

# Stands for a key that is not in the frame, where ``None`` would mean null.
_MISSING: Final = object()


# --- Decoding ----------------------------------------------------------------------


def decode(frame: str | bytes) -> InboundMessage:
    """Parse and validate one frame.

    Returns an ``AnalyticsEvent``, ``LogEvent``, ``FeedbackEvent`` or
    ``Request``. Unknown keys are tolerated: top-level ones are dropped,
    payload ones are kept in ``payload.extra`` (events only).

    Raises:
        DecodeError: and nothing else. ``code`` is ``bad_json`` when the
            frame is not JSON text (including invalid UTF-8), and
            ``invalid_message`` for anything else: not an object, an
            unknown or missing tag, a field of the wrong type, an id
            outside its limits. Its ``user`` and ``request_id`` are filled
            in when they could be read, for the error reply.
    """
    raw = parse_object(frame)
    # A payload the store could not write again (orjson writes 254 levels, reads
    # 1024) is refused here, before anything is applied. Counting brackets is C
    # speed and clears every ordinary frame without walking it.
    if _may_be_too_deep(frame) and too_deep(raw):
        raise DecodeError(
            ErrorCode.INVALID_MESSAGE,
            [TOO_DEEP],
            user=_readable_user(raw),
            request_id=_readable_request_id(raw),
        )

    fast = _common_command(raw)
    if fast is not None:
        return fast
    return _structured(raw)


def _may_be_too_deep(frame: str | bytes) -> bool:
    if isinstance(frame, str):
        return frame.count("[") + frame.count("{") > MAX_JSON_DEPTH
    return frame.count(b"[") + frame.count(b"{") > MAX_JSON_DEPTH


def _structured(raw: dict[str, Any]) -> InboundMessage:
    """The full path: cattrs structuring with every check and a readable error."""
    structure, problem = _select_structurer(raw)
    if structure is not None:
        try:
            return structure(raw)
        except (BaseValidationError, ValueError, TypeError, KeyError) as exc:
            # Detailed validation groups every field error in one
            # ClassValidationError; the plain ones are there in case a hook
            # fails outside a class, which still must not escape as a crash.
            problems = transform_error(exc, path="$", format_exception=describe_problem)
    else:
        problems = [problem]
    raise DecodeError(
        ErrorCode.INVALID_MESSAGE,
        problems,
        user=_readable_user(raw),
        request_id=_readable_request_id(raw),
        message_type=raw["type"] if raw.get("type") in MESSAGE_TYPES else None,
        is_reply=raw.get("type") in REPLY_TYPES,
    ) from None


_COMMAND_KEYS = frozenset({"log", "data"})


def _common_command(raw: dict[str, Any]) -> AnalyticsEvent | None:
    """The lab UIs' command frame, built without cattrs, or None to take the full path.

    Most of the traffic is this one shape; building it by hand halves the
    cost of ``decode``. Anything unusual (another type, a wrong type, an id
    out of its limits, extra payload keys) returns None, and the full path
    decides, errors included. A property test checks both paths agree.
    """
    payload = raw.get("payload")
    if raw.get("type") != "analytics" or type(payload) is not dict:
        return None
    user, t, exp, course = raw.get("user"), raw.get("t"), raw.get("exp"), raw.get("course")
    hardware, log = raw.get("hardware"), payload.get("log")
    if not (
        type(user) is str
        and type(t) is int
        and type(exp) is str
        and type(course) is str
        and type(log) is str
        and (hardware is None or type(hardware) is str)
        and _COMMAND_KEYS.issuperset(payload)
    ):
        return None
    try:
        check_user(user)
        check_t(t)
        check_exp(exp)
        check_course(course)
        if hardware is not None:
            check_hardware(hardware)
    except IdLimitError:
        return None
    return AnalyticsEvent(
        user=user,
        t=t,
        exp=exp,
        course=course,
        hardware=hardware,
        payload=AnalyticsPayload(log, payload.get("data", ABSENT)),
    )


# What we (or another analytics instance on a relay) send: never inbound.
REPLY_TYPES = ("response", "error")


def _select_structurer(raw: dict[str, Any]) -> tuple[Structurer | None, str]:
    """The structuring function for the frame's tags, or ``None`` and the problem."""
    message_type = raw.get("type", _MISSING)
    if type(message_type) is not str or message_type not in MESSAGE_TYPES:
        return None, _tag_problem(message_type, MESSAGE_TYPES, "$.type")
    if message_type != Request.TYPE:
        return STRUCTURERS[message_type, None], ""
    payload = raw.get("payload", _MISSING)
    if type(payload) is not dict:
        if payload is _MISSING:
            return None, "required field missing @ $.payload"
        return None, "invalid value for type, expected a JSON object @ $.payload"
    content = payload.get("content", _MISSING)
    structure = STRUCTURERS.get((Request.TYPE, content)) if type(content) is str else None
    if structure is None:
        return None, _tag_problem(content, REQUEST_CONTENTS, "$.payload.content")
    return structure, ""


def _tag_problem(value: object, valid: tuple[str, ...], path: str) -> str:
    """``unknown type 'x', expected one of 'a', 'b' @ $.type``, or ``missing``."""
    expected = ", ".join(repr(tag) for tag in valid)
    name = path.rsplit(".", 1)[-1]
    if value is _MISSING:
        return f"required field missing, expected one of {expected} @ {path}"
    shown = repr(value)
    if len(shown) > _ECHO_MAX_CHARS:
        shown = shown[: _ECHO_MAX_CHARS - 3] + "..."
    return f"unknown {name} {shown}, expected one of {expected} @ {path}"


def _readable_user(raw: dict[str, Any]) -> str | None:
    """The frame's user if it is a valid one, for the error reply."""
    user = raw.get("user")
    if type(user) is not str:
        return None
    try:
        return check_user(user)
    except IdLimitError:
        return None


def _readable_request_id(raw: dict[str, Any]) -> str | int | None:
    """The frame's ``id`` if it is a valid one, for the error reply to echo."""
    request_id = raw.get("id")
    if request_id is None:
        return None
    try:
        return check_request_id(request_id)
    except (IdLimitError, TypeError):
        return None
