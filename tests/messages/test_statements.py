"""v2 ``addLog`` bodies and the query identity: what is read, what is refused, and how."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from messages import (
    MAX_JSON_DEPTH,
    DecodeError,
    ErrorCode,
    Identity,
    Query,
    Statement,
    decode_identity,
    decode_query,
    decode_statement,
    parse_query,
)
from tests.conftest import golden
from tests.messages.strategies import json_values
from tests.messages.test_decode_errors import MISSING, changed

SESSIONS = golden("v2_sessions")
MANY = settings(max_examples=300, deadline=None)
CLICK: dict[str, Any] = {
    "timestamp": 1733961052434,
    "level": "INFO",
    "type": "analytics",
    "version": "3.0.0-analytics",
    "actor": {"id": "ana", "course": "ed1"},
    "verb": {"name": "clicked", "definition": "http://lh/verbs/clicked"},
    "object": {"id": "run-position-ramp", "parent": "panel", "ui": "spinner"},
    "context": {"event_type": "click", "exp_id": "spin30", "graph_node": "position_ramp"},
}


def with_field(path: str, value: Any, base: dict[str, Any] = CLICK) -> bytes:
    """``base`` with the field at dotted ``path`` set to ``value`` (or removed)."""
    return changed(base, path, value)


def problems(body: bytes | str) -> list[str]:
    with pytest.raises(DecodeError) as caught:
        decode_statement(body)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    return caught.value.problems


def nested(levels: int) -> bytes:
    """A statement whose ``context.deep`` makes the whole body ``levels`` deep."""
    inner = b"[" * (levels - 2) + b"]" * (levels - 2)
    return b'{"timestamp": 1, "verb": {"name": "x"}, "context": {"deep": ' + inner + b"}}"


# --- What is read ------------------------------------------------------------------------


def test_a_click_gives_its_fields_and_keeps_the_whole_body():
    statement = decode_statement(orjson.dumps(CLICK))
    assert statement == Statement(
        verb="clicked",
        timestamp=1733961052434,
        object_id="run-position-ramp",
        graph_node="position_ramp",
        kit="spin30",
    )
    assert statement.raw == CLICK


@pytest.mark.parametrize("session", SESSIONS, ids=[s["name"] for s in SESSIONS])
def test_every_golden_statement_decodes_to_its_own_fields(session):
    for raw in session["statements"]:
        statement = decode_statement(orjson.dumps(raw))
        context, obj = raw.get("context", {}), raw.get("object", {})
        assert statement.verb == raw["verb"]["name"]
        assert statement.timestamp == raw["timestamp"]
        assert statement.object_id == obj.get("id")
        expected_node = (
            context.get("graph_node")
            if statement.verb in {"clicked", "changed", "pressed-hotkey"}
            else None
        )
        assert statement.graph_node == expected_node
        assert statement.kit == (context.get("exp_id") or obj.get("exp_id") or None)
        assert statement.raw == raw


def test_session_started_takes_its_kit_from_the_object_and_empty_is_none():
    start = {"timestamp": 5, "verb": {"name": "session-started"}, "object": {"exp_id": "p2"}}
    assert decode_statement(orjson.dumps(start)).kit == "p2"
    start["object"]["exp_id"] = ""
    assert decode_statement(orjson.dumps(start)).kit is None


def test_graph_node_counts_only_on_graph_verbs():
    for verb in ("data-hovered", "session-started", "opened-component"):
        body = with_field("verb.name", verb)
        assert decode_statement(body).graph_node is None
        # Not read there, so not validated either: it is just stored.
        assert decode_statement(with_field("context.graph_node", 7, orjson.loads(body)))
    for verb in ("changed", "pressed-hotkey"):
        assert decode_statement(with_field("verb.name", verb)).graph_node == "position_ramp"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("object", MISSING),
        ("object", None),
        ("context", MISSING),
        ("context", None),
        ("object.id", None),
        ("context.graph_node", MISSING),
        ("context.exp_id", None),
        ("level", MISSING),
        ("actor", MISSING),
        ("verb.definition", MISSING),
        ("extra", {"anything": [1, 2]}),
    ],
)
def test_optional_fields_may_be_missing_or_null_and_extra_keys_are_kept(path, value):
    body = with_field(path, value)
    statement = decode_statement(body)
    assert statement.verb == "clicked"
    assert statement.raw == orjson.loads(body)


def test_an_integral_float_timestamp_is_an_int_as_v1_t():
    statement = decode_statement(with_field("timestamp", 1.7e12))
    assert statement.timestamp == 1_700_000_000_000
    assert type(statement.timestamp) is int


# --- What is refused -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[]", "expected a JSON object @ $"),
        (b'"clicked"', "expected a JSON object @ $"),
        (b"null", "expected a JSON object @ $"),
        (with_field("timestamp", MISSING), "required field missing @ $.timestamp"),
        (with_field("timestamp", None), "required field missing @ $.timestamp"),
        (with_field("timestamp", "1733961052434"), "expected int @ $.timestamp"),
        (with_field("timestamp", True), "expected int @ $.timestamp"),
        (with_field("timestamp", 1.5), "expected int @ $.timestamp"),
        (with_field("timestamp", -1), "out of range, expected 0 <= t <= 2**53 - 1 @ $.timestamp"),
        (
            with_field("timestamp", 2**53),
            "out of range, expected 0 <= t <= 2**53 - 1 @ $.timestamp",
        ),
        (with_field("verb", MISSING), "required field missing @ $.verb"),
        (with_field("verb", "clicked"), "expected a JSON object @ $.verb"),
        (with_field("verb.name", MISSING), "required field missing @ $.verb.name"),
        (with_field("verb.name", 3), "expected str @ $.verb.name"),
        (with_field("verb.name", ""), "must be 1 to 64 characters long @ $.verb.name"),
        (with_field("verb.name", "v" * 65), "must be 1 to 64 characters long @ $.verb.name"),
        (with_field("verb.name", "a/b"), "must not contain '/'"),
        (with_field("object", []), "expected a JSON object @ $.object"),
        (with_field("object.id", 12), "expected str @ $.object.id"),
        (with_field("object.id", "o" * 201), "0 to 200 characters long @ $.object.id"),
        (with_field("context", "x"), "expected a JSON object @ $.context"),
        (with_field("context.graph_node", 1), "expected str @ $.context.graph_node"),
        (with_field("context.graph_node", "n" * 65), "1 to 64 characters long @ $.context"),
        (with_field("context.graph_node", "a\nb"), "printable characters only @ $.context"),
        (with_field("context.exp_id", "s" * 65), "0 to 64 characters long @ $.context.exp_id"),
        (with_field("object.exp_id", "a\\b"), "must not contain '/'"),
    ],
)
def test_a_bad_body_names_the_field(body, expected):
    found = problems(body)
    assert any(expected in problem for problem in found), found


def test_every_bad_field_is_reported_at_once():
    body = {"timestamp": "x", "verb": {"name": 1}, "object": {"id": 2}}
    assert problems(orjson.dumps(body)) == [
        "invalid value for type, expected int @ $.timestamp",
        "invalid value for type, expected str @ $.verb.name",
        "invalid value for type, expected str @ $.object.id",
    ]


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"\xef\xbb\xbf{}", b"NaN", b'{"a": 1e400}'])
def test_text_that_is_not_json_is_bad_json(body):
    with pytest.raises(DecodeError) as caught:
        decode_statement(body)
    assert caught.value.code is ErrorCode.BAD_JSON
    assert caught.value.problems[0].endswith("@ $")


def test_depth_is_bounded_so_that_every_accepted_statement_can_be_stored():
    deepest = decode_statement(nested(MAX_JSON_DEPTH))
    assert orjson.loads(orjson.dumps(deepest.raw)) == deepest.raw
    for levels in (MAX_JSON_DEPTH + 1, 255, 1024, 1025, 10_000):
        assert problems(nested(levels)) == [
            f"invalid value, nested deeper than {MAX_JSON_DEPTH} levels @ $"
        ]


# --- Nothing but DecodeError ---------------------------------------------------------------


def statement_or_error(body: bytes | str) -> Statement | DecodeError:
    try:
        return decode_statement(body)
    except DecodeError as error:
        caught = error
    assert caught.code in {ErrorCode.BAD_JSON, ErrorCode.INVALID_MESSAGE}
    assert caught.problems
    assert all(" @ $" in problem for problem in caught.problems)
    return caught


@MANY
@given(st.binary(max_size=200))
@example(b"[" * 10_000)
@example(b"{" * 10_000)
def test_arbitrary_bytes_never_crash(body):
    statement_or_error(body)


@MANY
@given(json_values)
def test_arbitrary_json_never_crashes(value):
    result = statement_or_error(orjson.dumps(value))
    if not isinstance(value, dict):
        assert isinstance(result, DecodeError)


@st.composite
def mutated_clicks(draw: st.DrawFn) -> dict[str, Any]:
    """The click with one to three fields, at any depth, dropped or replaced."""
    body = json.loads(json.dumps(CLICK))
    for _ in range(draw(st.integers(1, 3))):
        target = body
        while isinstance(target, dict) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            if not isinstance(target[key], dict):
                break
            target = target[key]
        if not isinstance(target, dict) or not target:
            break
        key = draw(st.sampled_from(sorted(target)))
        replacement = draw(
            st.sampled_from([MISSING, None, True, 0, -1, 1.5, 2**64, "", "x" * 300, [], {}])
            | json_values
        )
        if replacement is MISSING:
            del target[key]
        else:
            target[key] = replacement
    return body


@MANY
@given(mutated_clicks())
def test_mutated_statements_never_crash(body):
    result = statement_or_error(json.dumps(body))
    if isinstance(result, Statement):
        assert result.raw == body


# --- The query ---------------------------------------------------------------------------


def test_the_query_is_decoded_leniently():
    assert decode_identity(b"username=ana&course=ed1&hardware=spinner") == Identity(
        "ana", "ed1", "spinner"
    )
    # Not URL-encoded by the clients: taken as it is; what is encoded is decoded.
    query = "username=Ana María+1 %zz&course=ed1&hardware=spinner"
    assert decode_identity(query).username == "Ana María+1 %zz"
    assert decode_identity(query.encode()).username == "Ana María+1 %zz"
    query = "hardware=pendulum&course=ed%31&username=Jos%C3%A9%20P"
    assert decode_identity(query) == Identity("José P", "ed1", "pendulum")
    assert decode_identity("username=x&course=&hardware=truss&_=17&flag").course == ""
    assert decode_identity(b"username=x&course=c&hardware=h&junk=%FF\xfe").username == "x"


def test_null_is_a_user_name_that_gets_no_graph():
    assert decode_identity("username=null&course=ed1&hardware=spinner").anonymous
    assert not decode_identity("username=nul&course=ed1&hardware=spinner").anonymous


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("course=ed1&hardware=spinner", ["required field missing @ $.query.username"]),
        (
            "",
            [
                f"required field missing @ $.query.{key}"
                for key in ("username", "course", "hardware")
            ],
        ),
        ("username=a&username=b&course=c&hardware=h", ["given 2 times @ $.query.username"]),
        ("username=&course=c&hardware=h", ["must be 1 to 128 characters long @ $.query.username"]),
        (f"username={'u' * 129}&course=c&hardware=h", ["1 to 128 characters"]),
        ("username=a&course=c/d&hardware=h", ["must not contain '/'"]),
        ("username=a&course=c&hardware=", ["must be 1 to 64 characters long @ $.query.hardware"]),
        ("username=a%0A&course=c&hardware=h", ["printable characters only @ $.query.username"]),
        # A raw byte of no UTF-8 (the escape %FF would be kept as the text "%FF").
        (b"username=\xff&course=c&hardware=h", ["printable characters only @ $.query.username"]),
    ],
)
def test_a_bad_identity_names_the_key(query, expected):
    with pytest.raises(DecodeError) as caught:
        decode_identity(query)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert len(caught.value.problems) == len(expected)
    for problem, words in zip(caught.value.problems, expected, strict=True):
        assert words in problem, caught.value.problems


def test_the_taskcode_comes_first_in_the_dashboard_s_query():
    query = "taskcode=spinner-ed1-1-core&username=a&course=ed1&hardware=spinner"
    assert decode_query(query) == Query(
        Identity("a", "ed1", "spinner"), taskcode="spinner-ed1-1-core"
    )
    identity = "&username=a&course=ed1&hardware=spinner"
    assert decode_query(identity.lstrip("&")).taskcode is None  # a 404 for the reply
    for bad in ("taskcode=", "taskcode=a&taskcode=b", "token=x&token=y"):
        with pytest.raises(DecodeError) as caught:
            decode_query(bad + identity)
        assert len(caught.value.problems) == 1, caught.value.problems


def test_a_read_token_is_kept_apart_and_never_shown():
    query = decode_query("username=a&course=&hardware=spinner&token=eyJ.secret.sig")
    assert query.token == "eyJ.secret.sig"
    assert "secret" not in repr(query)


def test_parse_query_keeps_every_value_in_order():
    assert parse_query(b"a=1&b&a=2%263&&c==") == {"a": ["1", "2&3"], "b": [""], "c": ["="]}


@MANY
@given(st.binary(max_size=120) | st.text(max_size=120))
def test_any_query_gives_an_identity_or_a_decode_error(query):
    try:
        assert decode_identity(query).username
    except DecodeError as error:
        caught = error
        assert caught.code is ErrorCode.INVALID_MESSAGE
