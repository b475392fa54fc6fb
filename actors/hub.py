"""Hub mode: the built-in WebSocket server that lab UIs and dashboards connect to.

Any URL path is accepted; the path names the stream and stands in for
``hardware`` on messages that have none (PROTOCOL.md, "Connection modes").
The hub bounds what connections can hold (issue 12): how many are open, in
total and per source address (``actors/admission.py``), how long a quiet
one lives (``actors/liveness.py``, applied by ``actors/idle_sweep.py``), and
how many requests each may make (the connection's token bucket); a flood
of any of these is logged once per interval (``actors/flood_log.py``).
With access control on it lets in only an upgrade carrying a code from
``POST /session/<stream>`` (``401`` otherwise) and keeps the code's grant
for the connection (``actors.guard``).
"""

from __future__ import annotations

import errno
import itertools
import logging

import attrs
import trio

from access.audit import RefusalAudit
from access.codes import CodeBook
from actors.admission import (
    MAKE_ROOM_AFTER_S,
    REFUSED_TOTAL,
    Admission,
    SilentConnections,
    address_key,
    derived_max_connections,
    descriptor_limit,
)
from actors.connection import ConnectionRules, run_connection
from actors.flood_log import FloodLog
from actors.guard import Door, Guard, stream_of
from actors.idle_sweep import sweep_idle
from actors.liveness import Liveness
from actors.outbox import Outbox
from actors.router import Router
from actors.sending import CLOSE_TIMEOUT_S
from config.settings import Settings
from websocket.handshake import unavailable
from websocket.opening import accept_websocket, refuse_connection
from websocket.server import ServerWebSocket

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
CLOSE_MADE_ROOM = 1013  # try again later: the hub was full and this one had said nothing
# accept() failing for want of descriptors or memory: wait, doubling, up to the max.
CAPACITY_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
ACCEPT_BACKOFF_FIRST_S = 0.01
ACCEPT_BACKOFF_MAX_S = 1.0
# Refusals answered with a 503 at once; past this many, a refused socket is
# just closed (their descriptors come out of the reserve, not the cap).
MAX_REFUSING = 64
REFUSE_TIMEOUT_S = 2.0
RETRY_AFTER_S = 10


@attrs.frozen
class HubLimits:
    """What the hub's connections may hold, from the settings (SECURITY.md, "Limits")."""

    max_connections: int = 1000
    max_connections_per_address: int = 256
    handshake_timeout_s: float = 10.0
    max_message_frames: int = 1024
    liveness: Liveness = attrs.field(factory=Liveness)
    reply_rate_per_s: float = 0.0  # 0: no limit
    reply_burst: int = 0
    make_room_after_s: float = MAKE_ROOM_AFTER_S  # at the cap (``actors.admission``)

    @classmethod
    def of(cls, settings: Settings) -> HubLimits:
        total = settings.max_connections or derived_max_connections(descriptor_limit())
        return cls(
            max_connections=total,
            max_connections_per_address=settings.max_connections_per_address,
            handshake_timeout_s=settings.handshake_timeout_s,
            max_message_frames=settings.max_message_frames,
            liveness=Liveness(
                settings.ping_interval_s, settings.idle_close_s, settings.message_timeout_s
            ),
            reply_rate_per_s=settings.reply_rate_per_s,
            reply_burst=settings.reply_burst,
        )


