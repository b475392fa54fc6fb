"""The v2 (HTTP) inbound side: one ``addLog`` statement and the identity in the query.

PROTOCOL-V2.md is the contract. A statement is stored whole (research data), so
``decode_statement`` keeps the parsed JSON value as ``raw`` and extracts only what the
analytics read: the verb, the client's timestamp, ``object.id``, the graph node and
the kit. Everything else is tolerated as it comes, extra keys and missing optional
ones alike. Sans-io: bytes in, attrs values out, ``DecodeError`` for anything wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import attrs

from messages._body import Reader, load_object, text, timestamp
from messages.limits import (
    check_course,
    check_exp,
    check_graph_name,
    check_graph_node,
    check_kit,
    check_object_id,
    check_user,
    check_verb,
)

__all__ = [
    "GRAPH_VERBS",
    "NULL_USERNAME",
    "Identity",
    "Statement",
    "decode_identity",
    "decode_statement",
    "decode_taskcode",
    "parse_query",
]

# Only these verbs carry a graph node (the lab UIs map their elements to course nodes).
GRAPH_VERBS: Final = frozenset({"clicked", "changed", "pressed-hotkey"})
# What a browser without a booking-system user name sends as ``username``.
NULL_USERNAME: Final = "null"


@attrs.frozen
class Statement:
    """One ``addLog`` body: what the analytics read from it, and the whole value.

    ``graph_node`` is set only for the verbs of ``GRAPH_VERBS``; whether the course
    knows the node is for the analytics to decide. ``kit`` is the lab unit
    (``context.exp_id``, else ``object.exp_id``; ``None`` when both are absent or
    empty). ``raw`` is the parsed body, for the store; it is shared, not copied, not
    compared, and always re-encodable (no deeper than ``MAX_JSON_DEPTH``).
    """

    verb: str
    timestamp: int
    object_id: str | None = None
    graph_node: str | None = None
    kit: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


def decode_statement(body: bytes | str) -> Statement:
    """Parse and validate one ``addLog`` body.

    Required: a JSON object with ``timestamp`` (epoch ms, the v1 ``t`` rules) and
    ``verb.name``. The fields read besides are checked when present (``null`` is
    absent): ``object`` and ``context`` objects, ``object.id``, ``context.graph_node``
    (on graph verbs only), ``context.exp_id`` and ``object.exp_id``.

    Raises:
        DecodeError: and nothing else; ``bad_json`` for text that is not JSON,
            ``invalid_message`` for the rest, one problem per bad field.
    """
    raw = load_object(body)
    read = Reader()
    moment = read.required(raw, "timestamp", "$.timestamp", timestamp)
    verb_object = read.optional_object(raw, "verb", "$.verb", required=True)
    verb = None
    if type(raw.get("verb")) is dict:  # else $.verb itself is the problem
        verb = read.required(verb_object, "name", "$.verb.name", text(check_verb))
    obj = read.optional_object(raw, "object", "$.object")
    context = read.optional_object(raw, "context", "$.context")
    object_id = read.optional(obj, "id", "$.object.id", text(check_object_id))
    graph_node = None
    if verb in GRAPH_VERBS:
        graph_node = read.optional(
            context, "graph_node", "$.context.graph_node", text(check_graph_node)
        )
    kit = read.optional(context, "exp_id", "$.context.exp_id", text(check_kit))
    object_kit = read.optional(obj, "exp_id", "$.object.exp_id", text(check_kit))
    read.raise_problems()
    return Statement(
        verb=verb,
        timestamp=moment,
        object_id=object_id,
        graph_node=graph_node,
        kit=kit or object_kit or None,
        raw=raw,
    )


# --- The query: who is who -----------------------------------------------------------


@attrs.frozen
class Identity:
    """``?username=&course=&hardware=``: the session key of PROTOCOL-V2.md.

    ``hardware`` is the lab kind (our ``exp``); ``course`` is the code as requested
    (an alias such as ``ed1`` stays ``ed1``: replies name tasks with it).
    """

    username: str
    course: str
    hardware: str

    @property
    def anonymous(self) -> bool:
        """The browser had no user name: stored as research data, never given a graph."""
        return self.username == NULL_USERNAME


_IDENTITY_CHECKS: Final = (
    ("username", check_user),
    ("course", check_course),
    ("hardware", check_exp),
)


def parse_query(query: bytes | str) -> dict[str, list[str]]:
    """Every value of every key of a query string, in order, leniently decoded.

    The clients do not URL-encode (``username=Ana María``): what is percent-encoded is
    decoded, the rest is taken as it is; ``+`` stays ``+`` (no client encodes a space
    as ``+``). Pairs are split on ``&`` only, a pair without ``=`` has the value ``""``.
    Bytes that are not UTF-8 become lone surrogates, which no id limit accepts (they
    are not printable), so a bad value of a key we read is refused, and of another
    key ignored.
    """
    raw = query.encode() if isinstance(query, str) else query
    params: dict[str, list[str]] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        key_bytes, _, value_bytes = pair.partition(b"=")
        key = unquote_to_bytes(key_bytes).decode("utf-8", errors="surrogateescape")
        value = unquote_to_bytes(value_bytes).decode("utf-8", errors="surrogateescape")
        params.setdefault(key, []).append(value)
    return params


def _one(params: Mapping[str, list[str]], key: str, read: Reader) -> str | None:
    values = params.get(key)
    if values is None:
        read.problem("required field missing", f"$.query.{key}")
        return None
    if len(values) > 1:
        read.problem(f"invalid value, given {len(values)} times", f"$.query.{key}")
        return None
    return values[0]


def decode_identity(query: bytes | str) -> Identity:
    """``username``, ``course`` and ``hardware`` from the query, each once and in limits.

    Their limits are v1's: ``username`` as ``user``, ``course`` as ``course`` (empty
    allowed: an unknown course), ``hardware`` as ``exp``. Other keys are ignored.

    Raises:
        DecodeError: ``invalid_message``, one problem per missing or bad key.
    """
    params = parse_query(query)
    read = Reader()
    values = {}
    for key, check in _IDENTITY_CHECKS:
        value = _one(params, key, read)
        values[key] = None if value is None else read.checked(value, f"$.query.{key}", check)
    read.raise_problems()
    return Identity(**values)


def decode_taskcode(query: bytes | str) -> str:
    """``taskcode`` of a ``comparisonGraph`` query: a graph name (1-200 printable).

    Raises:
        DecodeError: ``invalid_message`` when it is missing, repeated or out of limits.
    """
    read = Reader()
    value = _one(parse_query(query), "taskcode", read)
    if value is not None:
        read.checked(value, "$.query.taskcode", check_graph_name)
    read.raise_problems()
    return value  # type: ignore[return-value]  # None only with a problem raised
