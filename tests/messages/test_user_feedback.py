"""v2 ``submitUserFeedback`` bodies: the three kinds, and every way one can be wrong."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages import (
    AffectiveState,
    DecodeError,
    ErrorCode,
    UserCompletion,
    UserDifficulty,
    decode_user_feedback,
)
from tests.messages.strategies import json_values

MANY = settings(max_examples=300, deadline=None)


def decoded(body: Any) -> Any:
    return decode_user_feedback(orjson.dumps(body))


def problems(body: Any) -> list[str]:
    with pytest.raises(DecodeError) as caught:
        decoded(body)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    return caught.value.problems


def test_an_affective_state_with_and_without_input():
    body = {"affective_state": {"state": "Curious", "subject": "Workbook"}}
    state = decoded(body)
    assert state == AffectiveState("Curious", "Workbook")
    assert state.raw == body
    body = {"affective_state": {"state": "Bored", "subject": "Other", "input": "slow", "x": 1}}
    assert decoded(body) == AffectiveState("Bored", "Other", "slow")
    body["affective_state"]["input"] = None
    assert decoded(body).input is None


def test_completion_and_difficulty_maps():
    completion = decoded({"user_completion": {"spinner-ed1-2": True, "spinner-ed1-all": False}})
    assert completion == UserCompletion({"spinner-ed1-2": True, "spinner-ed1-all": False})
    difficulty = decoded({"user_difficulty": {"spinner-ed1-2": 1, "spinner-ed1-all": "NA"}})
    assert difficulty == UserDifficulty({"spinner-ed1-2": 1, "spinner-ed1-all": None})
    assert decoded({"user_difficulty": {}}) == UserDifficulty({})
    with pytest.raises(TypeError):
        difficulty.tasks["x"] = 3  # type: ignore[index]  # frozen


def test_other_keys_are_tolerated_and_null_kinds_are_absent():
    body = {"user_completion": {"t": True}, "user_difficulty": None, "sent_at": 5}
    assert decoded(body) == UserCompletion({"t": True})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["required field missing, expected exactly one of 'affective_state', "]),
        (
            {"user_completion": {}, "user_difficulty": {}},
            ["got 'user_completion', 'user_difficulty' @ $"],
        ),
        ({"user_completion": [True]}, ["expected a JSON object @ $.user_completion"]),
        ({"user_completion": {"t": 1}}, ["expected bool @ $.user_completion['t']"]),
        ({"user_completion": {"": True}}, ["1 to 200 characters long @ $.user_completion[#0]"]),
        ({"user_difficulty": {"t": 0}}, ["out of range, expected 1 to 5 @ $.user_difficulty['t']"]),
        ({"user_difficulty": {"t": 6}}, ["out of range"]),
        ({"user_difficulty": {"t": 2.0}}, ["expected an integer 1-5 or 'NA'"]),
        ({"user_difficulty": {"t": True}}, ["expected an integer 1-5 or 'NA'"]),
        ({"user_difficulty": {"t": "3"}}, ["expected an integer 1-5 or 'NA'"]),
        ({"user_difficulty": {"t": "na"}}, ["expected an integer 1-5 or 'NA'"]),
        ({"user_difficulty": {"t": None}}, ["expected an integer 1-5 or 'NA'"]),
        ({"affective_state": {}}, ["missing @ $.affective_state.state", "subject"]),
        ({"affective_state": {"state": 1, "subject": "UI"}}, ["expected str @ $.affective_state"]),
        ({"affective_state": {"state": "s" * 201, "subject": "UI"}}, ["1 to 200 characters"]),
        ({"affective_state": {"state": "A", "subject": "UI", "input": 3}}, ["str @ $.affective"]),
    ],
)
def test_a_bad_body_names_the_field(body, expected):
    found = problems(body)
    assert len(found) == len(expected), found
    for problem, words in zip(found, expected, strict=True):
        assert words in problem, found


def test_not_json_and_not_an_object():
    with pytest.raises(DecodeError) as caught:
        decode_user_feedback(b"{")
    assert caught.value.code is ErrorCode.BAD_JSON
    assert problems([{"user_completion": {}}]) == [
        "invalid value for type, expected a JSON object @ $"
    ]
    deep: Any = {}
    for _ in range(100):
        deep = {"d": deep}
    assert "nested deeper than 64 levels" in problems({"user_completion": {}, "x": deep})[0]


feedback_shaped = st.dictionaries(
    st.sampled_from(["affective_state", "user_completion", "user_difficulty", "other"]),
    json_values
    | st.dictionaries(
        st.sampled_from(["state", "subject", "input", "spinner-ed1-2", ""]),
        json_values | st.sampled_from(["NA", "Curious", "UI", 1, 5, True]),
    ),
)


@MANY
@given(feedback_shaped | json_values)
def test_nothing_but_decode_error(body):
    try:
        result = decoded(body)
    except DecodeError as error:
        caught = error
        assert caught.code is ErrorCode.INVALID_MESSAGE
        assert all(" @ $" in problem for problem in caught.problems)
    else:
        assert isinstance(result, AffectiveState | UserCompletion | UserDifficulty)
