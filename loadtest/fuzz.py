"""A mutation fuzzer for the hub: valid frames, mutated, and what each must lead to.

``FrameFuzzer`` makes frames from valid ones (events of every type, requests
of every content) by mutating their JSON (a key dropped, a value of the
wrong type, a huge or deep value, odd ids), their text (cut, a character
inserted, not an object) or, at the end of a connection's life, the frame
itself (binary, invalid UTF-8, unmasked, reserved bits, an unknown opcode,
a long control frame, too big, too many fragments, a bad close code).

What a text frame must lead to comes from an oracle independent of the
service's wiring: ``messages.decode`` says whether the text is an event (to
be stored, no reply), a request (its replies: five for ``all_feedback``,
else one; or one ``overloaded`` error), a frame to ignore (someone's
reply) or an invalid one (exactly one error reply). A frame that breaks
RFC 6455 must close the connection with the code given here, and
everything sent before it is still handled. ``benchmarks/fuzz_live.py``
runs it against a spawned service; ``tests/actors/test_hostile_fuzz.py``
runs a few hundred frames against one in the test process.
"""

from __future__ import annotations

import random
from typing import Any

import attrs
import orjson

from loadtest.rawws import client_frame
from messages import DecodeError, Event, Request, decode
from websocket.frames import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT

USERS = [f"fuzz-{n}" for n in range(40)]
LOGS = ["voltage", "voltage_ramp", "position", "position_ramp", "speed", "speed_ramp", "start"]
CONTENTS = ["student_graph", "comparison_graph", "task_identification", "indicators",
            "centroids", "task_feedback", "all_feedback"]  # fmt: skip
GRAPHS = ["spinner-cie3-3", "spinner-cie3-1-2", "spinner-engdes1-1-core", "nope-x-1"]
ODD_STRINGS = ["", " ", "a/b", "a\\b", "nul\x00", "\t", "é€😀", "x" * 129, "y" * 2000, "\u202e"]
MAX_FRAME_BYTES = 64 * 1024
# Frames that break the protocol, sent last on a connection, and the close code each gets.
ENDINGS: dict[str, int] = {
    "binary": 1003,
    "invalid_utf8": 1007,
    "unmasked": 1002,
    "reserved_bit": 1002,
    "unknown_opcode": 1002,
    "long_ping": 1002,
    "too_big": 1009,
    "stray_continuation": 1002,
    "too_many_fragments": 1009,
    "bad_close_code": 1002,
}


@attrs.frozen
class Raw:
    """JSON text to put in a frame as it is (what orjson will not write)."""

    text: str


def dumps(frame: Any) -> str:
    """``frame`` as JSON text, ``Raw`` values written as they are."""
    raws: list[str] = []

    def placeholder(value: Any) -> str:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        raise TypeError(type(value))

    text = orjson.dumps(frame, default=placeholder).decode()
    for number, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{number}\\u0000"', raw, 1)
    return text


@attrs.frozen
class Expected:
    """What one text frame must lead to."""

    kind: str  # "event", "request", "invalid", "ignored"
    replies: int = 0  # a request's replies
    request_id: str | int | None = None


def expect(text: str) -> Expected:
    """The oracle: what the service must do with ``text``."""
    try:
        message = decode(text)
    except DecodeError as error:
        return Expected("ignored") if error.is_reply else Expected("invalid")
    if isinstance(message, Request):
        replies = 5 if message.payload.CONTENT == "all_feedback" else 1
        return Expected("request", replies, message.id)
    assert isinstance(message, Event)
    return Expected("event")


