"""Structuring hooks for the codec's converter: strict scalars, ids, payloads.

Private to ``messages.codec``, which registers them. Every hook raises
``TypeError`` for a value of the wrong JSON type and ``ValueError``
(``IdLimitError``) for one outside its limits; cattrs attaches the field's
path to either, and ``describe_problem`` turns it into one readable line.
"""

from collections.abc import Callable
from typing import Any, Final

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception

from messages.inbound import (
    AllFeedbackRequest,
    ComparisonGraphRequest,
    FeedbackPayload,
    TaskFeedbackRequest,
)
from messages.limits import (
    IdLimitError,
    check_course,
    check_exp,
    check_feedback_text,
    check_graph_name,
    check_hardware,
    check_request_id,
    check_t,
    check_user,
)


class NotAnObjectError(TypeError):
    """A payload that is not a JSON object."""


def describe_problem(exc: BaseException, type_: Any) -> str:
    """One problem, for ``cattrs.transform_error``: says which limit or shape failed.

    The default formatter would report a limit as "invalid value for type,
    expected str", which hides the rule the client broke.
    """
    if isinstance(exc, IdLimitError):
        return f"invalid value, {exc}"
    if isinstance(exc, NotAnObjectError):
        return "invalid value for type, expected a JSON object"
    return format_exception(exc, type_)


# --- Strict scalars (cattrs#53, #469, #44: no None->"None", no 2.7->2) -----------


def strict_str(value: Any, _type: Any = str) -> str:
    """Exactly a str: ``null`` or a number is not text."""
    if type(value) is not str:
        raise TypeError("expected str")
    return value


def strict_int(value: Any, _type: Any = int) -> int:
    """Exactly an int; ``type(...) is`` also refuses bool, an int subclass."""
    if type(value) is not int:
        raise TypeError("expected int")
    return value


def strict_float(value: Any, _type: Any = float) -> float:
    """A float, or an int widened to one (JSON does not tell ``1`` from ``1.0``)."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise ValueError("integer too large for a float") from None
    raise TypeError("expected float")


def strict_bool(value: Any, _type: Any = bool) -> bool:
    """Exactly ``true`` or ``false``: ``0`` and ``"yes"`` are not booleans."""
    if type(value) is not bool:
        raise TypeError("expected bool")
    return value


# --- Field hooks: the JSON type first, then the limit ------------------------------


def _t(value: Any, _type: Any) -> int:
    """``t`` in ms: a JSON integer; an integral float (``1.7e12``) is accepted.

    Some JavaScript clients write large integers in exponent form; a
    fractional ``t`` is refused rather than silently truncated.
    """
    if type(value) is float and value.is_integer():
        value = int(value)
    return check_t(strict_int(value))


def _optional_t(value: Any, _type: Any) -> int | None:
    return None if value is None else _t(value, _type)


def _user(value: Any, _type: Any) -> str:
    return check_user(strict_str(value))


def _exp(value: Any, _type: Any) -> str:
    return check_exp(strict_str(value))


def _course(value: Any, _type: Any) -> str:
    return check_course(strict_str(value))


def _hardware(value: Any, _type: Any) -> str | None:
    return None if value is None else check_hardware(strict_str(value))


def _graph_name(value: Any, _type: Any) -> str:
    return check_graph_name(strict_str(value))


def _optional_graph_name(value: Any, _type: Any) -> str | None:
    return None if value is None else _graph_name(value, _type)


def _feedback_label(value: Any, _type: Any) -> str:
    """A feedback ``state`` or ``subject``: bounded, as its tally's keys are kept."""
    return check_feedback_text(strict_str(value))


def _request_id(value: Any, _type: Any) -> str | int | None:
    return None if value is None else check_request_id(value)


EVENT_OVERRIDES: Final = {
    "user": override(struct_hook=_user),
    "t": override(struct_hook=_t),
    "exp": override(struct_hook=_exp),
    "course": override(struct_hook=_course),
    "hardware": override(struct_hook=_hardware),
}
"""Envelope field hooks of an event (``t`` required)."""

REQUEST_OVERRIDES: Final = {
    **EVENT_OVERRIDES,
    "t": override(struct_hook=_optional_t),
    "id": override(struct_hook=_request_id),
}
"""Envelope field hooks of a request (``t`` optional, ``id`` allowed)."""

_PAYLOAD_FIELD_OVERRIDES: Final[dict[type, dict[str, Any]]] = {
    ComparisonGraphRequest: {"graph": override(struct_hook=_graph_name)},
    TaskFeedbackRequest: {"task": override(struct_hook=_graph_name)},
    AllFeedbackRequest: {"graph": override(struct_hook=_optional_graph_name)},
    FeedbackPayload: {
        "state": override(struct_hook=_feedback_label),
        "subject": override(struct_hook=_feedback_label),
    },
}


def make_payload_hook(converter: Converter, cls: type) -> Callable[[Any, Any], Any]:
    """A hook structuring a payload object as ``cls``, unknown keys into ``extra``.

    The generated function ignores unknown keys. This wrapper first makes
    sure the payload is an object (the generated code would fail on a list
    with a confusing message), then, if ``cls`` has an ``extra`` field,
    keeps the keys it did not know, so that ``payload_json`` can give the
    payload back exactly as it came. Request payloads have no ``extra``:
    they are answered, not stored.
    """
    field_names = [a.name for a in attrs.fields(cls)]
    keeps_extra = "extra" in field_names
    known_keys = frozenset(field_names) - {"extra"}
    overrides = dict(_PAYLOAD_FIELD_OVERRIDES.get(cls, {}))
    if keeps_extra:
        overrides["extra"] = override(omit=True)
    structure_known = make_dict_structure_fn(cls, converter, **overrides)

    def structure_payload(value: Any, _type: Any) -> Any:
        if type(value) is not dict:
            raise NotAnObjectError
        payload = structure_known(value, cls)
        if keeps_extra and not known_keys.issuperset(value):
            # A second instance only for payloads with unknown keys (log
            # events); commands, the bulk of the traffic, have none.
            extra = {key: item for key, item in value.items() if key not in known_keys}
            payload = attrs.evolve(payload, extra=extra)
        return payload

    return structure_payload
