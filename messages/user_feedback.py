"""The v2 dashboard's ``submitUserFeedback`` bodies (PROTOCOL-V2.md).

A body holds exactly one of three keys: ``affective_state`` (how the student feels,
the v1 feedback tally), ``user_completion`` (task code -> done?) or
``user_difficulty`` (task code -> 1-5, or ``"NA"`` to unset). The dashboard sends
the whole map each time. Sans-io: bytes in, attrs values out, ``DecodeError`` for
anything wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs

from messages._body import Reader, load_object, text
from messages._structure import strict_bool
from messages.errors import DecodeError, ErrorCode
from messages.limits import check_feedback_label, check_graph_name

__all__ = [
    "DIFFICULTY_RANGE",
    "FEEDBACK_KINDS",
    "NOT_APPLICABLE",
    "AffectiveState",
    "UserCompletion",
    "UserDifficulty",
    "UserFeedback",
    "decode_user_feedback",
]

# "NA" in a difficulty map unsets the task's difficulty.
NOT_APPLICABLE: Final = "NA"
DIFFICULTY_RANGE: Final = range(1, 6)
FEEDBACK_KINDS: Final = ("affective_state", "user_completion", "user_difficulty")


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class AffectiveState:
    """How the student feels (``state``) about what (``subject``); ``input`` is free text.

    Tallied like a v1 ``feedback`` event (same states, same enjoyment).
    """

    state: str
    subject: str
    input: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class UserCompletion:
    """Task code -> whether the student says the task is done."""

    tasks: Mapping[str, bool] = attrs.field(converter=_frozen, hash=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class UserDifficulty:
    """Task code -> how hard the student found it (1-5); ``None`` unsets it (``"NA"``)."""

    tasks: Mapping[str, int | None] = attrs.field(converter=_frozen, hash=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


UserFeedback: TypeAlias = AffectiveState | UserCompletion | UserDifficulty


def _difficulty(value: Any) -> int | None:
    if value == NOT_APPLICABLE:
        return None
    if type(value) is not int:
        raise TypeError(f"expected an integer 1-5 or {NOT_APPLICABLE!r}")
    if value not in DIFFICULTY_RANGE:
        raise ValueError("out of range, expected 1 to 5")
    return value


def _task_map(
    read: Reader, value: dict[str, Any], path: str, check: Callable[[Any], Any]
) -> dict[str, Any]:
    """``{task code: check(value)}``; keys are graph names, reported by index if bad."""
    tasks = {}
    for index, (key, item) in enumerate(value.items()):
        if read.checked(key, f"{path}[#{index}] (key)", check_graph_name) is not None:
            tasks[key] = read.checked(item, f"{path}[{key!r}]", check)
    return tasks


def decode_user_feedback(body: bytes | str) -> UserFeedback:
    """Parse and validate one ``submitUserFeedback`` body.

    Exactly one of ``FEEDBACK_KINDS`` must be present (other keys are tolerated). Task
    codes are graph names (1-200 printable characters); this layer does not know the
    course, so whether a code names one of its tasks is the analytics' question.

    Raises:
        DecodeError: and nothing else; ``bad_json`` for text that is not JSON,
            ``invalid_message`` for the rest, one problem per bad field.
    """
    raw = load_object(body)
    kinds = [kind for kind in FEEDBACK_KINDS if raw.get(kind) is not None]
    expected = ", ".join(repr(kind) for kind in FEEDBACK_KINDS)
    if len(kinds) != 1:
        got = f", got {', '.join(map(repr, kinds))}" if kinds else ""
        raise DecodeError(
            ErrorCode.INVALID_MESSAGE,
            [f"required field missing, expected exactly one of {expected}{got} @ $"],
        )
    (kind,) = kinds
    read = Reader()
    value = read.optional_object(raw, kind, f"$.{kind}")
    if kind == "affective_state":
        label = text(check_feedback_label)
        state = read.required(value, "state", f"$.{kind}.state", label)
        subject = read.required(value, "subject", f"$.{kind}.subject", label)
        free_text = read.optional(value, "input", f"$.{kind}.input", text(str))
        read.raise_problems()
        return AffectiveState(state, subject, free_text, raw=raw)
    check = strict_bool if kind == "user_completion" else _difficulty
    tasks = _task_map(read, value, f"$.{kind}", check)
    read.raise_problems()
    if kind == "user_completion":
        return UserCompletion(tasks, raw=raw)
    return UserDifficulty(tasks, raw=raw)
