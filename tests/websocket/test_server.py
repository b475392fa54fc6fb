"""The hub's own WebSocket server, byte by byte over a real socket.

A wsproto client is the independent other side; trio-websocket clients
exercise the same server through every other hub test.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from actors.service import Service
from store import SqliteStore
from tests.actors.conftest import running_service, service_settings
from websocket.opening import accept_websocket
from websocket.server import ServerWebSocket
from websocket.transport import SendNow, TransportClosed

EVENT = {
    "user": "ann",
    "t": 1.0,
    "type": "analytics",
    "exp": "spinner",
    "course": "cie3",
    "payload": {"log": "start"},
}
ASK = {
    "user": "ann",
    "type": "request",
    "exp": "spinner",
    "course": "cie3",
    "id": 1,
    "payload": {"content": "indicators"},
}


class RawClient:
    """A wsproto client over a plain trio socket: every byte is ours to choose."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []

    async def handshake(self, path: str = "/spin30", extra: bytes = b"") -> Event:
        await self.stream.send_all(self.ws.send(Request(host="127.0.0.1", target=path)) + extra)
        return await self.next_event()

    async def next_event(self) -> Event:
        with trio.fail_after(5):
            while not self.pending:
                data = await self.stream.receive_some(65536)
                self.ws.receive_data(data or None)
                self.pending += list(self.ws.events())
        return self.pending.pop(0)

    async def eof(self) -> bool:
        """True once the server closed the TCP connection."""
        with trio.fail_after(5):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return True
                if not data:
                    return True


@asynccontextmanager
async def raw_client(service: Service) -> AsyncIterator[RawClient]:
    stream = await trio.open_tcp_stream("127.0.0.1", service.hub_port)
    async with stream:
        yield RawClient(stream)