class Hub:
    """Accepts WebSockets and runs a connection actor for each.

    ``run`` listens until cancelled; connections live in the nursery given to
    ``run`` (not the listener's), so the service can stop accepting first and
    then ``drain`` the open connections with close code 1001. A connection
    past a cap is answered 503 and closed at once; accept() failing for want
    of descriptors backs off instead of spinning.
    """

    def __init__(
        self,
        router: Router,
        rules: ConnectionRules,
        *,
        host: str,
        port: int,
        max_frame_bytes: int,
        limits: HubLimits | None = None,
        codes: CodeBook | None = None,
        refusals: RefusalAudit | None = None,
    ) -> None:
        self.limits = HubLimits() if limits is None else limits
        self._router = router
        self._codes = codes  # None: access control is off, no code is asked for
        self._refusals = RefusalAudit() if refusals is None else refusals
        # The same rules (and drain) as the service's, plus the hub's own rate limit:
        # a relay connection carries a whole stream and is not limited so.
        self._rules = attrs.evolve(
            rules,
            reply_rate_per_s=self.limits.reply_rate_per_s,
            reply_burst=self.limits.reply_burst,
        )
        self._host = host
        self._port = port
        self._max_frame_bytes = max_frame_bytes
        self.admission = Admission(
            self.limits.max_connections, self.limits.max_connections_per_address
        )
        self._numbers = itertools.count(1)
        self.connections: set[ServerWebSocket] = set()
        self._silent = SilentConnections[ServerWebSocket](self.limits.make_room_after_s)
        self._giving_back: set[ServerWebSocket] = set()  # closed to make room, still counted
        self._outboxes: dict[ServerWebSocket, Outbox] = {}
        self._all_closed = trio.Event()
        self._refusing = 0
        self._flood_log = FloodLog(self.admission)

    async def run(
        self,
        connections: trio.Nursery,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; ``started`` with the port actually bound."""
        listeners = await trio.open_tcp_listeners(self._port, host=self._host)
        port: int = listeners[0].socket.getsockname()[1]
        log.info(
            "hub.listening",
            extra={
                "host": self._host,
                "port": port,
                "max_connections": self.limits.max_connections,
                "max_connections_per_address": self.limits.max_connections_per_address,
            },
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                sweep_idle, self.limits.liveness, self.connections, self._outboxes, self._flood_log
            )
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener, connections)
            task_status.started(port)

    async def _accept_loop(self, listener: trio.SocketListener, connections: trio.Nursery) -> None:
        """Accept until cancelled. Unlike ``trio.serve_listeners``, a full descriptor
        table costs one log line per interval and a growing pause, not a traceback
        ten times a second."""
        async with listener:
            backoff = ACCEPT_BACKOFF_FIRST_S
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in CAPACITY_ERRNOS:
                        raise
                    self._flood_log.accept_failed(exc.errno, trio.current_time())
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, ACCEPT_BACKOFF_MAX_S)
                    continue
                backoff = ACCEPT_BACKOFF_FIRST_S
                self._admit(stream, connections)

    def _admit(self, stream: trio.SocketStream, connections: trio.Nursery) -> None:
        try:
            key = address_key(stream.socket.getpeername())
        except OSError:  # gone already
            stream.socket.close()
            return
        reason = self.admission.admit(key, closing=len(self._giving_back))
        if reason == REFUSED_TOTAL and self._make_room():
            reason = self.admission.admit(key, closing=len(self._giving_back))
        if reason is None:
            connections.start_soon(self._handle, stream, key)
            return
        kind = "total" if reason == REFUSED_TOTAL else "address"
        self._flood_log.refused(kind, key, trio.current_time())
        if self._refusing < MAX_REFUSING:
            self._refusing += 1
            connections.start_soon(self._refuse, stream, reason)
        else:
            stream.socket.close()

    def _make_room(self) -> bool:
        """Close the oldest connection that never spoke, for a newcomer; whether there was one."""
        now = trio.current_time()
        silent = self._silent.oldest_silent(now)
        if silent is None:
            return False
        silent.expire(CLOSE_MADE_ROOM, "the service is full: silent connections go first")
        self._giving_back.add(silent)
        self._flood_log.made_room(now)
        return True

    async def _refuse(self, stream: trio.SocketStream, reason: str) -> None:
        try:
            await refuse_connection(
                stream, unavailable(reason, RETRY_AFTER_S), timeout_s=REFUSE_TIMEOUT_S
            )
        finally:
            self._refusing -= 1

    async def _handle(self, stream: trio.SocketStream, key: str) -> None:
        """One connection, from handshake to close; never lets an error escape.

        An escaping error would end the listener, and with it every connection.
        """
        name = f"hub-{next(self._numbers)}"
        ws = None
        door = None if self._codes is None else Door(self._codes, _peer(stream), self._refusals)
        try:
            with trio.move_on_after(self.limits.handshake_timeout_s):
                ws = await accept_websocket(
                    stream,
                    max_message_bytes=self._max_frame_bytes,
                    max_message_frames=self.limits.max_message_frames,
                    authorize=door,
                )
            if ws is None:
                return  # refused or too slow: closed below
            self.connections.add(ws)
            self._silent.opened(ws)
            await run_connection(
                ws,
                stream=stream_of(ws.path),
                router=self._router,
                rules=self._rules,
                name=name,
                on_open=lambda outbox: self._outboxes.__setitem__(ws, outbox),
                guard=None if door is None or door.grant is None else Guard(door.grant),
            )
            if self._rules.drain.started:
                await ws.close(CLOSE_GOING_AWAY, "service stopping", timeout_s=CLOSE_TIMEOUT_S)
        except Exception:
            log.exception("connection.crashed", extra={"connection": name})
            if ws is not None:
                await ws.close(CLOSE_INTERNAL_ERROR, "internal error", timeout_s=CLOSE_TIMEOUT_S)
        finally:
            stream.socket.close()
            self.admission.release(key)
            if ws is not None:
                self.connections.discard(ws)
                self._silent.closed(ws)
                self._giving_back.discard(ws)
                self._outboxes.pop(ws, None)
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


def _peer(stream: trio.SocketStream) -> str:
    """The client's address, for the audit log."""
    try:
        return str(stream.socket.getpeername()[0])
    except OSError:
        return "unknown"
