"""RFC 6455 framing for the server side, sans I/O.

trio-websocket's per-frame cost dominated the hub's profile, so the hub speaks
WebSocket itself: this module turns client bytes into messages and replies
into bytes, and nothing else (no sockets, no trio), so it can be tested with
plain bytes and kept fast. The common case, one small masked unfragmented
text frame per socket read, is the first case ``feed`` tests for.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009

MAX_CONTROL_PAYLOAD = 125
# Frames one fragmented message may take. Honest clients send one frame per
# message (browsers never fragment what they send); the bound only stops a
# message of endless empty continuations, which costs a header's parsing per
# 6 bytes sent and would never end.
MAX_MESSAGE_FRAMES = 1024
_FIN = 0x80
_RSV = 0x70
_MASKED = 0x80
_OPCODE = 0x0F
_CONTROL_BIT = 0x08  # opcodes 8-15 are control frames
_CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))


@attrs.frozen
class Text:
    text: str


@attrs.frozen
class Binary:
    data: bytes


@attrs.frozen
class Ping:
    payload: bytes


@attrs.frozen
class Pong:
    payload: bytes


@attrs.frozen
class Close:
    code: int | None  # None: the close frame had an empty payload
    reason: str


Received = Text | Binary | Ping | Pong | Close


class ProtocolViolation(Exception):
    """The client broke RFC 6455; close the connection with ``code``.

    ``received`` holds the messages completed earlier in the same ``feed``
    call, before the bad frame: they were valid, so the caller may still act on
    them before closing.
    """

    def __init__(self, code: int, reason: str, received: list[Received] | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.received: list[Received] = received if received is not None else []


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire (RFC 6455 §7.4)."""
    # 1004-1006 and 1015 are reserved for local use and never sent; 1000-2999
    # beyond 1014 is unassigned, 3000-4999 belongs to libraries and apps.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _unmask(payload: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    # One big-int XOR runs in C over the whole payload; a Python loop per byte
    # would cost more than everything else in ``feed`` put together.
    length = len(payload)
    if not length:
        return b""
    key = (mask * ((length + 3) >> 2))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        length, "little"
    )


def _decode_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(CLOSE_INVALID_DATA, "text message is not valid UTF-8") from None


def _parse_close(payload: bytes) -> Close:
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "close payload of 1 byte")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(CLOSE_INVALID_DATA, "close reason is not valid UTF-8") from None
    return Close(code, reason)


