"""Every way a frame can be wrong gives a DecodeError with the code and the path."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from messages import (
    MESSAGE_TYPES,
    REQUEST_CONTENTS,
    DecodeError,
    ErrorCode,
    decode,
)

USER = "3f2a9c1e-8d7b-4e6f-a5c4-1b2d3e4f5a6b"
EVENT = {
    "user": USER,
    "t": 1673262940583,
    "type": "analytics",
    "exp": "spinner",
    "course": "cie3",
    "hardware": "spin30",
    "payload": {"log": "voltage", "data": 1},
}
REQUEST = {
    "user": USER,
    "type": "request",
    "exp": "spinner",
    "course": "cie3",
    "id": "q1",
    "payload": {"content": "all_feedback", "graph": "spinner-cie3-1-2"},
}
MISSING = object()


def changed(base: dict[str, Any], path: str, value: Any) -> bytes:
    """``base`` with the field at dotted ``path`` set to ``value`` (or removed)."""
    raw = orjson.loads(orjson.dumps(base))
    *parents, last = path.split(".")
    target = raw
    for key in parents:
        target = target[key]
    if value is MISSING:
        del target[last]
    else:
        target[last] = value
    # json, not orjson: the frames include integers beyond 64 bits.
    return json.dumps(raw).encode()


def decode_error(frame: str | bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    return caught.value


# --- bad_json ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [b"", "", "{", '{"user": }', "NaN", "[1,]", b"\xff\xfe", b'{"user": "\xc3"}', '"\ud800"'],
)
def test_unparsable_frames_are_bad_json(frame: str | bytes) -> None:
    error = decode_error(frame)
    assert error.code is ErrorCode.BAD_JSON
    assert error.message.startswith("invalid JSON")
    assert error.user is None


# --- invalid_message: shape and tags ----------------------------------------------------


@pytest.mark.parametrize("frame", ["[]", "1", '"analytics"', "null", "true"])
def test_json_that_is_not_an_object_is_invalid(frame: str) -> None:
    error = decode_error(frame)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.problems == ["invalid value for type, expected a JSON object @ $"]


def test_missing_type_lists_the_valid_types() -> None:
    error = decode_error(changed(EVENT, "type", MISSING))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.problems == [
        "required field missing, expected one of 'analytics', 'feedback', 'log', 'request' @ $.type"
    ]
    assert error.user == USER
    assert error.message_type is None


@pytest.mark.parametrize("bad_type", ["analytic", "", "Request", 5, None, [1], {"a": 1}])
def test_unknown_type_names_it_and_lists_the_valid_ones(bad_type: Any) -> None:
    error = decode_error(changed(EVENT, "type", bad_type))
    assert error.code is ErrorCode.INVALID_MESSAGE
    (problem,) = error.problems
    assert problem.startswith(f"unknown type {bad_type!r}, expected one of")
    assert problem.endswith("@ $.type")
    assert all(repr(tag) in problem for tag in MESSAGE_TYPES)


def test_a_long_unknown_tag_is_not_echoed_in_full() -> None:
    error = decode_error(changed(EVENT, "type", "x" * 10_000))
    assert len(error.message) < 200


@pytest.mark.parametrize("content", [MISSING, "graph", 3, None])
def test_unknown_or_missing_content_lists_the_valid_contents(content: Any) -> None:
    error = decode_error(changed(REQUEST, "payload.content", content))
    assert error.code is ErrorCode.INVALID_MESSAGE
    (problem,) = error.problems
    assert problem.endswith("@ $.payload.content")
    assert all(repr(tag) in problem for tag in REQUEST_CONTENTS)
    # A request, so even a relay answers it; and the reply can echo both ids.
    assert (error.message_type, error.user, error.request_id) == ("request", USER, "q1")


@pytest.mark.parametrize(
    ("base", "payload", "problem"),
    [
        (EVENT, MISSING, "required field missing @ $.payload"),
        (EVENT, [1, 2], "invalid value for type, expected a JSON object @ $.payload"),
        (EVENT, None, "invalid value for type, expected a JSON object @ $.payload"),
        (REQUEST, MISSING, "required field missing @ $.payload"),
        (REQUEST, "all_feedback", "invalid value for type, expected a JSON object @ $.payload"),
    ],
)
def test_payload_must_be_an_object(base: Any, payload: Any, problem: str) -> None:
    error = decode_error(changed(base, "payload", payload))
    assert error.problems == [problem]


@pytest.mark.parametrize(
    ("base", "path", "value", "problem"),
    [
        (EVENT, "user", MISSING, "required field missing @ $.user"),
        (EVENT, "t", MISSING, "required field missing @ $.t"),
        (EVENT, "exp", MISSING, "required field missing @ $.exp"),
        (EVENT, "course", MISSING, "required field missing @ $.course"),
        (EVENT, "payload.log", MISSING, "required field missing @ $.payload.log"),
        (
            REQUEST,
            "payload.graph",
            5,
            "invalid value for type, expected str | None @ $.payload.graph",
        ),
        (
            {**REQUEST, "payload": {"content": "comparison_graph", "graph": "g"}},
            "payload.graph",
            5,
            "invalid value for type, expected str @ $.payload.graph",
        ),
    ],
)
def test_missing_and_mistyped_fields_name_their_path(
    base: Any, path: str, value: Any, problem: str
) -> None:
    error = decode_error(changed(base, path, value))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.problems == [problem]


def test_every_problem_of_a_frame_is_reported_at_once() -> None:
    raw = {**EVENT, "user": None, "t": "5", "exp": 1, "payload": {"log": 2}}
    error = decode_error(orjson.dumps(raw))
    assert error.problems == [
        "invalid value for type, expected str @ $.user",
        "invalid value for type, expected int @ $.t",
        "invalid value for type, expected str @ $.exp",
        "invalid value for type, expected str @ $.payload.log",
    ]
    assert error.message == "; ".join(error.problems)
    assert error.user is None


# --- Strict scalars -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("t", "5"),
        ("t", True),
        ("t", False),
        ("t", 2.7),
        ("t", None),
        ("t", [5]),
        ("user", None),
        ("user", 5),
        ("user", True),
        ("exp", None),
        ("course", None),
        ("course", 3),
        ("hardware", 30),
        ("hardware", False),
        ("payload.log", None),
        ("payload.log", 1.5),
    ],
)
def test_strict_scalars_refuse_coercion(path: str, value: Any) -> None:
    error = decode_error(changed(EVENT, path, value))
    assert error.code is ErrorCode.INVALID_MESSAGE
    (problem,) = error.problems
    assert problem.startswith("invalid value for type, expected")
    assert problem.endswith(f"@ $.{path}")


@pytest.mark.parametrize(
    ("content", "field", "value"),
    [
        ("comparison_graph", "graph", 5),
        ("comparison_graph", "graph", None),
        ("comparison_graph", "graph", MISSING),
        ("task_feedback", "task", ["spinner-cie3-1"]),
        ("task_feedback", "task", MISSING),
        ("all_feedback", "graph", True),
    ],
)
def test_request_fields_are_strict(content: str, field: str, value: Any) -> None:
    raw = {**REQUEST, "payload": {"content": content, field: value}}
    if value is MISSING:
        del raw["payload"][field]
    (problem,) = decode_error(orjson.dumps(raw)).problems
    assert problem.endswith(f"@ $.payload.{field}")


@pytest.mark.parametrize("value", [None, 5, {"text": "x"}])
def test_feedback_input_must_be_text_when_present(value: Any) -> None:
    raw = {**EVENT, "type": "feedback", "payload": {"state": "Bored", "subject": "Other"}}
    raw["payload"]["input"] = value
    if value is None:
        assert decode(orjson.dumps(raw)).payload.input is None
    else:
        (problem,) = decode_error(orjson.dumps(raw)).problems
        assert problem == "invalid value for type, expected str | None @ $.payload.input"


@pytest.mark.parametrize("value", [-1, 2**53, 2**64, 1e300, -0.5])
def test_t_out_of_range_is_refused(value: Any) -> None:
    (problem,) = decode_error(changed(EVENT, "t", value)).problems
    assert problem.endswith("@ $.t")


@pytest.mark.parametrize("value", [0, 2**53 - 1])
def test_t_range_boundaries_are_accepted(value: int) -> None:
    assert decode(changed(EVENT, "t", value)).t == value


def test_request_t_may_be_null_but_not_a_string() -> None:
    assert decode(changed(REQUEST, "t", None)).t is None
    (problem,) = decode_error(changed(REQUEST, "t", "1")).problems
    assert problem == "invalid value for type, expected int | None @ $.t"
