"""Replies go out in exactly the PROTOCOL.md shape, and never with NaN."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import orjson
import pytest

from messages import (
    CentroidsReply,
    ComparisonGraphReply,
    DecodeError,
    ErrorCode,
    ErrorReply,
    IndicatorsReply,
    StudentGraphReply,
    TaskFeedbackReply,
    TaskIdentificationReply,
    decode,
    encode,
    encode_error,
    reply_envelope,
)
from tests.conftest import golden

ENVELOPE = {"user": "u1", "exp": "spinner", "course": "cie3"}
WIRE_ENVELOPE = {"user": "u1", "type": "response", "exp": "spinner", "course": "cie3"}
NODE = {"color": "#97c2fc", "x": 100, "y": -173.2, "physics": False, "size": 10}
NODES = [{**NODE, "id": "voltage_step", "label": "voltage_step", "shape": "dot"}]
EDGES = [{"from": "voltage_step", "to": "voltage_step", "value": 2, "width": 1.5}]
CENTROIDS = {
    "student": [1.0, 2.0],
    "spinner-cie3-1-2": [None, None],
    "all": [0.5, -0.5],
    "vertices": [{"name": "voltage_step", "x": 100, "y": -173.2}],
}


def build(cls: type, **fields: Any) -> Any:
    return cls(**ENVELOPE, **fields)


# (reply fields, the wire fields after the envelope's "content")
SHAPES: dict[type, tuple[dict[str, Any], dict[str, Any]]] = {
    StudentGraphReply: (
        {"nodes": NODES, "edges": EDGES, "in_centrality": {"voltage_step": 0.5}},
        {"nodes": NODES, "edges": EDGES, "node_info": {"in_centrality": {"voltage_step": 0.5}}},
    ),
    ComparisonGraphReply: (
        {"nodes": NODES, "edges": [], "in_centrality": {"voltage_step": 0.0}},
        {"nodes": NODES, "edges": [], "node_info": {"in_centrality": {"voltage_step": 0.0}}},
    ),
    TaskIdentificationReply: (
        {"tasks": {"spinner-cie3-1-2": 3.5, "spinner-cie3-4": None}},
        {"tasks": {"spinner-cie3-1-2": 3.5, "spinner-cie3-4": None}},
    ),
    IndicatorsReply: (
        {"exploration": 12.5, "enjoyment": -2, "edges": None},
        {"indicators": {"exploration": 12.5, "enjoyment": -2, "edges": None}},
    ),
    CentroidsReply: ({"centroids": CENTROIDS}, {"centroids": CENTROIDS}),
    TaskFeedbackReply: (
        {
            "hardware": ["speed_ramp"],
            "hardware_freq": [],
            "transition": ["voltage_step to speed_step"],
            "transition_freq": ["speed_step to voltage_step"],
        },
        {
            "feedback": {
                "hardware": ["speed_ramp"],
                "hardware_freq": [],
                "transition": ["voltage_step to speed_step"],
                "transition_freq": ["speed_step to voltage_step"],
            }
        },
    ),
}
CONTENTS = {
    StudentGraphReply: "student_graph",
    ComparisonGraphReply: "comparison_graph",
    TaskIdentificationReply: "task_identification",
    IndicatorsReply: "indicators",
    CentroidsReply: "centroids",
    TaskFeedbackReply: "task_feedback",
}


def strict_loads(text: str) -> Any:
    """Parse as a browser would: ``NaN``/``Infinity`` tokens are an error."""

    def refuse(token: str) -> Any:
        raise ValueError(f"{token} on the wire")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda cls: cls.__name__)
def test_each_reply_has_exactly_the_protocol_shape(cls: type) -> None:
    fields, wire_fields = SHAPES[cls]
    text = encode(build(cls, **fields))
    assert isinstance(text, str)
    assert strict_loads(text) == {**WIRE_ENVELOPE, "content": CONTENTS[cls], **wire_fields}
    # The envelope comes first, as the original wrote it.
    assert list(strict_loads(text))[:5] == ["user", "type", "exp", "course", "content"]


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("request_id", ["q-1", 0, -(2**53 - 1)])
def test_the_request_id_is_echoed_only_when_given(cls: type, request_id: str | int) -> None:
    fields, _ = SHAPES[cls]
    assert "id" not in strict_loads(encode(build(cls, **fields)))
    assert strict_loads(encode(build(cls, **fields, id=request_id)))["id"] == request_id


def test_reply_envelope_copies_the_requests_envelope() -> None:
    request = decode(
        orjson.dumps({**ENVELOPE, "type": "request", "id": 9, "payload": {"content": "indicators"}})
    )
    reply = IndicatorsReply(**reply_envelope(request), exploration=1.0, enjoyment=0, edges=2.0)
    assert strict_loads(encode(reply)) == {
        **WIRE_ENVELOPE,
        "content": "indicators",
        "indicators": {"exploration": 1.0, "enjoyment": 0, "edges": 2.0},
        "id": 9,
    }


# --- No NaN on the wire --------------------------------------------------------------------


def poisoned(cls: type, bad: float) -> Any:
    """A reply of ``cls`` with ``bad`` in every number it can hold, pass-through included."""
    nodes = [{**NODES[0], "x": bad, "y": np.float64(bad)}]
    edges = [{**EDGES[0], "value": bad, "width": np.float32(bad)}]
    by_class: dict[type, dict[str, Any]] = {
        StudentGraphReply: {"nodes": nodes, "edges": edges, "in_centrality": {"a": bad}},
        ComparisonGraphReply: {"nodes": nodes, "edges": edges, "in_centrality": {"a": bad}},
        TaskIdentificationReply: {"tasks": {"t1": bad, "t2": np.float64(bad)}},
        IndicatorsReply: {"exploration": bad, "enjoyment": 1, "edges": np.float64(bad)},
        CentroidsReply: {
            "centroids": {
                "student": [bad, np.float64(bad)],
                "all": np.array([bad, 1.0]),
                "vertices": [{"name": "a", "x": bad, "y": 0}],
            }
        },
        # Lists of names, but even a stray number in them must not become NaN.
        TaskFeedbackReply: {
            "hardware": [bad],
            "hardware_freq": [np.float64(bad)],
            "transition": [],
            "transition_freq": [],
        },
    }
    return build(cls, **by_class[cls])


def all_numbers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in all_numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in all_numbers(item)]
    return [value] if value is None or isinstance(value, int | float) else []


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_undefined_numbers_are_null_for_every_reply(cls: type, bad: float) -> None:
    text = encode(poisoned(cls, bad))
    assert "NaN" not in text
    assert "Infinity" not in text
    wire = strict_loads(text)  # would raise on a NaN token
    assert None in all_numbers(wire)


def test_numpy_values_serialise_as_plain_json() -> None:
    reply = build(
        IndicatorsReply,
        exploration=np.float64(12.5),
        enjoyment=np.int64(-3),
        edges=np.float32(0.5),
    )
    assert strict_loads(encode(reply))["indicators"] == {
        "exploration": 12.5,
        "enjoyment": -3,
        "edges": 0.5,
    }
    nodes = [{"id": "a", "x": np.int64(100), "physics": np.bool_(False)}]
    graph = build(
        StudentGraphReply,
        nodes=nodes,
        edges=[],
        in_centrality={np.str_("a"): np.float64(0.25)},
    )
    wire = strict_loads(encode(graph))
    assert wire["nodes"] == [{"id": "a", "x": 100, "physics": False}]
    assert wire["node_info"] == {"in_centrality": {"a": 0.25}}


# --- Errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (
            ErrorReply(ErrorCode.UNKNOWN_GRAPH, "no graph 'x'", user="u1", id=4),
            {
                "type": "error",
                "user": "u1",
                "id": 4,
                "error": {"code": "unknown_graph", "message": "no graph 'x'"},
            },
        ),
        (
            ErrorReply(ErrorCode.BAD_JSON, "invalid JSON"),
            {"type": "error", "error": {"code": "bad_json", "message": "invalid JSON"}},
        ),
        (
            ErrorReply("overloaded", "try again", user="u1"),
            {
                "type": "error",
                "user": "u1",
                "error": {"code": "overloaded", "message": "try again"},
            },
        ),
    ],
)
def test_error_reply_shape(reply: ErrorReply, wire: dict[str, Any]) -> None:
    assert strict_loads(encode(reply)) == wire


def test_error_reply_codes_come_from_the_table() -> None:
    assert ErrorReply("forbidden", "no").code is ErrorCode.FORBIDDEN
    with pytest.raises(ValueError, match="nonsense"):
        ErrorReply("nonsense", "no")


def test_a_decode_error_becomes_an_error_reply_echoing_what_was_readable() -> None:
    frame = {"user": "u1", "type": "request", "id": "q9", "exp": "spinner", "course": "cie3"}
    frame["payload"] = {"content": "nope"}
    with pytest.raises(DecodeError) as caught:
        decode(orjson.dumps(frame))
    reply = ErrorReply.from_decode_error(caught.value)
    assert reply == ErrorReply(ErrorCode.INVALID_MESSAGE, caught.value.message, "u1", "q9")
    wire = strict_loads(encode_error(caught.value))
    assert wire["type"] == "error"
    assert (wire["user"], wire["id"]) == ("u1", "q9")
    assert wire["error"]["code"] == "invalid_message"
    assert wire["error"]["message"].endswith("@ $.payload.content")


def test_the_error_code_table() -> None:
    assert {code.value for code in ErrorCode} == {
        "bad_json",
        "invalid_message",
        "unknown_course",
        "unknown_graph",
        "forbidden",
        "overloaded",
        "too_large",
        "internal_error",
    }
    assert ErrorCode.BAD_JSON == "bad_json"


# --- Parity with the golden replies ---------------------------------------------------------


def golden_reply(session: dict[str, Any], expected: dict[str, Any]) -> Any:
    """The reply class built from a recorded reply's values."""
    envelope = {"user": session["user"], "exp": session["exp"], "course": session["course"]}
    content = expected["content"]
    if content in {"student_graph", "comparison_graph"}:
        cls = StudentGraphReply if content == "student_graph" else ComparisonGraphReply
        return cls(
            **envelope,
            nodes=expected["nodes"],
            edges=expected["edges"],
            in_centrality=expected["node_info"]["in_centrality"],
        )
    if content == "task_identification":
        return TaskIdentificationReply(**envelope, tasks=expected["tasks"])
    if content == "indicators":
        return IndicatorsReply(**envelope, **expected["indicators"])
    if content == "centroids":
        return CentroidsReply(**envelope, centroids=expected["centroids"])
    return TaskFeedbackReply(**envelope, **expected["feedback"])


def test_golden_replies_keep_their_recorded_shape() -> None:
    checked = set()
    for session in golden("wire_sessions"):
        for request in session["requests"]:
            for expected in request["expected"]:
                wire = strict_loads(encode(golden_reply(session, expected)))
                # The recorded replies lack the envelope's user/type/course.
                assert {key: wire[key] for key in expected} == expected
                checked.add(expected["content"])
    assert checked == set(CONTENTS.values())


def test_messages_stays_sans_io() -> None:
    code = "import sys, messages; print(sorted({'trio', 'numpy'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
