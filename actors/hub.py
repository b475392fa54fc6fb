"""Hub mode: the built-in WebSocket server that lab UIs and dashboards connect to.

Any URL path is accepted; the path names the stream and stands in for
``hardware`` on messages that have none (PROTOCOL.md, "Connection modes").
"""

from __future__ import annotations

import itertools
import logging
from functools import partial

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
)

from actors.connection import ConnectionRules, Router, close_quickly, run_connection, stream_of

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
HANDSHAKE_TIMEOUT_S = 10.0
# trio-websocket's queue between its socket reader and ours. At 1 (its
# default) the two tasks alternate on every frame; a few places let one pass
# over the socket parse every frame that came in. Our reader still drains it
# continuously, so pings are never held up (trio-websocket#82).
MESSAGE_QUEUE_SIZE = 16


class Hub:
    """Accepts WebSockets and runs a connection actor for each.

    ``run`` listens until cancelled; connections live in the nursery given to
    ``run`` (not the listener's), so the service can stop accepting first and
    then ``drain`` the open connections with close code 1001.
    """

    def __init__(
        self, router: Router, rules: ConnectionRules, *, host: str, port: int, max_frame_bytes: int
    ) -> None:
        self._router = router
        self._rules = rules
        self._host = host
        self._port = port
        self._max_frame_bytes = max_frame_bytes
        self._numbers = itertools.count(1)
        self.connections: set[WebSocketConnection] = set()
        self._all_closed = trio.Event()

    async def run(
        self,
        connections: trio.Nursery,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; ``started`` with the port actually bound."""
        listen = partial(
            serve_websocket,
            self._handle,
            self._host,
            self._port,
            None,
            handler_nursery=connections,
            max_message_size=self._max_frame_bytes,
            message_queue_size=MESSAGE_QUEUE_SIZE,
            connect_timeout=HANDSHAKE_TIMEOUT_S,
            disconnect_timeout=HANDSHAKE_TIMEOUT_S,
        )
        async with trio.open_nursery() as listener:
            server: WebSocketServer = await listener.start(listen)
            log.info("hub.listening", extra={"host": self._host, "port": server.port})
            task_status.started(server.port)

    async def _handle(self, request: WebSocketRequest) -> None:
        """One connection, from handshake to close; never lets an error escape.

        An escaping error would end trio-websocket's server (trio-websocket#96).
        """
        name = f"hub-{next(self._numbers)}"
        try:
            ws = await request.accept()
        except ConnectionClosed:
            return
        self.connections.add(ws)
        try:
            await run_connection(
                ws,
                stream=stream_of(request.path),
                router=self._router,
                rules=self._rules,
                name=name,
            )
        except Exception:
            log.exception("connection.crashed", extra={"connection": name})
            await close_quickly(ws, CLOSE_INTERNAL_ERROR, "internal error")
        else:
            if self._rules.drain.started:
                await close_quickly(ws, CLOSE_GOING_AWAY, "service stopping")
        finally:
            self.connections.discard(ws)
            if not self.connections:
                self._all_closed.set()

    async def drain(self) -> None:
        """Read what every client already sent, then close each with 1001 (going away).

        Returns when no accepted connection is left; the caller bounds it.
        """
        self._rules.drain.start()
        if self.connections:
            self._all_closed = trio.Event()
            await self._all_closed.wait()
