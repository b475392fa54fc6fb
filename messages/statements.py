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
    "Query",
    "Statement",
    "decode_identity",
    "decode_query",
    "decode_statement",
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
    A ``%`` that is no escape stays a ``%``; escapes that decode to no UTF-8 are kept
    as they came (``x%C3``). Bytes sent that are not UTF-8 become lone surrogates,
    which no id limit accepts (they are not printable), so a bad value of a key we
    read is refused, and of another key ignored.
    """
    raw = query.encode() if isinstance(query, str) else query
    params: dict[str, list[str]] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        params.setdefault(_lenient(key), []).append(_lenient(value))
    return params


def _lenient(sent: bytes) -> str:
    if b"%" in sent:
        try:
            return unquote_to_bytes(sent).decode("utf-8")
        except UnicodeDecodeError:
            pass  # an escape of no UTF-8: keep the text as it came
    return sent.decode("utf-8", errors="surrogateescape")


def _one(
    params: Mapping[str, list[str]], key: str, read: Reader, *, required: bool = True
) -> str | None:
    values = params.get(key)
    if values is None:
        if required:
            read.problem("required field missing", f"$.query.{key}")
        return None
    if len(values) > 1:
        read.problem(f"invalid value, given {len(values)} times", f"$.query.{key}")
        return None
    return values[0]


@attrs.frozen
class Query:
    """A v2 request's query: whose session, and the two optional keys a read may carry.

    ``taskcode`` names a task graph (``comparisonGraph``); ``token`` is a read token
    for deployments that require one, and is never passed further than the gate.
    """

    identity: Identity
    taskcode: str | None = None
    token: str | None = attrs.field(default=None, repr=False)


def decode_query(query: bytes | str) -> Query:
    """``username``, ``course`` and ``hardware`` each once and in limits; other keys ignored.

    Their limits are v1's: ``username`` as ``user``, ``course`` as ``course`` (empty
    allowed: an unknown course), ``hardware`` as ``exp``. ``taskcode`` and ``token``
    are optional, each at most once; ``taskcode`` within a graph name's limits.

    Raises:
        DecodeError: ``invalid_message``, one problem per missing or bad key.
    """
    params = parse_query(query)
    read = Reader()
    values = {}
    for key, check in _IDENTITY_CHECKS:
        value = _one(params, key, read)
        values[key] = None if value is None else read.checked(value, f"$.query.{key}", check)
    taskcode = _one(params, "taskcode", read, required=False)
    if taskcode is not None:
        taskcode = read.checked(taskcode, "$.query.taskcode", check_graph_name)
    token = _one(params, "token", read, required=False)
    read.raise_problems()
    return Query(Identity(**values), taskcode=taskcode, token=token)


def decode_identity(query: bytes | str) -> Identity:
    """The identity of ``decode_query``; raises ``DecodeError`` as it does."""
    return decode_query(query).identity
