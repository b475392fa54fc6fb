"""The hub's side of a WebSocket: our own thin server over a trio stream.

The framing and the handshake are sans-io (``websocket/frames.py``,
``websocket/handshake.py``); this module only moves bytes. One task reads:
every frame that came with one socket read is parsed in one go and handed
over as one batch, with no internal queue or task between the socket and the
connection actor (trio-websocket's reader task and channel cost more per
frame than everything else the service does with an event: see
docs/DECISIONS.md). Replies go out several frames per write.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence

import trio

from websocket.frames import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    Binary,
    Close,
    FrameReader,
    Ping,
    ProtocolViolation,
    Received,
    Text,
    close_frame,
    server_frame,
    text_frames,
)
from websocket.transport import SendNow, TransportClosed

log = logging.getLogger(__name__)

RECEIVE_BYTES = 64 * 1024
CLOSE_ABNORMAL = 1006  # never sent: the connection ended without a close frame
# A pong or close frame the client does not take within this is a client that
# does not read at all: the connection is dropped.
CONTROL_SEND_TIMEOUT_S = 5.0


class ServerWebSocket:
    """One accepted WebSocket; a ``Transport`` for the connection actor.

    One task may read (``receive_messages``) while others send; ``close``
    may be called from any of them, once or many times.
    """

    def __init__(
        self, stream: trio.SocketStream, frames: FrameReader, path: str, early: bytes = b""
    ) -> None:
        self.path = path
        self._stream = stream
        self._fd = stream.socket.fileno()
        self._drained = False  # the last read found less than it asked for
        self._frames = frames
        self._early = early  # frames the client sent right behind its handshake
        self._send_lock = trio.Lock()
        self._torn = False  # a write was cancelled midway, or ``_backlog`` is not out yet
        self._backlog = b""  # what ``send_now`` could not write: goes out first
        self._close_sent = False
        self._ended = trio.Event()  # the peer's close arrived, or the TCP connection is gone
        self._reading = False
        self.close_code: int | None = None
        self.close_reason = ""
        # What the hub's liveness sweep reads (``actors/liveness.py``), kept
        # for the price of one clock read per socket read: when bytes last
        # came, whether the reader is waiting for more (so the quiet is the
        # client's, not ours), since when a message has been incomplete, and
        # whether a ping went out since the client was last heard.
        self.last_heard = trio.current_time()
        self.waiting = False
        self.message_since: float | None = None
        self.pinged = False
        # And what the hub's cap reads: a full hub makes room by closing the
        # oldest connection that has never sent a message (``actors.admission``).
        self.opened_at = self.last_heard
        self.spoke = False

    @property
    def closed(self) -> bool:
        return self._ended.is_set()

    async def receive_messages(self) -> Sequence[str | bytes]:
        """The data messages of the next socket read (at least one).

        Answers pings on the way. Messages that came before the peer's close
        frame are returned first; the call after raises ``TransportClosed``.
        """
        self._reading = True
        try:
            while not self._ended.is_set():
                messages: list[str | bytes] = []
                for item in await self._next_frames():
                    if isinstance(item, Text):
                        messages.append(item.text)
                    elif isinstance(item, Binary):
                        messages.append(item.data)
                    elif isinstance(item, Ping):
                        await self._send_control(server_frame(OP_PONG, item.payload))
                    elif isinstance(item, Close):
                        await self._peer_closed(item)
                        break
                if messages:
                    self.spoke = True
                    return messages
            raise TransportClosed(self.close_code, self.close_reason)
        finally:
            self._reading = False

    async def send_messages(self, texts: Sequence[str]) -> None:
        """Send text messages in one write; raises ``TransportClosed`` once closed."""
        if self._close_sent or self._ended.is_set():
            raise TransportClosed(self.close_code, self.close_reason or "closing")
        await self._send(text_frames(texts))

    def send_now(self, texts: Sequence[str]) -> SendNow:
        """Write at once, without a pass through the scheduler, if nothing else is being written.

        The replies of a request then leave in the worker's own step instead
        of the writer task's next one. If the socket takes only part, the
        rest is kept and goes out first on the next send (``PARTIAL``: the
        writer task must be woken to flush it).
        """
        if self._send_lock.locked() or self._torn or self._close_sent or self._ended.is_set():
            return SendNow.NOT_NOW
        if self._stream.socket.fileno() != self._fd:
            return SendNow.NOT_NOW
        data = text_frames(texts)
        try:
            written = os.write(self._fd, data)
        except OSError:  # full (BlockingIOError), or gone: the writer task finds out
            return SendNow.NOT_NOW
        if written == len(data):
            return SendNow.SENT
        self._backlog, self._torn = data[written:], True
        return SendNow.PARTIAL

    def ping_nowait(self) -> bool:
        """Send a ping at once if nothing else is being written; whether it went out.

        For the liveness sweep, which never waits for a client: a socket that
        cannot take a few bytes now belongs to a client that does not read,
        and the writer's own deadline deals with that.
        """
        if self._send_lock.locked() or self._torn or self._close_sent or self._ended.is_set():
            return False
        if self._stream.socket.fileno() != self._fd:
            return False
        frame = server_frame(OP_PING, b"")
        try:
            written = os.write(self._fd, frame)
        except OSError:
            return False
        if written < len(frame):  # nothing may be written before the rest of it
            self._backlog, self._torn = frame[written:], True
        self.pinged = True
        return True

    def expire(self, code: int, reason: str) -> None:
        """Close now for a rule (idle, a message too slow): never waits.

        Our close frame goes out if the socket takes it at once; then the TCP
        connection is closed under the tasks using it, which see it as closed
        (``TransportClosed``) at their next read or write. The peer's close
        frame is not awaited: the client had its time.
        """
        if self._ended.is_set():
            return
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if not (self._send_lock.locked() or self._torn or self._close_sent):
            self._close_sent = True
            with contextlib.suppress(OSError):
                os.write(self._fd, close_frame(code, reason))
        self._ended.set()
        self._stream.socket.close()  # wakes a task waiting on it (ClosedResourceError)

    async def close(self, code: int, reason: str, *, timeout_s: float) -> None:
        """Send our close frame and wait up to ``timeout_s`` for the peer's, then hang up.

        After a write that was cut off mid-frame the TCP connection is just
        dropped: no close frame could be read after half a frame.
        """
        with trio.move_on_after(timeout_s):
            if not self._close_sent and not self._ended.is_set():
                self._close_sent = True
                try:
                    await self._send(close_frame(code, reason))
                except TransportClosed:
                    self._ended.set()  # gone, or half a frame out: hang up at once
            if self._reading:
                await self._ended.wait()  # the reading task will see their close frame
            else:
                await self._discard_until_close()
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        await self._hang_up()

    # --- reading ------------------------------------------------------------

    async def _next_frames(self) -> list[Received]:
        if self._early:
            data, self._early = self._early, b""
        else:
            data = await self._receive_some()
            if not data:
                await self._lost("the connection was lost")
                return []
        try:
            received = self._frames.feed(data)
        except ProtocolViolation as violation:
            log.info("websocket.protocol_error", extra={"code": violation.code})
            await self._fail(violation.code, violation.reason)
            return violation.received  # what came before the bad frame still counts
        if not self._frames.partial:
            self.message_since = None
        elif self.message_since is None:
            self.message_since = self.last_heard
        return received

    async def _receive_some(self) -> bytes:
        """The next bytes from the socket (b"" once it is closed or lost).

        Reads the descriptor directly and waits for readiness only when it
        is empty: ``SocketStream.receive_some`` passes through the scheduler
        once more after every successful read, which for a client sending
        one frame at a time is a second pass per frame (CPU, and latency:
        docs/BENCHMARKS.md). Like trio, it checks for cancellation first and
        passes through the scheduler at least once per read; what it read
        is never lost to a cancellation.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        # A short last read emptied the socket: wait before reading (a read now
        # would almost always find nothing, one wasted system call per frame).
        waited = False
        must_wait = self._drained
        while True:
            if must_wait:
                self.waiting = True
                try:
                    await trio.lowlevel.wait_readable(self._fd)
                except trio.ClosedResourceError:
                    return b""
                finally:
                    self.waiting = False
                waited = True
            if self._stream.socket.fileno() != self._fd:
                return b""  # closed by another task: the number may be someone else's now
            try:
                data = os.read(self._fd, RECEIVE_BYTES)
            except BlockingIOError:
                must_wait = True
                continue
            except OSError:  # reset by the peer, or closed under us
                return b""
            self._drained = len(data) < RECEIVE_BYTES
            if data:
                self.last_heard = trio.current_time()
                self.pinged = False
            if not waited:  # the data was already there: let the others run first
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def _discard_until_close(self) -> None:
        """Read (and drop) what still comes until the peer's close frame or EOF."""
        while not self._ended.is_set():
            for item in await self._next_frames():
                if isinstance(item, Close):
                    await self._peer_closed(item)
                    break

    async def _peer_closed(self, close: Close) -> None:
        """The peer's close frame: answer with ours (unless we started) and hang up."""
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL if close.code is None else close.code
            self.close_reason = close.reason
        if not self._close_sent:
            self._close_sent = True
            code = close.code
            echo = server_frame(OP_CLOSE, b"") if code is None else close_frame(code, "")
            with trio.move_on_after(CONTROL_SEND_TIMEOUT_S), contextlib.suppress(TransportClosed):
                await self._send(echo)
        await self._hang_up()

    async def _fail(self, code: int, reason: str) -> None:
        """The client broke the protocol: say why (best effort) and hang up at once."""
        self.close_code, self.close_reason = code, reason
        if not self._close_sent:
            self._close_sent = True
            with trio.move_on_after(CONTROL_SEND_TIMEOUT_S), contextlib.suppress(TransportClosed):
                await self._send(close_frame(code, reason))
        await self._hang_up()

    async def _lost(self, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = CLOSE_ABNORMAL, reason
        await self._hang_up()

    async def _hang_up(self) -> None:
        self._ended.set()
        self._stream.socket.close()

    # --- writing ------------------------------------------------------------

    async def _send_control(self, frame: bytes) -> None:
        with trio.move_on_after(CONTROL_SEND_TIMEOUT_S) as scope:
            try:
                await self._send(frame)
            except TransportClosed:
                return
        if scope.cancelled_caught:
            await self._lost("a control frame could not be sent: the client does not read")

    async def _send(self, data: bytes) -> None:
        async with self._send_lock:
            if self._torn and not self._backlog:
                raise TransportClosed(CLOSE_ABNORMAL, "a write was cut off mid-frame")
            data, self._backlog = self._backlog + data, b""
            # Until the write completes: a write cancelled midway leaves half a
            # frame on the wire, and nothing may follow it, not even a close frame.
            self._torn = True
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._ended.set()
                if self.close_code is None:
                    self.close_code, self.close_reason = CLOSE_ABNORMAL, "the connection was lost"
                raise TransportClosed(self.close_code, self.close_reason) from exc
            self._torn = False
