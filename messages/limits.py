"""Limits on the ids a frame carries (PROTOCOL.md, "Limits").

Ids end up as dictionary keys, SQLite values, log fields and, in the legacy
export, parts of file names, so they are bounded and printable, and the
ones that name things on disk (``exp``, ``course``, ``hardware``) cannot
hold a path separator. No id is ever used as a path, but the legacy layout
``{user}-{hardware}-{exp}-{course}.json`` is produced by the exporter and
must not be able to escape its directory.

The codec calls these checks from its field hooks, so a failure is reported
with the field's path (``... @ $.hardware``). They are public because the
actors validate the same kinds of ids from elsewhere (a stream name taken
from the URL path becomes ``hardware``).
"""

from typing import Final

__all__ = [
    "COURSE_MAX_CHARS",
    "EXP_MAX_CHARS",
    "FEEDBACK_LABEL_MAX_CHARS",
    "GRAPH_NAME_MAX_CHARS",
    "GRAPH_NODE_MAX_CHARS",
    "HARDWARE_MAX_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_SAFE_INTEGER",
    "MAX_T_MS",
    "OBJECT_ID_MAX_CHARS",
    "REQUEST_ID_MAX_CHARS",
    "USER_MAX_CHARS",
    "VERB_MAX_CHARS",
    "IdLimitError",
    "check_course",
    "check_exp",
    "check_feedback_label",
    "check_feedback_text",
    "check_graph_name",
    "check_graph_node",
    "check_hardware",
    "check_kit",
    "check_object_id",
    "check_request_id",
    "check_t",
    "check_user",
    "check_verb",
]

USER_MAX_CHARS: Final = 128
EXP_MAX_CHARS: Final = 64
HARDWARE_MAX_CHARS: Final = 64
COURSE_MAX_CHARS: Final = 64
GRAPH_NAME_MAX_CHARS: Final = 200
REQUEST_ID_MAX_CHARS: Final = 128
# Integers a browser's JSON.parse reads back exactly (Number.MAX_SAFE_INTEGER):
# a request id beyond it could not be echoed faithfully to a JavaScript client.
MAX_SAFE_INTEGER: Final = 2**53 - 1
# ``t`` is milliseconds since the epoch; 2**53 ms is year 287396, and beyond
# that a JavaScript client could not have produced the value exactly.
MAX_T_MS: Final = 2**53 - 1

# v2 statements (PROTOCOL-V2.md). Verb names and graph nodes become dictionary keys
# (interactionCounts, node lookups), object ids are compared for the slider rule,
# feedback states and subjects are tallied: all bounded like the v1 ids.
VERB_MAX_CHARS: Final = 64
GRAPH_NODE_MAX_CHARS: Final = 64
OBJECT_ID_MAX_CHARS: Final = 200
FEEDBACK_LABEL_MAX_CHARS: Final = 200
# Nesting depth of a JSON body. orjson reads 1024 levels but writes only 254, so a
# deeper statement could be accepted and then never stored; real statements nest 3.
MAX_JSON_DEPTH: Final = 64

# Characters that would let an id act as (part of) a path, or that C-level
# tools (SQLite CLI, file systems) treat as a terminator.
_PATH_CHARS: Final = frozenset("/\\\0")


class IdLimitError(ValueError):
    """An id or number outside its limits; ``str(exc)`` says which limit.

    A ``ValueError`` so that cattrs collects it like any other field error,
    with the field's path.
    """


def _check_printable(value: str, *, min_chars: int, max_chars: int) -> str:
    """Return ``value`` if its length is within bounds and it is printable."""
    if not min_chars <= len(value) <= max_chars:
        raise IdLimitError(f"must be {min_chars} to {max_chars} characters long")
    if not value.isprintable():
        raise IdLimitError("must contain printable characters only")
    return value


def _check_name(value: str, *, min_chars: int, max_chars: int) -> str:
    """Printable and bounded, and free of path separators and NUL."""
    _check_printable(value, min_chars=min_chars, max_chars=max_chars)
    if not _PATH_CHARS.isdisjoint(value):
        raise IdLimitError("must not contain '/', '\\' or NUL")
    return value


