"""Reading v2 JSON bodies field by field, with paths in every problem.

Private to ``messages.statements`` and ``messages.user_feedback``. The v2 bodies are
read by hand rather than structured by cattrs: only a few fields of a statement are
read (the rest is kept whole for the researchers), the fields sit at different depths,
and most keys are optional. A ``Reader`` collects one problem per bad field, in the
codec's wording (``invalid value for type, expected str @ $.verb.name``), and raises
one ``DecodeError`` for them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from messages._structure import strict_str
from messages.errors import DecodeError, ErrorCode
from messages.limits import MAX_JSON_DEPTH, check_t

_CONTAINERS: Final = (dict, list)
# orjson's own nesting limit (1024) reports itself with these words.
ORJSON_DEPTH_WORDS: Final = "depth limit"
TOO_DEEP: Final = f"invalid value, nested deeper than {MAX_JSON_DEPTH} levels @ $"


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests containers deeper than ``limit`` (the top level is 1).

    Iterative, so a deep value cannot exhaust Python's stack; it only visits containers'
    items, and stops at the first one past the limit.
    """
    if type(value) not in _CONTAINERS:
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if type(item) is dict else item:
            if type(child) in _CONTAINERS:
                stack.append((child, depth + 1))
    return False


def parse_object(body: bytes | str) -> dict[str, Any]:
    """Parse ``body`` as one JSON object (its depth is the caller's to check).

    Raises:
        DecodeError: ``bad_json`` for text that is not JSON (invalid UTF-8 included),
            ``invalid_message`` for any other value than an object, or text nested
            deeper than orjson reads.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if ORJSON_DEPTH_WORDS in str(exc):
            # Valid JSON text, just deeper than orjson reads: a message problem.
            raise DecodeError(ErrorCode.INVALID_MESSAGE, [TOO_DEEP]) from None
        raise DecodeError(ErrorCode.BAD_JSON, [f"invalid JSON, {exc} @ $"]) from None
    if type(value) is not dict:
        raise DecodeError(
            ErrorCode.INVALID_MESSAGE, ["invalid value for type, expected a JSON object @ $"]
        )
    return value


def load_object(body: bytes | str) -> dict[str, Any]:
    """``parse_object``, no deeper than ``MAX_JSON_DEPTH``; raises ``DecodeError``."""
    value = parse_object(body)
    if too_deep(value):
        raise DecodeError(ErrorCode.INVALID_MESSAGE, [TOO_DEEP])
    return value


def timestamp(value: Any) -> int:
    """Epoch ms as v1's ``t``: an integer, or an integral float (``1.7e12``), in range."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise TypeError("expected int")
    return check_t(value)


class Reader:
    """Reads typed fields of one body, collecting a problem per bad field.

    ``null`` counts as absent for optional fields (clients send either). A field of
    the wrong type or outside its limit is a problem, never silently dropped: the
    fields read here decide the graph.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, text: str, path: str) -> None:
        self.problems.append(f"{text} @ {path}")

    def raise_problems(self) -> None:
        if self.problems:
            raise DecodeError(ErrorCode.INVALID_MESSAGE, self.problems)

    def optional_object(
        self, parent: dict[str, Any], key: str, path: str, *, required: bool = False
    ) -> dict[str, Any]:
        """``parent[key]`` if it is an object; ``{}`` if absent, null or (a problem) not one."""
        value = parent.get(key)
        if value is None:
            if required:
                self.problem("required field missing", path)
            return {}
        if type(value) is not dict:
            self.problem("invalid value for type, expected a JSON object", path)
            return {}
        return value

    def required(
        self, parent: dict[str, Any], key: str, path: str, check: Callable[[Any], Any]
    ) -> Any:
        """``check(parent[key])``, or None and a problem if it is missing or invalid."""
        if parent.get(key) is None:
            self.problem("required field missing", path)
            return None
        return self.optional(parent, key, path, check)

    def optional(
        self, parent: dict[str, Any], key: str, path: str, check: Callable[[Any], Any]
    ) -> Any:
        """``check(parent[key])``; None if absent or null, or (a problem) invalid."""
        value = parent.get(key)
        return None if value is None else self.checked(value, path, check)

    def checked(self, value: Any, path: str, check: Callable[[Any], Any]) -> Any:
        """``check(value)``, or None and a problem saying which type or limit failed."""
        try:
            return check(value)
        except TypeError as exc:
            self.problem(f"invalid value for type, {exc}", path)
        except ValueError as exc:  # IdLimitError included: a limit, not a type
            self.problem(f"invalid value, {exc}", path)
        return None


def text(check: Callable[[str], str]) -> Callable[[Any], str]:
    """A field check: exactly a string, then ``check`` (a limit of ``messages.limits``)."""

    def checked(value: Any) -> str:
        return check(strict_str(value))

    return checked
