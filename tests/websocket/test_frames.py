"""RFC 6455 framing, checked against wsproto as an independent implementation.

wsproto's client produces the real masked frames our reader must parse and
parses the frames our writers produce; frames wsproto refuses to produce
(malformed ones) are built by ``masked`` below.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Request,
    TextMessage,
)
from wsproto.events import Pong as PongEvent

from websocket import frames as wsframes
from websocket.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Binary,
    Close,
    FrameReader,
    Pong,
    ProtocolViolation,
    Text,
    close_frame,
    server_frame,
    text_frames,
)

MAX = 1 << 20
MASK = b"\x37\xfa\x21\x3d"
# Payload lengths where the length encoding changes (7, 16, 64 bits).
BOUNDARY_SIZES = [0, 1, 124, 125, 126, 127, 65535, 65536, 65537]


def masked(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length: int | None = None,
    width: int | None = None,
) -> bytes:
    """A client frame, possibly malformed: ``length``/``width`` override the header."""
    declared = len(payload) if length is None else length
    if width is None:
        width = 0 if declared < 126 else 2 if declared < 0x10000 else 8
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    if width == 0:
        head = bytes((first, mask_bit | declared))
    else:
        head = bytes((first, mask_bit | (126 if width == 2 else 127)))
        head += declared.to_bytes(width, "big")
    if mask is None:
        return head + payload
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + body


def open_client() -> WSConnection:
    """A wsproto client past its handshake (done by wsproto's own server, not ours)."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="lab.example", target="/")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    return client


def client_bytes(events: list) -> bytes:
    client = open_client()
    return b"".join(client.send(event) for event in events)


def feed_chunks(reader: FrameReader, stream: bytes, cuts: list[int]) -> list:
    received = []
    edges = [0, *sorted(cuts), len(stream)]
    for start, stop in itertools.pairwise(edges):
        received += reader.feed(stream[start:stop])
    return received


def violation(data: bytes | list[bytes], max_message_bytes: int = MAX) -> ProtocolViolation:
    """The violation raised while feeding ``data`` (one feed per item of a list)."""
    reader = FrameReader(max_message_bytes)
    *before, last = [data] if isinstance(data, bytes) else data
    for chunk in before:
        reader.feed(chunk)
    with pytest.raises(ProtocolViolation) as caught:
        reader.feed(last)
    return caught.value


def parse_as_client(data: bytes) -> list:
    """What a wsproto client makes of server bytes, whole messages only."""
    client = open_client()
    client.receive_data(data)
    out: list = []
    pending: list = []
    for event in client.events():
        if isinstance(event, Message):
            pending.append(event.data)
            if event.message_finished:
                joined = ("" if isinstance(event, TextMessage) else b"").join(pending)
                out.append((type(event).__name__, joined))
                pending = []
        else:
            out.append(event)
    return out


# -- messages round-trip ------------------------------------------------------


def sized_text(size: int, tail: str) -> str:
    return "x" * size + tail


def sized_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


texts = st.text(max_size=40) | st.builds(
    sized_text, st.sampled_from(BOUNDARY_SIZES), st.sampled_from(["", "é", "€", "😀"])
)
blobs = st.binary(max_size=40) | st.builds(
    sized_bytes, st.sampled_from(BOUNDARY_SIZES), st.integers(0, 2**32)
)
messages = st.lists(st.one_of(texts, blobs), max_size=6)


def as_event(message: str | bytes, finished: bool = True) -> Message:
    if isinstance(message, str):
        return TextMessage(data=message, message_finished=finished)
    return BytesMessage(data=message, message_finished=finished)


def as_received(message: str | bytes) -> Text | Binary:
    return Text(message) if isinstance(message, str) else Binary(message)


@settings(max_examples=150, deadline=None)
@given(messages, st.data())
def test_messages_come_out_whole_and_in_order_for_any_chunking(sent, data) -> None:
    stream = client_bytes([as_event(message) for message in sent])
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    received = feed_chunks(FrameReader(MAX), stream, cuts)
    assert received == [as_received(message) for message in sent]


@settings(max_examples=150, deadline=None)
@given(messages, st.data())
def test_fragmented_messages_with_pings_between_fragments(sent, data) -> None:
    events: list = []
    expected: list = []
    for message in sent:
        # Split where the draw says, wsproto then frames each piece.
        cuts = sorted(data.draw(st.lists(st.integers(0, len(message)), max_size=4)))
        edges = [0, *cuts, len(message)]
        pieces = [message[a:b] for a, b in itertools.pairwise(edges)]
        for number, piece in enumerate(pieces):
            events.append(as_event(piece, finished=number == len(pieces) - 1))
            if number < len(pieces) - 1 and data.draw(st.booleans()):
                payload = data.draw(st.binary(max_size=125))
                events.append(Ping(payload=payload))
                expected.append(wsframes.Ping(payload))
        expected.append(as_received(message))
    stream = client_bytes(events)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert feed_chunks(FrameReader(MAX), stream, cuts) == expected


def test_byte_by_byte() -> None:
    sent = ["", "hello", "é€😀" * 50, b"\x00\xff" * 70]
    stream = client_bytes([as_event(message) for message in sent])
    reader = FrameReader(MAX)
    received = []
    for index in range(len(stream)):
        received += reader.feed(stream[index : index + 1])
    assert received == [as_received(message) for message in sent]


def test_several_frames_in_one_feed_and_a_partial_one_kept() -> None:
    stream = client_bytes([TextMessage(data="one"), TextMessage(data="two" * 100)])
    reader = FrameReader(MAX)
    assert reader.feed(stream[:-10]) == [Text("one")]
    assert reader.feed(b"") == []
    assert reader.feed(stream[-10:]) == [Text("two" * 100)]


def test_ping_and_pong_payloads() -> None:
    stream = client_bytes([Ping(payload=b"p" * 125), PongEvent(payload=b"q")])
    assert FrameReader(MAX).feed(stream) == [wsframes.Ping(b"p" * 125), Pong(b"q")]


def test_control_frames_do_not_count_against_the_message_limit() -> None:
    assert FrameReader(10).feed(masked(OP_PING, b"p" * 125)) == [wsframes.Ping(b"p" * 125)]


def test_a_message_of_exactly_the_limit_is_accepted() -> None:
    reader = FrameReader(1000)
    assert reader.feed(masked(OP_BINARY, b"b" * 1000)) == [Binary(b"b" * 1000)]
    assert reader.feed(masked(OP_TEXT, b"a" * 400, fin=False)) == []
    assert reader.feed(masked(OP_CONTINUATION, b"a" * 600)) == [Text("a" * 1000)]


def test_a_multibyte_character_split_across_fragments_is_valid() -> None:
    euro = "€".encode()
    stream = masked(OP_TEXT, b"price " + euro[:1], fin=False)
    stream += masked(OP_PING, b"mid")
    stream += masked(OP_CONTINUATION, euro[1:2], fin=False)
    stream += masked(OP_CONTINUATION, euro[2:])
    assert FrameReader(MAX).feed(stream) == [wsframes.Ping(b"mid"), Text("price €")]


def test_fragmented_binary() -> None:
    stream = masked(OP_BINARY, b"\xff", fin=False) + masked(OP_CONTINUATION, b"\xfe")
    assert FrameReader(MAX).feed(stream) == [Binary(b"\xff\xfe")]


# -- close frames --------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999])
def test_valid_close_codes(code) -> None:
    stream = client_bytes([CloseConnection(code=code, reason="bye ✓")])
    assert FrameReader(MAX).feed(stream) == [Close(code, "bye ✓")]


def test_empty_close_payload() -> None:
    assert FrameReader(MAX).feed(masked(OP_CLOSE)) == [Close(None, "")]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes(code) -> None:
    assert violation(masked(OP_CLOSE, code.to_bytes(2, "big"))).code == 1002


def test_one_byte_close_payload() -> None:
    caught = violation(masked(OP_CLOSE, b"\x03"))
    assert (caught.code, caught.reason) == (1002, "close payload of 1 byte")


def test_close_reason_must_be_utf8() -> None:
    assert violation(masked(OP_CLOSE, b"\x03\xe8\xff")).code == 1007


def test_everything_after_a_close_is_ignored() -> None:
    reader = FrameReader(MAX)
    stream = masked(OP_TEXT, b"before") + masked(OP_CLOSE, b"\x03\xe8") + masked(OP_TEXT, b"after")
    assert reader.feed(stream) == [Text("before"), Close(1000, "")]
    assert reader.feed(masked(OP_TEXT, b"later")) == []
    assert reader.feed(b"\x00\x00 garbage that would be a violation") == []


# -- violations ----------------------------------------------------------------


def test_unmasked_frame() -> None:
    assert violation(masked(OP_TEXT, b"hi", mask=None)).code == 1002
    # Known from the first two bytes alone.
    assert violation(masked(OP_TEXT, b"hi", mask=None)[:2]).code == 1002


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_reserved_bits(rsv) -> None:
    assert violation(masked(OP_TEXT, b"hi", rsv=rsv)).code == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_unknown_opcodes(opcode) -> None:
    assert violation(masked(opcode, b"hi")).code == 1002


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_fragmented_control_frame(opcode) -> None:
    assert violation(masked(opcode, b"\x03\xe8", fin=False)).code == 1002


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_oversized_control_frame(opcode) -> None:
    frame = masked(opcode, b"\x03\xe8" + b"x" * 124)
    assert violation(frame).code == 1002
    assert violation(frame[:4]).code == 1002  # from the header, before the payload


def test_stray_continuation() -> None:
    assert violation(masked(OP_CONTINUATION, b"hi")).code == 1002
    # Also after a fragmented message has finished.
    done = masked(OP_TEXT, b"a", fin=False) + masked(OP_CONTINUATION, b"b")
    assert violation(done + masked(OP_CONTINUATION, b"c")).code == 1002


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_new_message_while_fragments_are_unfinished(opcode) -> None:
    started = masked(OP_TEXT, b"a", fin=False)
    assert violation(started + masked(opcode, b"b")).code == 1002


def test_oversized_message_detected_from_the_header_alone() -> None:
    header = masked(OP_TEXT, length=10_000_000)[:10]  # 2 + 8 length bytes, no mask yet
    assert violation(header).code == 1009
    header16 = masked(OP_BINARY, length=5000)[:4]
    assert violation(header16, max_message_bytes=4999).code == 1009


def test_oversized_fragmented_message_detected_from_the_next_header() -> None:
    first = masked(OP_TEXT, b"a" * 600, fin=False)
    second_header = masked(OP_CONTINUATION, length=401)[:4]
    assert violation([first, second_header], max_message_bytes=1000).code == 1009


def test_64_bit_length_with_the_top_bit_set() -> None:
    head = bytes((0x81, 0xFF)) + (1 << 63 | 200_000).to_bytes(8, "big")
    assert violation(head).code == 1002


def test_lengths_must_be_minimally_encoded() -> None:
    assert violation(masked(OP_TEXT, b"hi", width=2)).code == 1002
    assert violation(masked(OP_TEXT, b"h" * 300, width=8)).code == 1002


def test_invalid_utf8() -> None:
    assert violation(masked(OP_TEXT, b"ok \xff")).code == 1007
    # A character cut short at the end of the joined message.
    cut = masked(OP_TEXT, b"a\xe2", fin=False) + masked(OP_CONTINUATION, b"\x82")
    assert violation(cut).code == 1007
    surrogate = "\ud800".encode("utf-8", "surrogatepass")
    assert violation(masked(OP_TEXT, surrogate)).code == 1007


def test_binary_messages_are_not_decoded() -> None:
    assert FrameReader(MAX).feed(masked(OP_BINARY, b"\xff")) == [Binary(b"\xff")]


def test_the_reader_stays_dead_after_a_violation() -> None:
    reader = FrameReader(MAX)
    with pytest.raises(ProtocolViolation) as first:
        reader.feed(masked(OP_TEXT, b"hi", mask=None))
    for _ in range(2):
        with pytest.raises(ProtocolViolation) as again:
            reader.feed(masked(OP_TEXT, b"valid"))
        assert (again.value.code, again.value.reason) == (first.value.code, first.value.reason)
    assert str(first.value) == first.value.reason


def test_messages_before_the_bad_frame_travel_with_the_violation() -> None:
    stream = masked(OP_TEXT, b"fine") + masked(OP_PING) + masked(OP_TEXT, b"\xff")
    caught = violation(stream)
    assert caught.code == 1007
    assert caught.received == [Text("fine"), wsframes.Ping(b"")]


# -- writers -------------------------------------------------------------------


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_server_frames_parse_as_wsproto_messages(size) -> None:
    text = sized_text(size, "€")
    data = sized_bytes(size, size)
    frames = server_frame(OP_TEXT, text.encode()) + server_frame(OP_BINARY, data)
    assert parse_as_client(frames) == [("TextMessage", text), ("BytesMessage", data)]


def test_server_frame_header_lengths() -> None:
    assert server_frame(OP_TEXT, b"a" * 125)[:2] == b"\x81\x7d"
    assert server_frame(OP_TEXT, b"a" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert server_frame(OP_BINARY, b"a" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")


def test_server_ping_and_pong() -> None:
    events = parse_as_client(server_frame(OP_PING, b"are you there"))
    assert events == [Ping(payload=b"are you there")]
    assert parse_as_client(server_frame(OP_PONG, b"yes")) == [PongEvent(payload=b"yes")]


def test_control_frames_cannot_be_oversized() -> None:
    with pytest.raises(ValueError, match="125"):
        server_frame(OP_PING, b"p" * 126)


@given(st.lists(st.text(max_size=300), max_size=8))
def test_text_frames_parse_as_the_same_texts(texts) -> None:
    expected = [("TextMessage", text) for text in texts]
    assert parse_as_client(text_frames(texts)) == expected
    assert text_frames(texts) == b"".join(server_frame(OP_TEXT, t.encode()) for t in texts)


def test_close_frame_parses_as_wsproto_close() -> None:
    [event] = parse_as_client(close_frame(1001, "going away"))
    assert (event.code, event.reason) == (1001, "going away")


# wsproto 1.3 predates 1014 (IANA "Bad Gateway") and calls it a protocol error.
@given(
    st.integers(1000, 4999).filter(
        lambda code: wsframes.is_valid_close_code(code) and code != 1014
    ),
    st.text(),
)
def test_close_frame_fits_and_cuts_the_reason_at_a_character(code, reason) -> None:
    frame = close_frame(code, reason)
    payload = frame[2:]
    assert frame[1] == len(payload) <= 125
    [event] = parse_as_client(frame)
    assert event.code == code
    assert reason.startswith(event.reason)
    # Cut only as much as needed: the next character would not have fit.
    kept = len(event.reason.encode())
    if event.reason != reason:
        assert kept + len(reason[len(event.reason)].encode()) > 123


def test_close_frame_keeps_as_much_reason_as_fits() -> None:
    frame = close_frame(1000, "a" * 200)
    assert frame[:4] == b"\x88\x7d\x03\xe8"
    assert frame[4:] == b"a" * 123


def test_close_frame_with_a_long_non_ascii_reason() -> None:
    frame = close_frame(1000, "é€😀" * 40)
    assert len(frame) - 2 <= 125
    reason = frame[4:].decode("utf-8")  # strict: no half character left over
    assert reason != "é€😀" * 40
    assert ("é€😀" * 40).startswith(reason)


@pytest.mark.parametrize("code", [999, 1005, 1006, 1015, 5000])
def test_close_frame_refuses_codes_that_may_not_be_sent(code) -> None:
    with pytest.raises(ValueError, match="close code"):
        close_frame(code, "")


def test_our_frames_read_back_by_our_reader_only_when_masked() -> None:
    # Server frames are unmasked, so a server must never accept them as a client's.
    assert violation(server_frame(OP_TEXT, b"hi")).code == 1002
