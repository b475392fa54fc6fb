"""Frames a hostile client can send and what decoding makes of them (issue 12, findings 1, 4).

A payload nested deeper than the store can write again, or a feedback label
long enough to bloat every snapshot, is refused at decode with an error
reply's ``DecodeError``, before anything is applied or stored.
"""

from __future__ import annotations

import orjson
import pytest

from messages import MAX_JSON_DEPTH, DecodeError, ErrorCode, decode

USER = "u1"


def nested(levels: int) -> object:
    """``levels`` containers inside each other, built without recursion."""
    value: object = 1
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def nested_text(levels: int) -> bytes:
    """The JSON text of ``nested(levels)``, written by hand: orjson writes 254 levels at most."""
    opening = b"".join(b"[" if level % 2 else b'{"k":' for level in reversed(range(levels)))
    closing = b"".join(b"]" if level % 2 else b"}" for level in range(levels))
    return opening + b"1" + closing


def command(levels: int) -> bytes:
    head = b'{"user":"u1","t":1,"type":"analytics","exp":"spinner","course":"cie3",'
    return head + b'"payload":{"log":"voltage","data":' + nested_text(levels) + b"}}"


def test_orjson_itself_reads_what_it_cannot_write():
    """Why a limit is needed: the store writes a payload with orjson again."""
    assert orjson.loads(nested_text(300)) == nested(300)  # read: fine
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(nested(300))


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH - 3])
def test_a_payload_within_the_limit_decodes(levels):
    """The frame and payload are two levels: data may nest ``MAX_JSON_DEPTH - 2`` more."""
    message = decode(command(levels))
    assert orjson.loads(orjson.dumps(message.payload.data)) == nested(levels)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH - 1, 254, 255, 1000])
def test_a_deeper_payload_is_refused_with_the_user_named(levels):
    with pytest.raises(DecodeError) as caught:
        decode(command(levels))
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in caught.value.message
    assert caught.value.user == USER


def test_deeper_than_orjson_reads_is_a_message_problem_not_bad_json():
    frame = b'{"user":"u1","t":1,"type":"log","exp":"e","course":"c","payload":{"x":'
    frame += b"[" * 2000 + b"]" * 2000 + b"}}"
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE


def test_many_brackets_side_by_side_are_not_depth():
    """The bracket count only decides whether to look; the walk decides."""
    head = b'{"user":"u1","t":1,"type":"analytics","exp":"spinner","course":"cie3",'
    data = b"[" + b",".join([b"[1]", b"[2]"] * 50) + b"]"
    message = decode(head + b'"payload":{"log":"voltage","data":' + data + b"}}")
    assert message.payload.data == [[1], [2]] * 50


def feedback(state: str, subject: str) -> bytes:
    frame = {
        "user": USER,
        "t": 1,
        "type": "feedback",
        "exp": "spinner",
        "course": "cie3",
        "payload": {"state": state, "subject": subject},
    }
    return orjson.dumps(frame)


@pytest.mark.parametrize(("state", "subject"), [("x" * 201, "UI"), ("Curious", "s" * 500)])
def test_a_feedback_label_over_200_characters_is_refused(state, subject):
    with pytest.raises(DecodeError) as caught:
        decode(feedback(state, subject))
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert "at most 200 characters" in caught.value.message


@pytest.mark.parametrize(("state", "subject"), [("", "UI"), ("x" * 200, "Hardware")])
def test_feedback_labels_the_uis_may_send_stay_accepted(state, subject):
    message = decode(feedback(state, subject))
    assert (message.payload.state, message.payload.subject) == (state, subject)
