"""Hypothesis strategies for wire frames: valid ones, and arbitrary JSON.

The valid-frame strategies build the JSON dict a client would send, so a
test can compare what ``decode`` made of it with what went in.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from messages import REQUEST_CONTENTS

# str.isprintable() is False for exactly these categories, except the space.
_NON_PRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
PRINTABLE = st.characters(exclude_categories=_NON_PRINTABLE) | st.just(" ")
NAME_CHARS = st.characters(exclude_categories=_NON_PRINTABLE, exclude_characters="/\\")

users = st.text(PRINTABLE, min_size=1, max_size=128)
exps = st.text(NAME_CHARS, min_size=1, max_size=64)
courses = st.text(NAME_CHARS, min_size=0, max_size=64)
hardwares = st.text(NAME_CHARS, min_size=1, max_size=64)
graph_names = st.text(PRINTABLE, min_size=1, max_size=200)
times_ms = st.integers(min_value=0, max_value=2**53 - 1)
request_ids = st.text(PRINTABLE, min_size=1, max_size=128) | st.integers(
    min_value=-(2**53 - 1), max_value=2**53 - 1
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value orjson can write and read back equal."""

_ENVELOPE_KEYS = {"user", "t", "type", "exp", "course", "hardware", "payload", "id"}


def _extra_keys(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown keys a client may add (never one of ``reserved``)."""
    return st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda key: key not in reserved),
        json_values,
        max_size=3,
    )


@st.composite
def _envelope(draw: st.DrawFn, message_type: str) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "user": draw(users),
        "type": message_type,
        "exp": draw(exps),
        "course": draw(courses),
    }
    if message_type != "request" or draw(st.booleans()):
        frame["t"] = draw(times_ms)
    if draw(st.booleans()):
        frame["hardware"] = draw(hardwares)
    return frame


@st.composite
def analytics_frames(draw: st.DrawFn) -> dict[str, Any]:
    """``type: analytics`` with any opaque ``data``, or none, and extra keys."""
    payload: dict[str, Any] = {"log": draw(st.text(max_size=20))}
    if draw(st.booleans()):
        payload["data"] = draw(json_values)
    payload.update(draw(_extra_keys({"log", "data", "extra"})))
    return {**draw(_envelope("analytics")), "payload": payload}


@st.composite
def log_frames(draw: st.DrawFn) -> dict[str, Any]:
    """``type: log``: interaction events with their own keys, ``type`` included."""
    payload: dict[str, Any] = {}
    if draw(st.booleans()):
        payload["log"] = draw(st.text(max_size=20))
    if draw(st.booleans()):
        payload["type"] = draw(st.sampled_from(["mouseenter", "click", "scroll"]))
    payload.update(draw(_extra_keys({"log", "extra"})))
    return {**draw(_envelope("log")), "payload": payload}


@st.composite
def feedback_frames(draw: st.DrawFn) -> dict[str, Any]:
    """``type: feedback`` with or without free-text ``input``."""
    payload: dict[str, Any] = {
        "state": draw(st.sampled_from(["Curious", "Bored", "Nonsense", ""])),
        "subject": draw(st.sampled_from(["Hardware", "Other", "spinner-cie3-1-2"])),
    }
    if draw(st.booleans()):
        payload["input"] = draw(st.text(max_size=40))
    payload.update(draw(_extra_keys({"state", "subject", "input", "extra"})))
    return {**draw(_envelope("feedback")), "payload": payload}


@st.composite
def request_frames(draw: st.DrawFn) -> dict[str, Any]:
    """``type: request`` of every ``content``, with its fields and maybe an ``id``."""
    content = draw(st.sampled_from(REQUEST_CONTENTS))
    payload: dict[str, Any] = {"content": content}
    if content == "comparison_graph" or (content == "all_feedback" and draw(st.booleans())):
        payload["graph"] = draw(graph_names)
    if content == "task_feedback":
        payload["task"] = draw(graph_names)
    frame = {**draw(_envelope("request")), "payload": payload}
    if draw(st.booleans()):
        frame["id"] = draw(request_ids)
    return frame


valid_frames = analytics_frames() | log_frames() | feedback_frames() | request_frames()
"""Any frame ``decode`` must accept."""


@st.composite
def with_top_level_extras(draw: st.DrawFn, frames: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid frame plus unknown top-level keys (which ``decode`` drops)."""
    frame = draw(frames)
    return frame, {**frame, **draw(_extra_keys(_ENVELOPE_KEYS))}
