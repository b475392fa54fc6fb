"""A fragmented message is bounded in frames and in bytes, never in list entries.

Issue 12, finding 5: endless zero-length continuations stayed under the
64 KiB limit while the reader kept one list entry per frame (30 M frames,
235 MB). The frames are built by hand (``masked``), not by the reader.
"""

from __future__ import annotations

import tracemalloc

import pytest

from tests.websocket.test_frames import masked
from websocket.frames import (
    CLOSE_TOO_BIG,
    MAX_MESSAGE_FRAMES,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    FrameReader,
    Ping,
    ProtocolViolation,
    Text,
)

EMPTY_CONTINUATION = masked(OP_CONTINUATION, b"", fin=False)


def test_the_default_bound_is_1024_frames() -> None:
    assert MAX_MESSAGE_FRAMES == 1024


def test_a_message_of_exactly_the_frame_bound_is_accepted() -> None:
    reader = FrameReader(1000, max_message_frames=4)
    stream = masked(OP_TEXT, b"a", fin=False)
    stream += masked(OP_CONTINUATION, b"b", fin=False) + masked(OP_CONTINUATION, b"c", fin=False)
    stream += masked(OP_CONTINUATION, b"d")
    assert reader.feed(stream) == [Text("abcd")]
    # The count starts again with the next message.
    assert reader.feed(stream) == [Text("abcd")]


def test_one_frame_past_the_bound_closes_with_1009_from_its_header_alone() -> None:
    reader = FrameReader(1000, max_message_frames=3)
    reader.feed(masked(OP_TEXT, b"", fin=False) + EMPTY_CONTINUATION + EMPTY_CONTINUATION)
    with pytest.raises(ProtocolViolation) as caught:
        reader.feed(masked(OP_CONTINUATION, b"x" * 50)[:2])  # only the header has come
    assert caught.value.code == CLOSE_TOO_BIG
    assert "frames" in caught.value.reason


def test_control_frames_between_fragments_do_not_count() -> None:
    reader = FrameReader(1000, max_message_frames=2)
    stream = masked(OP_TEXT, b"a", fin=False)
    stream += masked(OP_PING, b"1") + masked(OP_PING, b"2") + masked(OP_PING, b"3")
    stream += masked(OP_CONTINUATION, b"b")
    assert reader.feed(stream) == [Ping(b"1"), Ping(b"2"), Ping(b"3"), Text("ab")]


def test_empty_continuations_hold_no_memory_per_frame() -> None:
    frames = 20_000
    reader = FrameReader(64 * 1024, max_message_frames=frames + 10)
    reader.feed(masked(OP_TEXT, b"{", fin=False))
    chunk = EMPTY_CONTINUATION * 1000
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(frames // 1000):
            assert reader.feed(chunk) == []
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A list entry per frame would hold 8 bytes each: 160 KB here.
    assert held - before < 4096
    assert reader.partial
    assert reader.feed(masked(OP_CONTINUATION, b"}")) == [Text("{}")]
    assert not reader.partial


def test_partial_says_whether_a_message_has_begun() -> None:
    reader = FrameReader(1000)
    assert not reader.partial
    frame = masked(OP_TEXT, b"hello")
    reader.feed(frame[:3])
    assert reader.partial  # part of a frame
    reader.feed(frame[3:])
    assert not reader.partial
    reader.feed(masked(OP_TEXT, b"he", fin=False))
    assert reader.partial  # part of a fragmented message
