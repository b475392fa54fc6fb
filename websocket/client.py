"""Opening a WebSocket as a client: relay mode, the load tester and the tests.

We open (and always close) the TCP or TLS stream ourselves and let
trio-websocket speak WebSocket over it: its own ``open_websocket_url`` leaves
the socket open when the server closes the connection (trio-websocket 0.12.2,
reproduced in isolation), which would leak one descriptor per reconnect.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from websocket.transport import SendNow, TransportClosed

CLOSE_TIMEOUT_S = 2.0


def split_ws_url(url: str) -> tuple[bool, str, int, str]:
    """``(secure, host, port, resource)`` of a ``ws://`` or ``wss://`` URL.

    Raises ``ValueError`` for any other scheme or a URL without a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return secure, parts.hostname, port, resource


@asynccontextmanager
async def open_client(
    url: str, *, max_message_size: int = 1 << 20, connect_timeout_s: float = 10.0
) -> AsyncIterator[WebSocketConnection]:
    """A client WebSocket to ``url``, closed (stream included) on exit.

    Raises ``OSError``, ``trio.TooSlowError`` (connect timeout) or
    trio-websocket's ``HandshakeError`` when the connection cannot be made.
    """
    secure, host, port, resource = split_ws_url(url)
    with trio.fail_after(connect_timeout_s):
        if secure:
            stream: (
                trio.SocketStream | trio.SSLStream[trio.SocketStream]
            ) = await trio.open_ssl_over_tcp_stream(
                host, port, ssl_context=ssl.create_default_context()
            )
        else:
            stream = await trio.open_tcp_stream(host, port)
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(connect_timeout_s):
                ws = await wrap_client_stream(
                    nursery, stream, host, resource, max_message_size=max_message_size
                )
            try:
                yield ws
            finally:
                with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                    await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


class ClientTransport:
    """A trio-websocket connection seen as a ``Transport`` (relay mode)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._torn = False  # a send was cancelled midway: half a frame may be out

    @property
    def closed(self) -> bool:
        return self.ws.closed is not None

    async def receive_messages(self) -> Sequence[str | bytes]:
        try:
            return (await self.ws.get_message(),)
        except ConnectionClosed as exc:
            raise TransportClosed(exc.reason.code, exc.reason.reason or "") from exc

    async def send_messages(self, texts: Sequence[str]) -> None:
        try:
            for text in texts:
                self._torn = True
                await self.ws.send_message(text)
                self._torn = False
        except ConnectionClosed as exc:
            raise TransportClosed(exc.reason.code, exc.reason.reason or "") from exc

    def send_now(self, texts: Sequence[str]) -> SendNow:
        return SendNow.NOT_NOW  # trio-websocket has no way to write without waiting

    async def close(self, code: int, reason: str, *, timeout_s: float) -> None:
        # trio-websocket waits for the peer's close frame (60 s by default);
        # cancelled, it closes the stream. Nothing may follow half a frame.
        with trio.move_on_after(0 if self._torn else timeout_s, shield=True):
            await self.ws.aclose(code, reason)
