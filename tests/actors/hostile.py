"""Helpers for the hostile-client tests: a hub with no service behind it, raw clients.

The hub runs on a real loopback socket but with a stub router (no store, no
threads), so a test can run it on trio's ``autojump_clock`` and let an idle
minute pass in no time. Clients are wsproto over plain trio sockets, bound to
the loopback address a test chooses (all of 127.0.0.0/8 is loopback on Linux),
so that caps per address can be tested from one machine.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, Ping, RejectConnection, Request, TextMessage

from actors.connection import ConnectionRules
from actors.hub import Hub, HubLimits
from actors.router import Delivery
from telemetry.metrics import Metrics


@attrs.define
class StubRouter:
    """Records what the connections deliver; answers nothing (a request stays in flight)."""

    deliveries: list[Delivery] = attrs.field(factory=list)

    async def deliver(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)


@asynccontextmanager
async def running_hub(limits: HubLimits) -> AsyncIterator[tuple[Hub, StubRouter, int]]:
    """A hub on a free loopback port with ``limits``; yields it, its router and its port."""
    router = StubRouter()
    rules = ConnectionRules(64, 10.0, Metrics())
    hub = Hub(
        router,  # type: ignore[arg-type]
        rules,
        host="127.0.0.1",
        port=0,
        max_frame_bytes=64 * 1024,
        limits=limits,
    )
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as listeners:
            port = await listeners.start(hub.run, connections)
            try:
                yield hub, router, port
            finally:
                listeners.cancel_scope.cancel()
        connections.cancel_scope.cancel()


async def connect_from(port: int, source: str = "127.0.0.1") -> trio.SocketStream:
    """A TCP connection to the hub from the loopback address ``source``."""
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


def upgrade_request(path: str = "/spin30") -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n".encode()
        + b"Sec-WebSocket-Key: "
        + key
        + b"\r\n\r\n"
    )


async def read_http_response(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until it closes (a refusal is short)."""
    response = b""
    while chunk := await stream.receive_some(65536):
        response += chunk
    return response


class WsClient:
    """A wsproto client over a trio socket; it answers pings only if told to."""

    def __init__(self, stream: trio.SocketStream, *, answer_pings: bool = False) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.answer_pings = answer_pings
        self.pending: list[Event] = []
        self.pings = 0

    async def handshake(self, path: str = "/spin30") -> Event:
        await self.stream.send_all(self.ws.send(Request(host="127.0.0.1", target=path)))
        event = await self.next_event()
        assert isinstance(event, AcceptConnection | RejectConnection)
        return event

    async def next_event(self) -> Event:
        """The next event other than a ping; EOF raises ``EOFError``."""
        while True:
            while not self.pending:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise EOFError
                self.ws.receive_data(data)
                self.pending += list(self.ws.events())
            event = self.pending.pop(0)
            if not isinstance(event, Ping):
                return event
            self.pings += 1
            if self.answer_pings:
                await self.stream.send_all(self.ws.send(event.response()))

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=text)))


@asynccontextmanager
async def ws_client(
    port: int, *, source: str = "127.0.0.1", answer_pings: bool = False
) -> AsyncIterator[WsClient]:
    """A client past its handshake (which must be accepted)."""
    stream = await connect_from(port, source)
    async with stream:
        client = WsClient(stream, answer_pings=answer_pings)
        assert isinstance(await client.handshake(), AcceptConnection)
        yield client
