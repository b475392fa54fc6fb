"""A small relay for tests, the load tester and development.

Like the labs' relay: every text frame a client sends goes to every *other*
client connected on the same URL path. No access handshake, no persistence.

    learning-analytics relay --listen 127.0.0.1:9100
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import partial

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


class BroadcastRelay:
    """Fan every frame out to the other clients of its path.

    Each client has a bounded queue; a client that does not keep up is
    disconnected rather than slowing the others (like a real relay would).
    """

    def __init__(self, *, max_message_size: int = 1 << 20) -> None:
        self._max_message_size = max_message_size
        self.paths: dict[str, set[trio.MemorySendChannel[str]]] = defaultdict(set)
        self.frames_relayed = 0

    async def serve(
        self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen until cancelled; ``started`` with the bound port."""
        listen = partial(
            serve_websocket, self._handle, host, port, None, max_message_size=self._max_message_size
        )
        async with trio.open_nursery() as nursery:
            server = await nursery.start(listen)
            task_status.started(server.port)

    async def _handle(self, request: WebSocketRequest) -> None:
        try:
            ws = await request.accept()
        except ConnectionClosed:
            return
        path = request.path
        send, receive = trio.open_memory_channel[str](QUEUE_SIZE)
        self.paths[path].add(send)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_forward, ws, receive, nursery.cancel_scope)
                await self._fan_out(ws, path, send)
                nursery.cancel_scope.cancel()
        except Exception:  # one client's failure must not end the relay
            log.exception("relay.client_failed", extra={"path": path})
        finally:
            self.paths[path].discard(send)
            if not self.paths[path]:
                del self.paths[path]

    async def _fan_out(
        self, ws: WebSocketConnection, path: str, own: trio.MemorySendChannel[str]
    ) -> None:
        while True:
            try:
                frame = await ws.get_message()
            except ConnectionClosed:
                return
            if not isinstance(frame, str):
                continue
            for other in list(self.paths[path]):
                if other is own:
                    continue
                try:
                    other.send_nowait(frame)
                except trio.WouldBlock:
                    other.close()  # too slow: its forwarder ends and closes it
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    pass  # that client just left
                else:
                    self.frames_relayed += 1


async def _forward(
    ws: WebSocketConnection, receive: trio.MemoryReceiveChannel[str], scope: trio.CancelScope
) -> None:
    async with receive:
        try:
            async for frame in receive:
                await ws.send_message(frame)
        except ConnectionClosed:
            pass
    scope.cancel()
