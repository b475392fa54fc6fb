"""Id limits at their boundaries, reported with the field's path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from messages import DecodeError, ErrorCode, IdLimitError, check_hardware, decode

BASE = {
    "user": "u1",
    "t": 1,
    "type": "request",
    "exp": "spinner",
    "course": "cie3",
    "hardware": "spin30",
    "payload": {"content": "comparison_graph", "graph": "spinner-cie3-all"},
}


def with_field(path: str, value: Any) -> bytes:
    raw = orjson.loads(orjson.dumps(BASE))
    if path.startswith("payload."):
        raw["payload"][path.removeprefix("payload.")] = value
    else:
        raw[path] = value
    return orjson.dumps(raw)


def with_task(value: Any) -> bytes:
    raw = {**BASE, "payload": {"content": "task_feedback", "task": value}}
    return orjson.dumps(raw)


ACCEPTED = [
    ("user", "u" * 128),
    ("user", "a b/c\\d"),  # a user id is not a name on disk: only printable
    ("user", "é🚀"),
    ("exp", "e" * 64),
    ("course", ""),
    ("course", "c" * 64),
    ("hardware", "h" * 64),
    ("hardware", None),
    ("payload.graph", "g" * 200),
    ("payload.graph", "a/b"),  # looked up in a table, never a path
    ("id", "i" * 128),
    ("id", 2**53 - 1),
    ("id", -(2**53 - 1)),
    ("id", 0),
    ("id", None),
]

REFUSED = [
    ("user", ""),
    ("user", "u" * 129),
    ("user", "tab\there"),
    ("user", "line\nbreak"),
    ("user", "nul\0"),
    ("user", "zero\u200bwidth"),
    ("exp", ""),
    ("exp", "e" * 65),
    ("exp", "../etc"),
    ("exp", "a\\b"),
    ("course", "c" * 65),
    ("course", "cie/3"),
    ("course", "\x7f"),
    ("hardware", ""),
    ("hardware", "h" * 65),
    ("hardware", "spin/30"),
    ("hardware", "spin\\30"),
    ("hardware", "spin\x0030"),
    ("payload.graph", ""),
    ("payload.graph", "g" * 201),
    ("payload.graph", "g\n"),
    ("id", ""),
    ("id", "i" * 129),
    ("id", "\x1b[31m"),
    ("id", 2**53),
    ("id", -(2**53)),
    ("id", True),
    ("id", 1.5),
    ("id", 1.0),
    ("id", [1]),
    ("id", {"n": 1}),
]


@pytest.mark.parametrize(("path", "value"), ACCEPTED)
def test_values_within_limits_are_accepted(path: str, value: Any) -> None:
    msg = decode(with_field(path, value))
    if path.startswith("payload."):
        assert getattr(msg.payload, path.removeprefix("payload.")) == value
    else:
        assert getattr(msg, path) == value


@pytest.mark.parametrize(("path", "value"), REFUSED)
def test_values_outside_limits_are_refused_with_their_path(path: str, value: Any) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(with_field(path, value))
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    (problem,) = caught.value.problems
    assert problem.startswith("invalid value")
    assert problem.endswith(f"@ $.{path}")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("u" * 129, "must be 1 to 128 characters long"),
        ("", "must be 1 to 128 characters long"),
        ("a\nb", "must contain printable characters only"),
    ],
)
def test_limit_messages_say_which_rule_broke(value: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(with_field("user", value))
    assert caught.value.problems == [f"invalid value, {reason} @ $.user"]


def test_path_characters_are_named_in_the_message() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(with_field("hardware", "a/b"))
    assert caught.value.problems == [
        "invalid value, must not contain '/', '\\' or NUL @ $.hardware"
    ]


@pytest.mark.parametrize(("value", "ok"), [("t" * 200, True), ("t" * 201, False), ("", False)])
def test_task_names_have_the_graph_name_limits(value: str, ok: bool) -> None:
    if ok:
        assert decode(with_task(value)).payload.task == value
    else:
        with pytest.raises(DecodeError, match=r"@ \$\.payload\.task"):
            decode(with_task(value))


def test_events_are_limited_like_requests() -> None:
    raw = {**BASE, "type": "log", "payload": {"log": "x"}, "user": "u" * 129}
    with pytest.raises(DecodeError, match=r"@ \$\.user"):
        decode(orjson.dumps(raw))


def test_an_invalid_user_or_id_is_not_echoed() -> None:
    raw = {**BASE, "user": "u" * 129, "id": "i" * 129}
    with pytest.raises(DecodeError) as caught:
        decode(orjson.dumps(raw))
    assert (caught.value.user, caught.value.request_id) == (None, None)
    assert len(caught.value.problems) == 2


def test_limit_checks_are_usable_on_their_own() -> None:
    # The actors validate a stream name from the URL path with the same rule.
    assert check_hardware("spin30") == "spin30"
    with pytest.raises(IdLimitError):
        check_hardware("../spin30")
    assert issubclass(IdLimitError, ValueError)
