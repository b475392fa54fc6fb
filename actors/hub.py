"""Hub mode: the built-in WebSocket server that lab UIs and dashboards connect to.

Any URL path is accepted; the path names the stream and stands in for
``hardware`` on messages that have none (PROTOCOL.md, "Connection modes").
"""

from __future__ import annotations

import itertools
import logging

import trio

from actors.connection import CLOSE_TIMEOUT_S, ConnectionRules, run_connection, stream_of
from actors.router import Router
from websocket.server import ServerWebSocket, accept_websocket

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
HANDSHAKE_TIMEOUT_S = 10.0


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
        self.connections: set[ServerWebSocket] = set()
        self._all_closed = trio.Event()

    async def run(
        self,
        connections: trio.Nursery,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; ``started`` with the port actually bound."""
        listeners = await trio.open_tcp_listeners(self._port, host=self._host)
        port: int = listeners[0].socket.getsockname()[1]
        log.info("hub.listening", extra={"host": self._host, "port": port})
        task_status.started(port)
        await trio.serve_listeners(self._handle, listeners, handler_nursery=connections)

    async def _handle(self, stream: trio.SocketStream) -> None:
        """One connection, from handshake to close; never lets an error escape.

        An escaping error would end the listener, and with it every connection.
        """
        name = f"hub-{next(self._numbers)}"
        ws = None
        try:
            with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
                ws = await accept_websocket(stream, max_message_bytes=self._max_frame_bytes)
            if ws is None:
                return  # refused or too slow: closed below
            self.connections.add(ws)
            await run_connection(
                ws, stream=stream_of(ws.path), router=self._router, rules=self._rules, name=name
            )
            if self._rules.drain.started:
                await ws.close(CLOSE_GOING_AWAY, "service stopping", timeout_s=CLOSE_TIMEOUT_S)
        except Exception:
            log.exception("connection.crashed", extra={"connection": name})
            if ws is not None:
                await ws.close(CLOSE_INTERNAL_ERROR, "internal error", timeout_s=CLOSE_TIMEOUT_S)
        finally:
            await trio.aclose_forcefully(stream)
            if ws is not None:
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