def check_user(value: str) -> str:
    """A user id: 1-128 printable characters (usually a UUID)."""
    return _check_printable(value, min_chars=1, max_chars=USER_MAX_CHARS)


def check_exp(value: str) -> str:
    """A lab type: 1-64 printable characters, no ``/``, ``\\`` or NUL."""
    return _check_name(value, min_chars=1, max_chars=EXP_MAX_CHARS)


def check_hardware(value: str) -> str:
    """A hardware unit or stream name: 1-64 printable, no ``/``, ``\\``, NUL."""
    return _check_name(value, min_chars=1, max_chars=HARDWARE_MAX_CHARS)


def check_course(value: str) -> str:
    """A course code: 0-64 characters like ``exp``.

    Empty is allowed: lab UIs opened without a course send ``""``, and
    their events must still be stored (as an unknown course).
    """
    return _check_name(value, min_chars=0, max_chars=COURSE_MAX_CHARS)


def check_graph_name(value: str) -> str:
    """A comparison graph or task name: 1-200 printable characters.

    Graph names are looked up in a table, never used as paths, so path
    characters are not refused here.
    """
    return _check_printable(value, min_chars=1, max_chars=GRAPH_NAME_MAX_CHARS)


def check_request_id(value: str | int) -> str | int:
    """A request's ``id``: a 1-128 printable string or a safe integer.

    ``bool`` is refused although it is an ``int``: ``true`` is not an id.
    Raises ``TypeError`` for any other type, ``IdLimitError`` for a value
    outside the limits.
    """
    if type(value) is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise IdLimitError("must be an integer within +/-(2**53 - 1)")
        return value
    if type(value) is str:
        return _check_printable(value, min_chars=1, max_chars=REQUEST_ID_MAX_CHARS)
    raise TypeError("expected a string or an integer")


def check_t(value: int) -> int:
    """A client timestamp in ms: ``0 <= t <= 2**53 - 1``.

    Negative times are refused: no lab UI ran before 1970, and a negative
    value is a client bug we would rather see than store.
    """
    if not 0 <= value <= MAX_T_MS:
        raise IdLimitError("out of range, expected 0 <= t <= 2**53 - 1")
    return value


def check_verb(value: str) -> str:
    """A v2 statement's ``verb.name``: 1-64 characters like ``exp``."""
    return _check_name(value, min_chars=1, max_chars=VERB_MAX_CHARS)


def check_graph_node(value: str) -> str:
    """A v2 ``context.graph_node``: 1-64 printable characters (a course node name)."""
    return _check_printable(value, min_chars=1, max_chars=GRAPH_NODE_MAX_CHARS)


def check_object_id(value: str) -> str:
    """A v2 ``object.id`` (a UI element or a hotkey): 0-200 printable characters."""
    return _check_printable(value, min_chars=0, max_chars=OBJECT_ID_MAX_CHARS)


def check_kit(value: str) -> str:
    """A v2 kit (``exp_id``, e.g. ``spin30``): 0-64 characters like ``hardware``.

    Empty is allowed: ``session-started`` sends ``"exp_id": ""``.
    """
    return _check_name(value, min_chars=0, max_chars=HARDWARE_MAX_CHARS)


def check_feedback_text(value: str) -> str:
    """A v1 feedback ``state`` or ``subject``: at most 200 characters.

    Only the length is bounded (a tally key must not be a megabyte); what the
    deployed UIs send today, an empty string included, stays accepted.
    """
    if len(value) > FEEDBACK_LABEL_MAX_CHARS:
        raise IdLimitError(f"must be at most {FEEDBACK_LABEL_MAX_CHARS} characters long")
    return value


def check_feedback_label(value: str) -> str:
    """A v2 affective ``state`` or ``subject``: 1-200 printable characters."""
    return _check_printable(value, min_chars=1, max_chars=FEEDBACK_LABEL_MAX_CHARS)