class FrameFuzzer:
    """Valid frames, mutated; seeded, so a run can be repeated exactly."""

    def __init__(self, seed: int, *, max_depth: int = 1100) -> None:
        self.rng = random.Random(seed)
        self.max_depth = max_depth
        self._ids = 0

    def valid(self) -> dict[str, Any]:
        rng = self.rng
        frame: dict[str, Any] = {
            "user": rng.choice(USERS),
            "t": rng.randrange(1, 2**41),
            "exp": "spinner",
            "course": rng.choice(["cie3", "engdes1", ""]),
        }
        kind = rng.choice(["analytics", "analytics", "analytics", "log", "feedback", "request"])
        frame["type"] = kind
        if kind == "analytics":
            frame["payload"] = {"log": rng.choice(LOGS), "data": rng.choice([1, "73", None, {}])}
        elif kind == "log":
            frame["payload"] = {"log": "analytics-interaction", "type": "mouseenter"}
        elif kind == "feedback":
            frame["payload"] = {"state": rng.choice(["Curious", "Bored"]), "subject": "UI"}
        else:
            self._ids += 1
            frame["id"] = self._ids
            content = rng.choice(CONTENTS)
            frame["payload"] = {"content": content}
            if content in ("comparison_graph", "all_feedback"):
                frame["payload"]["graph"] = rng.choice(GRAPHS)
            elif content == "task_feedback":
                frame["payload"]["task"] = rng.choice(GRAPHS)
        return frame

    def odd_value(self) -> Any:
        rng = self.rng
        choice = rng.randrange(9)
        if choice == 0:  # deeper than orjson (or Python's recursion) writes: JSON text
            depth = rng.randrange(1, self.max_depth + 1)
            opening = "".join(rng.choice(["[", '{"k":']) for _ in range(depth))
            closing = "".join("]" if c == "[" else "}" for c in reversed(opening) if c in "[{")
            return Raw(opening + "1" + closing)
        return [None, True, -1, Raw(str(2**70)), 1.5, rng.choice(ODD_STRINGS), [1, "2"],
                {"a": {}}][choice - 1]  # fmt: skip

    def mutate(self, frame: dict[str, Any]) -> dict[str, Any]:
        """0-3 changes to the frame's JSON; the request ``id`` is never touched."""
        rng = self.rng
        for _ in range(rng.randrange(0, 4)):
            target = frame["payload"] if rng.random() < 0.4 and isinstance(
                frame.get("payload"), dict) else frame  # fmt: skip
            keys = [key for key in target if key != "id"]
            operation = rng.randrange(4)
            if operation == 0 and keys:
                del target[rng.choice(keys)]
            elif operation == 1 and keys:
                target[rng.choice(keys)] = self.odd_value()
            elif operation == 2:
                target[rng.choice(["extra", "type", "content", "hardware"])] = self.odd_value()
            else:
                target[rng.choice(["user", "exp", "course", "hardware"])] = rng.choice(ODD_STRINGS)
        return frame

    def text(self) -> str:
        """One frame's text: valid, mutated JSON, or mangled text."""
        rng = self.rng
        frame = self.valid()
        roll = rng.random()
        if roll < 0.35:
            return orjson.dumps(frame).decode()
        if roll < 0.85:
            return dumps(self.mutate(frame))
        text = orjson.dumps(frame).decode()
        mangle = rng.randrange(4)
        if mangle == 0:
            return text[: rng.randrange(len(text))]
        if mangle == 1:
            at = rng.randrange(len(text))
            return text[:at] + rng.choice('{}[]",:\\x\u00e9 ') + text[at:]
        if mangle == 2:
            return rng.choice(["[]", '"x"', "1", "null", "", " ", "NaN", '{"type": "response"}'])
        return text.replace('"user"', '"user", "user": 1', 1)  # a duplicate key

    def ending(self) -> tuple[str, bytes, int]:
        """A frame that breaks RFC 6455 (or our rules): its name, bytes and close code."""
        name = self.rng.choice(sorted(ENDINGS))
        data = {
            "binary": lambda: client_frame(OP_BINARY, b"\x00\x01"),
            "invalid_utf8": lambda: client_frame(OP_TEXT, b'{"user": "\xff"}'),
            "unmasked": lambda: client_frame(OP_TEXT, b"{}", mask=None),
            "reserved_bit": lambda: client_frame(OP_TEXT, b"{}", rsv=0x40),
            "unknown_opcode": lambda: client_frame(0x3, b"{}"),
            "long_ping": lambda: client_frame(OP_PING, b"p" * 126),
            "too_big": lambda: client_frame(OP_TEXT, b" " * (MAX_FRAME_BYTES + 1)),
            "stray_continuation": lambda: client_frame(OP_CONTINUATION, b"{}"),
            "too_many_fragments": lambda: (
                client_frame(OP_TEXT, b"[", fin=False)
                + client_frame(OP_CONTINUATION, b"", fin=False) * 1024
            ),
            "bad_close_code": lambda: client_frame(OP_CLOSE, (999).to_bytes(2, "big")),
        }[name]()
        return name, data, ENDINGS[name]
