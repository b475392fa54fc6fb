"""What the lab UIs and dashboards really send decodes, and is stored as it came."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from messages import (
    ABSENT,
    AllFeedbackRequest,
    AnalyticsEvent,
    AnalyticsPayload,
    CentroidsRequest,
    ComparisonGraphRequest,
    FeedbackEvent,
    FeedbackPayload,
    IndicatorsRequest,
    LogEvent,
    LogPayload,
    Request,
    StudentGraphRequest,
    TaskFeedbackRequest,
    TaskIdentificationRequest,
    decode,
    encode_event,
    payload_json,
)
from tests.conftest import golden

USER = "3f2a9c1e-8d7b-4e6f-a5c4-1b2d3e4f5a6b"
ENVELOPE = {"user": USER, "t": 1673262940583, "exp": "spinner", "course": "cie3"}
SESSIONS = golden("wire_sessions")


def frame(message_type: str, payload: Any, **fields: Any) -> bytes:
    """A frame as a lab UI sends it: the envelope, then ``fields`` on top."""
    return orjson.dumps({**ENVELOPE, "type": message_type, "payload": payload, **fields})


# --- PROTOCOL.md "Inbound messages" --------------------------------------------------


def test_protocol_envelope_example_decodes_every_field() -> None:
    msg = decode(frame("analytics", {"log": "voltage", "data": {"set": 2.5}}, hardware="spin30"))
    assert msg == AnalyticsEvent(
        user=USER,
        t=1673262940583,
        exp="spinner",
        course="cie3",
        hardware="spin30",
        payload=AnalyticsPayload(log="voltage", data={"set": 2.5}),
    )


def test_hardware_is_optional_and_none_when_missing() -> None:
    msg = decode(frame("analytics", {"log": "voltage", "data": 1}))
    assert msg.hardware is None


def test_dashboard_interaction_log_keeps_its_own_type_key() -> None:
    payload = {"log": "analytics-interaction", "type": "mouseenter", "component": "graph"}
    msg = decode(frame("log", payload))
    assert isinstance(msg, LogEvent)
    assert msg.payload == LogPayload(
        log="analytics-interaction", extra={"type": "mouseenter", "component": "graph"}
    )
    assert payload_json(msg) == payload


def test_feedback_without_input() -> None:
    msg = decode(frame("feedback", {"state": "Curious", "subject": "Hardware"}))
    assert isinstance(msg, FeedbackEvent)
    assert msg.payload == FeedbackPayload(state="Curious", subject="Hardware", input=None)


def test_feedback_other_keeps_its_free_text() -> None:
    payload = {"state": "Bored", "subject": "Other", "input": "the camera froze"}
    msg = decode(frame("feedback", payload))
    assert msg.payload.input == "the camera froze"
    assert payload_json(msg) == payload


def test_empty_course_is_accepted_as_an_unknown_course() -> None:
    msg = decode(frame("analytics", {"log": "voltage", "data": 3}, course=""))
    assert msg.course == ""


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"content": "student_graph"}, StudentGraphRequest()),
        (
            {"content": "comparison_graph", "graph": "spinner-cie3-all"},
            ComparisonGraphRequest(graph="spinner-cie3-all"),
        ),
        ({"content": "task_identification"}, TaskIdentificationRequest()),
        ({"content": "indicators"}, IndicatorsRequest()),
        ({"content": "centroids"}, CentroidsRequest()),
        (
            {"content": "task_feedback", "task": "spinner-cie3-1-2"},
            TaskFeedbackRequest(task="spinner-cie3-1-2"),
        ),
        (
            {"content": "all_feedback", "graph": "spinner-engdes1-1-core"},
            AllFeedbackRequest(graph="spinner-engdes1-1-core"),
        ),
        ({"content": "all_feedback"}, AllFeedbackRequest(graph=None)),
    ],
)
def test_every_request_content_decodes_to_its_class(payload: Any, expected: Any) -> None:
    msg = decode(frame("request", payload))
    assert isinstance(msg, Request)
    assert msg.payload == expected
    assert msg.id is None


def test_request_without_t_and_with_id() -> None:
    raw = {key: value for key, value in ENVELOPE.items() if key != "t"}
    msg = decode(
        orjson.dumps({**raw, "type": "request", "id": "q-7", "payload": {"content": "indicators"}})
    )
    assert msg == Request(
        user=USER, exp="spinner", course="cie3", id="q-7", payload=IndicatorsRequest()
    )


def test_integral_float_t_is_accepted_as_an_int() -> None:
    msg = decode(frame("analytics", {"log": "voltage"}, t=1.7e12))
    assert msg.t == 1_700_000_000_000
    assert type(msg.t) is int


def test_str_and_bytes_frames_decode_alike() -> None:
    raw = frame("analytics", {"log": "speed", "data": "73"})
    assert decode(raw) == decode(raw.decode())


# --- Opaque data and extra keys -------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"log": "voltage", "data": 73},
        {"log": "voltage", "data": 2.5},
        {"log": "speed", "data": "73"},
        {"log": "start", "data": None},
        {"log": "voltage", "data": {"set": 1, "nested": {"a": [1, None]}}},
        {"log": "record", "data": [1, "two", None, {"x": 3}]},
        {"log": "brake"},
        {"log": "load", "note": "extra", "type": "own type key"},
    ],
    ids=["int", "float", "numeric-string", "null", "object", "array", "absent", "extras"],
)
def test_opaque_data_round_trips_exactly(payload: dict[str, Any]) -> None:
    msg = decode(frame("analytics", payload))
    assert payload_json(msg) == payload
    # The store writes it as text: absent must stay absent, null stay null.
    assert orjson.loads(orjson.dumps(payload_json(msg))) == payload


def test_absent_data_is_distinct_from_null() -> None:
    absent = decode(frame("analytics", {"log": "brake"}))
    null = decode(frame("analytics", {"log": "brake", "data": None}))
    assert absent.payload.data is ABSENT
    assert null.payload.data is None
    assert "data" not in payload_json(absent)
    assert payload_json(null) == {"log": "brake", "data": None}


def test_no_extra_keys_means_an_empty_extra() -> None:
    assert decode(frame("analytics", {"log": "voltage", "data": 1})).payload.extra == {}


def test_a_payload_key_named_extra_is_kept_as_an_unknown_key() -> None:
    payload = {"log": "voltage", "extra": {"a": 1}}
    msg = decode(frame("analytics", payload))
    assert msg.payload.extra == {"extra": {"a": 1}}
    assert payload_json(msg) == payload


def test_unknown_top_level_keys_are_tolerated_and_dropped() -> None:
    msg = decode(frame("feedback", {"state": "Curious", "subject": "UI"}, session="x", v=2))
    assert encode_event(msg) == {
        **ENVELOPE,
        "type": "feedback",
        "payload": {"state": "Curious", "subject": "UI"},
    }


def test_unknown_request_payload_keys_are_tolerated() -> None:
    payload = {"content": "task_feedback", "task": "spinner-cie3-3", "page": 2}
    msg = decode(frame("request", payload))
    assert msg.payload == TaskFeedbackRequest(task="spinner-cie3-3")


def test_encode_event_round_trips_through_decode() -> None:
    raw = {**ENVELOPE, "type": "request", "hardware": "spin30", "id": 12}
    raw["payload"] = {"content": "all_feedback", "graph": "spinner-cie3-1-2"}
    msg = decode(orjson.dumps(raw))
    assert encode_event(msg) == raw
    assert decode(orjson.dumps(encode_event(msg))) == msg


# --- The golden wire sessions ----------------------------------------------------------


def test_golden_sessions_are_there() -> None:
    assert len(SESSIONS) >= 30
    assert sum(len(session["frames"]) for session in SESSIONS) > 1000


@pytest.mark.parametrize("session", SESSIONS, ids=[s["id"] for s in SESSIONS])
def test_every_golden_frame_decodes_and_stores_its_payload_exactly(session: Any) -> None:
    for raw in session["frames"]:
        msg = decode(orjson.dumps(raw))
        assert raw["type"] == msg.TYPE
        assert (msg.user, msg.t, msg.exp, msg.course) == (
            raw["user"],
            raw["t"],
            raw["exp"],
            raw["course"],
        )
        assert msg.hardware == raw.get("hardware")
        assert payload_json(msg) == raw["payload"]
        assert encode_event(msg) == raw


@pytest.mark.parametrize("session", SESSIONS, ids=[s["id"] for s in SESSIONS])
def test_every_golden_request_decodes(session: Any) -> None:
    envelope = {key: session[key] for key in ("user", "exp", "course")}
    for request in session["requests"]:
        raw = {**envelope, "type": "request", "payload": request["payload"]}
        msg = decode(orjson.dumps(raw))
        assert isinstance(msg, Request)
        assert request["payload"]["content"] == msg.payload.CONTENT
        assert payload_json(msg) == request["payload"]
