"""Properties: valid frames keep every field; nothing makes decode crash."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from messages import (
    ABSENT,
    DecodeError,
    ErrorCode,
    Request,
    codec,
    decode,
    encode_event,
    payload_json,
)
from tests.messages.strategies import (
    analytics_frames,
    json_values,
    valid_frames,
    with_top_level_extras,
)

MANY = settings(max_examples=300, deadline=None)


def decode_or_error(frame: str | bytes) -> Any:
    """Decode, turning the one allowed exception into a value; any other escapes."""
    try:
        return decode(frame)
    except DecodeError as error:
        caught = error
    assert caught.code in {ErrorCode.BAD_JSON, ErrorCode.INVALID_MESSAGE}
    assert caught.problems
    assert all(isinstance(problem, str) for problem in caught.problems)
    return caught


# --- Valid frames -------------------------------------------------------------------------


@MANY
@given(valid_frames)
def test_a_valid_frame_keeps_every_field(frame: dict[str, Any]) -> None:
    msg = decode(orjson.dumps(frame))
    assert frame["type"] == msg.TYPE
    assert msg.user == frame["user"]
    assert msg.t == frame.get("t")
    assert msg.exp == frame["exp"]
    assert msg.course == frame["course"]
    assert msg.hardware == frame.get("hardware")
    if isinstance(msg, Request):
        assert msg.id == frame.get("id")
        assert frame["payload"]["content"] == msg.payload.CONTENT
    assert payload_json(msg) == frame["payload"]
    assert encode_event(msg) == frame


@MANY
@given(with_top_level_extras(valid_frames))
def test_unknown_top_level_keys_change_nothing(frames: tuple[dict[str, Any], Any]) -> None:
    frame, frame_with_extras = frames
    assert decode(orjson.dumps(frame_with_extras)) == decode(orjson.dumps(frame))


@MANY
@given(analytics_frames())
def test_opaque_data_is_kept_exactly_absent_included(frame: dict[str, Any]) -> None:
    msg = decode(orjson.dumps(frame))
    if "data" in frame["payload"]:
        assert msg.payload.data == frame["payload"]["data"]
    else:
        assert msg.payload.data is ABSENT
    assert orjson.loads(orjson.dumps(payload_json(msg))) == frame["payload"]


# --- Nothing but DecodeError --------------------------------------------------------------


@MANY
@given(st.binary(max_size=200))
@example(b"\xff")
@example(b'{"type": "request", "payload": {"content": []}}')
def test_arbitrary_bytes_never_crash_decode(frame: bytes) -> None:
    decode_or_error(frame)


@MANY
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_decode(frame: str) -> None:
    decode_or_error(frame)


@MANY
@given(json_values)
def test_arbitrary_json_never_crashes_decode(value: Any) -> None:
    result = decode_or_error(orjson.dumps(value))
    if not isinstance(value, dict):
        assert isinstance(result, DecodeError)
        assert result.code is ErrorCode.INVALID_MESSAGE


envelope_values = st.dictionaries(
    st.sampled_from(["user", "t", "type", "exp", "course", "hardware", "id", "payload"]),
    json_values
    | st.sampled_from(["analytics", "log", "feedback", "request"])
    | st.fixed_dictionaries(
        {"content": st.sampled_from(["student_graph", "comparison_graph", "all_feedback"])},
        optional={"graph": json_values, "task": json_values, "log": json_values},
    ),
)


@MANY
@given(envelope_values)
def test_envelope_shaped_json_never_crashes_decode(value: dict[str, Any]) -> None:
    decode_or_error(orjson.dumps(value))


@st.composite
def mutated_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A valid frame with one to three fields dropped, replaced or retyped."""
    frame = json.loads(json.dumps(draw(valid_frames)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = frame
        if isinstance(frame.get("payload"), dict) and draw(st.booleans()):
            target = frame["payload"]
        if not target:
            break
        key = draw(st.sampled_from(sorted(target)))
        mutation = draw(st.sampled_from(["drop", "replace", "retype"]))
        if mutation == "drop":
            del target[key]
        elif mutation == "replace":
            target[key] = draw(json_values)
        else:
            target[key] = draw(
                st.sampled_from(
                    [None, True, 0, -1, 1.5, 2**60, "", "x" * 300, [], {}, [target[key]]]
                )
            )
    return frame


@MANY
@given(mutated_frames())
def test_mutated_valid_frames_never_crash_decode(frame: dict[str, Any]) -> None:
    # json, not orjson: mutations may bring integers beyond 64 bits.
    decode_or_error(json.dumps(frame))


@MANY
@given(valid_frames, st.integers(min_value=0, max_value=400))
def test_truncated_frames_are_bad_json_or_decode(frame: dict[str, Any], cut: int) -> None:
    text = orjson.dumps(frame)
    result = decode_or_error(text[:cut])
    if cut < len(text):
        assert isinstance(result, DecodeError)
        assert result.code is ErrorCode.BAD_JSON


COMMAND = {
    "user": "u1",
    "t": 5,
    "type": "analytics",
    "exp": "spinner",
    "course": "cie3",
    "hardware": "spin30",
    "payload": {"log": "voltage", "data": {"set": 1}},
}


@MANY
@given(st.one_of(analytics_frames(), with_top_level_extras(analytics_frames()), json_values))
@example(COMMAND)
@example({**COMMAND, "t": True})
@example({**COMMAND, "t": 1.7e12})
@example({**COMMAND, "t": -1})
@example({**COMMAND, "hardware": ""})
@example({**COMMAND, "hardware": None})
@example({**COMMAND, "user": ""})
@example({**COMMAND, "exp": "a/b"})
@example({**COMMAND, "course": ""})
@example({**COMMAND, "payload": {"log": "voltage"}})
@example({**COMMAND, "payload": {"log": "voltage", "data": None}})
@example({**COMMAND, "payload": {"log": 5}})
@example({**COMMAND, "payload": {"log": "voltage", "x": 1}})
def test_the_command_fast_path_agrees_with_the_full_decoder(frame) -> None:
    """``decode`` builds common commands by hand; the result must be what cattrs builds."""
    raw = orjson.loads(orjson.dumps(frame))
    if type(raw) is not dict:
        return
    fast = codec._common_command(raw)
    try:
        full = codec._structured(raw)
    except DecodeError:
        assert fast is None
        return
    assert fast is None or fast == full


def test_a_plain_command_takes_the_fast_path() -> None:
    raw = orjson.loads(orjson.dumps(COMMAND))
    fast = codec._common_command(raw)
    assert fast is not None
    assert fast == codec._structured(raw)
    assert codec._common_command({**raw, "type": "log"}) is None
