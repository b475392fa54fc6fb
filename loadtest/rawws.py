"""A raw WebSocket client: every byte is ours to choose.

For the hostile benchmark and the live fuzzer (``benchmarks/bench_hostile.py``,
``benchmarks/fuzz_live.py``), which must send what no library would (endless
continuations, bad opcodes, unmasked frames) and must cost the machine as
little as possible per frame: frames are built with a zero mask key (RFC
6455 allows any key; XOR with zero leaves the payload as it is), so a frame
is its header and its payload. Server frames are parsed just enough to read
text replies and close frames (a server never masks, and ours never
fragments).
"""

from __future__ import annotations

import base64
import os

import trio

from websocket.frames import OP_CLOSE, OP_PING, OP_PONG

ZERO_MASK = b"\x00\x00\x00\x00"
RECEIVE_BYTES = 65536
MAX_HEAD_BYTES = 16 * 1024


class Refused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int, head: bytes) -> None:
        super().__init__(f"refused with {status}")
        self.status = status
        self.head = head


def upgrade_request(path: str = "/spin30", host: str = "127.0.0.1") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = ZERO_MASK,
) -> bytes:
    """One client frame; ``mask=None`` leaves the mask bit clear (a protocol error)."""
    length = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0 if mask is None else 0x80
    if length < 126:
        head = bytes((first, mask_bit | length))
    elif length < 0x10000:
        head = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if mask is None:
        return head + payload
    if mask != ZERO_MASK:
        key = (mask * (length // 4 + 1))[:length]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
            length, "big"
        )
    return head + mask + payload


def text_frame(text: str) -> bytes:
    return client_frame(0x1, text.encode("utf-8"))


def close_code(payload: bytes) -> int | None:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


class ServerFrames:
    """Whole server frames out of the bytes so far: ``(opcode, payload)`` pairs."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        buffer = self._buffer
        pos = 0
        while len(buffer) - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length >= 126:
                width = 2 if length == 126 else 8
                if len(buffer) < start + width:
                    break
                length = int.from_bytes(buffer[start : start + width], "big")
                start += width
            if len(buffer) < start + length:
                break
            frames.append((buffer[pos] & 0x0F, bytes(buffer[start : start + length])))
            pos = start + length
        del buffer[:pos]
        return frames


async def _response_head(stream: trio.SocketStream) -> bytes:
    """The server's answer up to its blank line, and whatever came with it."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = await stream.receive_some(RECEIVE_BYTES)
        if not data or len(head) > MAX_HEAD_BYTES:
            raise EOFError("closed during the handshake")
        head += data
    return head


class RawWebSocket:
    """An open client WebSocket over a plain trio socket."""

    def __init__(self, stream: trio.SocketStream, early: bytes) -> None:
        self.stream = stream
        self._frames = ServerFrames()
        self._pending = self._frames.feed(early)
        self.close_code: int | None = None

    @classmethod
    async def open(
        cls, port: int, path: str = "/spin30", *, host: str = "127.0.0.1", source: str | None = None
    ) -> RawWebSocket:
        """Connect (from the loopback address ``source`` if given) and upgrade.

        Raises ``Refused`` for any answer but 101, ``OSError`` if the
        connection fails, ``EOFError`` if it is closed (or reset) before an answer.
        """
        sock = trio.socket.socket()
        try:
            if source is not None:
                await sock.bind((source, 0))
            await sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        stream = trio.SocketStream(sock)
        try:
            await stream.send_all(upgrade_request(path, host))
            head = await _response_head(stream)
        except trio.BrokenResourceError as exc:
            await trio.aclose_forcefully(stream)
            raise EOFError("reset during the handshake") from exc
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        head, _, early = head.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            await trio.aclose_forcefully(stream)
            raise Refused(status, head)
        return cls(stream, early)

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive(self) -> tuple[int, bytes]:
        """The next frame but pings (answered) and pongs; a close frame is returned too.

        Raises ``EOFError`` once the server has closed the TCP connection.
        """
        while True:
            while not self._pending:
                try:
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    raise EOFError("the server closed the connection")
                self._pending = self._frames.feed(data)
            opcode, payload = self._pending.pop(0)
            if opcode == OP_PING:
                await self.send(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.close_code = close_code(payload)
                return opcode, payload
            elif opcode != OP_PONG:
                return opcode, payload

    async def receive_text(self) -> str:
        """The next text frame; ``EOFError`` if a close (or EOF) comes first."""
        opcode, payload = await self.receive()
        if opcode == OP_CLOSE:
            raise EOFError(f"closed with {self.close_code}")
        return payload.decode("utf-8")

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