class FrameReader:
    """Parses what a client sends, frame by frame, keeping partial frames between calls."""

    def __init__(
        self, max_message_bytes: int, max_message_frames: int = MAX_MESSAGE_FRAMES
    ) -> None:
        self._max = max_message_bytes
        self._max_frames = max_message_frames
        self._buffer = bytearray()  # bytes of an incomplete frame, kept between calls
        # The fragmented message in progress: its opcode (None when there is
        # none), its payload so far and the frames it took. One bytearray, not
        # a list of payloads: what a message holds is bounded by its bytes
        # (``max_message_bytes``), not by how many (empty) frames brought them.
        self._fragment_opcode: int | None = None
        self._fragments = bytearray()
        self._fragment_frames = 0
        self._closed = False
        self._violation: ProtocolViolation | None = None

    @property
    def partial(self) -> bool:
        """Whether a message has begun and not ended (part of a frame, or of a fragmented
        message): the server bounds how long that may last."""
        return bool(self._buffer) or self._fragment_opcode is not None

    def feed(self, data: bytes) -> list[Received]:
        """Every complete message/control frame in the bytes so far, in order.

        Raises ``ProtocolViolation`` on the first bad frame; the reader is then
        dead and every later call raises the same code and reason again.
        """
        if self._violation is not None:
            violation = self._violation
            raise ProtocolViolation(violation.code, violation.reason)
        if self._closed:
            return []
        received: list[Received] = []
        buffer = self._buffer
        # Nothing pending (the usual case): parse ``data`` in place, no copy.
        view: bytes | bytearray
        if buffer:
            buffer += data
            view = buffer
        else:
            view = data
        try:
            consumed = self._parse(view, received)
        except ProtocolViolation as violation:
            self._violation = violation
            self._buffer = bytearray()
            self._fragments = bytearray()
            violation.received = received
            raise
        if self._closed:
            self._buffer = bytearray()
        elif view is buffer:
            del buffer[:consumed]
        elif consumed < len(view):
            buffer += memoryview(view)[consumed:]
        return received

    def _parse(self, view: bytes | bytearray, received: list[Received]) -> int:
        """Append each complete frame's result to ``received``; return the bytes consumed."""
        end = len(view)
        pos = 0
        while end - pos >= 2:
            header = self._read_header(view, pos, end)
            if header is None:
                break
            first, mask_start, length = header
            payload_start = mask_start + 4
            frame_end = payload_start + length
            if frame_end > end:
                break
            payload = _unmask(view[payload_start:frame_end], view[mask_start:payload_start])
            pos = frame_end
            if first == _FIN | OP_TEXT:  # the hot path: a whole text message
                received.append(Text(_decode_text(payload)))
            elif first & _CONTROL_BIT:
                received.append(self._control(first & _OPCODE, payload))
                if self._closed:
                    return end
            else:
                message = self._data(first, payload)
                if message is not None:
                    received.append(message)
        return pos

    def _read_header(
        self, view: bytes | bytearray, pos: int, end: int
    ) -> tuple[int, int, int] | None:
        """``(first byte, mask offset, payload length)``, or None until the header is in.

        Everything a header can tell is checked here, before its payload
        arrives, so a bad or oversized frame never gets buffered.
        """
        first = view[pos]
        second = view[pos + 1]
        if not second & _MASKED:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "client frame is not masked")
        if first & _RSV:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "reserved bit set")
        length = second & 0x7F
        so_far = self._check_opcode(first, length)
        start = pos + 2
        if length >= 126:
            width = 2 if length == 126 else 8
            if start + width > end:
                return None
            length = _extended_length(view[start : start + width])
            start += width
        if so_far is not None and so_far + length > self._max:
            raise ProtocolViolation(CLOSE_TOO_BIG, "message too big")
        return first, start, length

    def _check_opcode(self, first: int, length: int) -> int | None:
        """Bytes of the message so far for a data frame, None for a control frame."""
        opcode = first & _OPCODE
        if opcode == OP_CONTINUATION:
            if self._fragment_opcode is None:
                raise ProtocolViolation(
                    CLOSE_PROTOCOL_ERROR, "continuation frame without a message"
                )
            if self._fragment_frames >= self._max_frames:
                raise ProtocolViolation(CLOSE_TOO_BIG, "message in too many frames")
            return len(self._fragments)
        if opcode <= OP_BINARY:
            if self._fragment_opcode is not None:
                raise ProtocolViolation(
                    CLOSE_PROTOCOL_ERROR, "new message before the fragmented one finished"
                )
            return 0
        if opcode not in _CONTROL_OPCODES:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if not first & _FIN:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
        if length > MAX_CONTROL_PAYLOAD:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "control frame too long")
        return None

    def _data(self, first: int, payload: bytes) -> Received | None:
        """A data frame other than a whole text message: the message once complete."""
        opcode = first & _OPCODE
        if opcode != OP_CONTINUATION:
            if first & _FIN:
                return Binary(payload) if opcode == OP_BINARY else Text(_decode_text(payload))
            self._fragment_opcode = opcode
            self._fragments = bytearray(payload)
            self._fragment_frames = 1
            return None
        self._fragments += payload
        self._fragment_frames += 1
        if not first & _FIN:
            return None
        # Joined before decoding: a character may straddle two fragments.
        message = bytes(self._fragments)
        opcode = self._fragment_opcode
        self._fragment_opcode = None
        self._fragments = bytearray()
        self._fragment_frames = 0
        return Text(_decode_text(message)) if opcode == OP_TEXT else Binary(message)

    def _control(self, opcode: int, payload: bytes) -> Received:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        # Nothing may follow a close (RFC 6455 §5.5.1): the caller drops the rest.
        self._closed = True
        return _parse_close(payload)


def _extended_length(raw: bytes | bytearray) -> int:
    length = int.from_bytes(raw, "big")
    if len(raw) == 8 and length >> 63:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "64-bit length has its top bit set")
    # RFC 6455 §5.2: the minimal number of bytes MUST be used.
    if length < (126 if len(raw) == 2 else 0x10000):
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "length not minimally encoded")
    return length


def _frame_header(opcode: int, length: int) -> bytes:
    if length < 126:
        return bytes((_FIN | opcode, length))
    if length < 0x10000:
        return bytes((_FIN | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((_FIN | opcode, 127)) + length.to_bytes(8, "big")


def server_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked final frame (servers never mask, and we never fragment)."""
    if opcode >= OP_CLOSE and len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"control frame payload of {len(payload)} bytes, at most 125 allowed")
    return _frame_header(opcode, len(payload)) + payload


def text_frames(texts: Iterable[str]) -> bytes:
    """One text frame per text, concatenated, so several replies go out in one write."""
    parts: list[bytes] = []
    for text in texts:
        payload = text.encode("utf-8")
        parts.append(_frame_header(OP_TEXT, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def close_frame(code: int, reason: str) -> bytes:
    """A close frame; ``reason`` is cut at a character boundary to fit in 125 bytes."""
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CONTROL_PAYLOAD - 2:
        # Cutting may split the last character; "ignore" drops just that tail.
        encoded = encoded[: MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")
    return server_frame(OP_CLOSE, code.to_bytes(2, "big") + encoded)