def masked_text(text: str, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """One client text frame (RFC 6455 section 5.2), built by hand."""
    payload = text.encode()
    assert len(payload) < 126
    body = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


async def test_frames_sent_right_behind_the_handshake_are_read(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, raw_client(service) as raw:
        early = masked_text(json.dumps(EVENT)) + masked_text(json.dumps(ASK))
        assert isinstance(await raw.handshake(extra=early), AcceptConnection)
        reply = await raw.next_event()
        assert isinstance(reply, TextMessage)
        assert json.loads(reply.data)["content"] == "indicators"
        assert json.loads(reply.data)["user"] == "ann"


async def test_a_ping_is_answered_with_a_pong_carrying_its_payload(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, raw_client(service) as raw:
        assert isinstance(await raw.handshake(), AcceptConnection)
        await raw.stream.send_all(raw.ws.send(Ping(b"are you there")))
        pong = await raw.next_event()
        assert isinstance(pong, Pong)
        assert pong.payload == b"are you there"


async def test_a_client_close_is_echoed_and_the_server_hangs_up(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, raw_client(service) as raw:
        assert isinstance(await raw.handshake(), AcceptConnection)
        await raw.stream.send_all(raw.ws.send(CloseConnection(code=1000, reason="bye")))
        echoed = await raw.next_event()
        assert isinstance(echoed, CloseConnection)
        assert echoed.code == 1000
        assert await raw.eof()
        await _wait_for_no_connections(service)


async def test_an_unmasked_frame_is_a_protocol_error_1002(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, raw_client(service) as raw:
        assert isinstance(await raw.handshake(), AcceptConnection)
        unmasked = masked_text('{"user": "ann"}')
        unmasked = bytes([unmasked[0], unmasked[1] & 0x7F]) + bytes(
            byte ^ b"\x01\x02\x03\x04"[index % 4] for index, byte in enumerate(unmasked[6:])
        )  # FIN text, mask bit cleared, payload in the clear
        await raw.stream.send_all(unmasked)
        closed = await raw.next_event()
        assert isinstance(closed, CloseConnection)
        assert closed.code == 1002
        assert await raw.eof()


async def test_a_plain_http_request_is_refused_with_400_and_the_service_goes_on(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service:
        stream = await trio.open_tcp_stream("127.0.0.1", service.hub_port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = b""
            with trio.fail_after(5):
                while chunk := await stream.receive_some(65536):
                    response += chunk
        assert response.startswith(b"HTTP/1.1 400 ")
        async with raw_client(service) as raw:
            assert isinstance(await raw.handshake(), AcceptConnection)


async def test_an_old_protocol_version_is_refused_with_426(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service:
        stream = await trio.open_tcp_stream("127.0.0.1", service.hub_port)
        async with stream:
            await stream.send_all(
                b"GET /spin30 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
            )
            raw = RawClient(stream)
            raw.ws.send(Request(host="127.0.0.1", target="/spin30"))
            rejected = await raw.next_event()
        assert isinstance(rejected, RejectConnection)
        assert rejected.status_code == 426
        assert (b"sec-websocket-version", b"13") in rejected.headers


async def _wait_for_no_connections(service: Service) -> None:
    assert service.hub is not None
    with trio.fail_after(5):
        while service.hub.connections:
            await trio.sleep(0.01)


async def test_events_before_a_bad_frame_in_the_same_read_are_stored(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, raw_client(service) as raw:
        assert isinstance(await raw.handshake(), AcceptConnection)
        bad = bytes([0xF1, 0x80]) + b"\x00\x00\x00\x00"  # RSV bits set: a protocol error
        await raw.stream.send_all(masked_text(json.dumps(EVENT)) + bad)
        closed = await raw.next_event()
        assert isinstance(closed, CloseConnection)
        assert closed.code == 1002
    with SqliteStore(tmp_path) as store:
        assert store.count_events() == 1


@asynccontextmanager
async def accepted(sndbuf: int | None = None) -> AsyncIterator[tuple[ServerWebSocket, RawClient]]:
    """A server WebSocket past its handshake with a wsproto client, on loopback, no service."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    try:
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            raw = RawClient(stream)
            server_side = await listeners[0].accept()
            if sndbuf is not None:
                server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            await stream.send_all(raw.ws.send(Request(host="127.0.0.1", target="/spin30")))
            ws = await accept_websocket(server_side, max_message_bytes=1 << 16)
            assert ws is not None
            assert isinstance(await raw.next_event(), AcceptConnection)
            yield ws, raw
            await server_side.aclose()
    finally:
        await listeners[0].aclose()


async def read_until_closed(ws: ServerWebSocket, ended: list[TransportClosed]) -> None:
    """Read (as the connection's reader does) until the transport says it is closed."""
    try:
        await ws.receive_messages()
    except TransportClosed as closed:
        ended.append(closed)


async def test_a_close_from_another_task_ends_the_waiting_reader() -> None:
    """The writer or the hub may close while the reader waits on the socket."""
    async with accepted() as (ws, raw):
        ended: list[TransportClosed] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_until_closed, ws, ended)
            await trio.sleep(0.05)  # the reader now waits for the socket
            with trio.fail_after(5):
                await ws.close(1001, "going away", timeout_s=0.2)  # the client never answers
        closing = await raw.next_event()
        assert isinstance(closing, CloseConnection)
        assert closing.code == 1001
        assert len(ended) == 1
        assert ws.closed


async def test_what_send_now_could_not_write_goes_out_first_and_whole() -> None:
    """A client slow to read: the socket takes part of a reply batch, the writer sends
    the rest before anything else, and the client reads every frame intact, in order."""
    async with accepted(sndbuf=4096) as (ws, raw):
        stream = raw.stream
        sent: list[str] = []
        outcome = SendNow.SENT
        for _ in range(1000):  # until a write is taken only in part
            batch = [f"reply {len(sent) + n} " + "x" * 30_000 for n in range(5)]
            outcome = ws.send_now(batch)
            if outcome is not SendNow.NOT_NOW:
                sent += batch
            if outcome is SendNow.PARTIAL:
                break
            if outcome is SendNow.NOT_NOW:  # exactly full: let the client take a little
                raw.ws.receive_data(await stream.receive_some(20_000))
                raw.pending += list(raw.ws.events())
        assert outcome is SendNow.PARTIAL
        assert ws.send_now(["must wait"]) is SendNow.NOT_NOW  # the rest is not out yet
        got: list[str] = []
        part = ""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send_messages, ["after"])  # flushes the rest first
            with trio.fail_after(5):
                while len(got) < len(sent) + 1:
                    message = await raw.next_event()
                    assert isinstance(message, TextMessage)
                    part += message.data  # wsproto hands big messages over in pieces
                    if message.message_finished:
                        got.append(part)
                        part = ""
        assert got == [*sent, "after"]
