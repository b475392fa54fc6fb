"""A lean HTTP/1.1 client for the v2 load: keep-alive, one request at a time, as a browser.

The v2 clients are browsers: a few keep-alive connections per page, one
request in flight on each (no pipelining). ``HttpConnection`` is that: it
opens its socket on first use, sends a whole request, reads one reply, and
keeps the socket for the next; a socket the server closed while idle
(Hypercorn's keep-alive timer) is replaced, and a request that met such a
socket before a byte of reply came is sent again once on a fresh one, as
browsers do.

Why not httpx: on this machine kind, 32 connections against a server that
answers at once, httpx's ``AsyncClient`` under trio cost 4.2-5.4 ms of CPU
per request, an h11-based client 0.33-0.44 ms and this one 0.15-0.21 ms
(``benchmarks/bench_v2_client.py``, docs/BENCHMARKS.md). The load tester
shares a core with the dashboards that measure, so its own cost per
statement decides what rate it can show.

``ResponseParser`` is sans-io (bytes in, replies out): status line,
headers, a body by ``Content-Length``, chunked, or up to the close.
"""

from __future__ import annotations

from typing import Final

import attrs
import trio

MAX_REPLY_BYTES: Final = 16 * 1024 * 1024
MAX_HEAD_BYTES: Final = 64 * 1024
RECEIVE_BYTES: Final = 65_536
# Below Hypercorn's 5 s keep-alive: an older idle socket is replaced before use
# rather than raced against the server's close.
IDLE_REUSE_S: Final = 4.0
NO_BODY_STATUSES: Final = frozenset({204, 304})


class HttpError(Exception):
    """A request got no reply: ``ConnectFailedError``, ``ConnectionLostError``,
    ``HttpProtocolError``."""


class ConnectFailedError(HttpError):
    """The connection could not be opened (refused, unreachable, too slow)."""


class ConnectionLostError(HttpError):
    """The server closed or reset the connection before the whole reply came."""


class HttpProtocolError(HttpError):
    """The reply is not HTTP/1.1 as we read it (or over ``MAX_REPLY_BYTES``)."""


@attrs.frozen
class HttpReply:
    """One reply: the status, the headers (names in lower case, last one wins), the body."""

    status: int
    headers: dict[bytes, bytes]
    body: bytes

    @property
    def closes(self) -> bool:
        return self.headers.get(b"connection", b"").lower() == b"close"


def build_request(
    method: str, target: str, host: str, headers: tuple[tuple[str, str], ...], body: bytes = b""
) -> bytes:
    """The bytes of one request. ``target`` goes as it is: the v2 clients do not
    URL-encode their queries, so neither do we (only what a browser's URL parser
    would encode must already be, e.g. spaces)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ResponseParser:
    """Replies out of the bytes of one connection, in order. Sans-io.

    ``feed`` the bytes as they come, then ``next_reply`` until it returns None;
    ``feed_eof`` once the server closed (a body without length ends there).
    Raises ``HttpProtocolError``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False

    @property
    def pending(self) -> int:
        """Bytes received and not yet part of a whole reply."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_REPLY_BYTES:
            raise HttpProtocolError(f"a reply over {MAX_REPLY_BYTES} bytes")

    def feed_eof(self) -> None:
        self._eof = True

    def next_reply(self) -> HttpReply | None:
        """The next whole reply, or None until more bytes (or the end) arrive."""
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise HttpProtocolError(f"a reply head over {MAX_HEAD_BYTES} bytes")
                return None
            status, headers = _head(bytes(self._buffer[:end]))
            if 100 <= status < 200:  # an interim reply: the real one follows
                del self._buffer[: end + 4]
                continue
            break
        start = end + 4
        if status in NO_BODY_STATUSES:
            return self._take(status, headers, start, start)
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return self._chunked(status, headers, start)
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                raise HttpProtocolError(f"Content-Length {length!r}")
            stop = start + int(length)
            return self._take(status, headers, start, stop) if len(self._buffer) >= stop else None
        if not self._eof:
            return None  # the body runs to the close
        return self._take(status, headers, start, len(self._buffer))

    def _take(self, status: int, headers: dict[bytes, bytes], start: int, stop: int) -> HttpReply:
        body = bytes(self._buffer[start:stop])
        del self._buffer[:stop]
        return HttpReply(status, headers, body)

    def _chunked(self, status: int, headers: dict[bytes, bytes], at: int) -> HttpReply | None:
        chunks = []
        while True:
            line_end = self._buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size_text = bytes(self._buffer[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpProtocolError(f"chunk size {size_text[:20]!r}") from None
            at = line_end + 2
            if size == 0:
                trailer_end = self._buffer.find(b"\r\n", at)
                while trailer_end > at:  # skip trailer fields up to the empty line
                    at = trailer_end + 2
                    trailer_end = self._buffer.find(b"\r\n", at)
                if trailer_end < 0:
                    return None
                del self._buffer[: trailer_end + 2]
                return HttpReply(status, headers, b"".join(chunks))
            if len(self._buffer) < at + size + 2:
                return None
            chunks.append(bytes(self._buffer[at : at + size]))
            at += size + 2


def _head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    status_line, *lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpProtocolError(f"status line {status_line[:40]!r}")
    headers = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise HttpProtocolError(f"header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


@attrs.define
class HttpConnection:
    """One keep-alive connection to ``host:port``, opened on first use.

    ``request`` sends one whole request and returns its reply; it raises
    ``HttpError`` (the connection is then closed, the next request opens a
    new one). Cancelled mid-request, the connection is closed too: its
    reply could not be told from the next one's. ``aclose`` when done.
    """

    host: str
    port: int
    connect_timeout_s: float
    opened: int = 0  # sockets opened over the connection's life
    retried: int = 0  # requests sent again after meeting a socket closed while idle
    _stream: trio.SocketStream | None = None
    _parser: ResponseParser = attrs.field(factory=ResponseParser)
    _used_at: float = 0.0
    _nothing_received: bool = True  # during the current exchange

    async def request(self, data: bytes) -> HttpReply:
        stale = trio.current_time() - self._used_at > IDLE_REUSE_S
        if self._stream is not None and stale:
            await self._close()
        reused = self._stream is not None
        try:
            return await self._exchange(data)
        except ConnectionLostError:
            if not (reused and self._nothing_received):
                raise
        # The server closed this idle socket as we sent: it read nothing of ours.
        self.retried += 1
        return await self._exchange(data)

    async def _exchange(self, data: bytes) -> HttpReply:
        done = False
        try:
            stream = self._stream if self._stream is not None else await self._open()
            self._nothing_received = True
            try:
                await stream.send_all(data)
                reply = self._parser.next_reply()
                while reply is None:
                    received = await stream.receive_some(RECEIVE_BYTES)
                    if not received:
                        self._parser.feed_eof()
                        reply = self._parser.next_reply()
                        if reply is None:
                            raise ConnectionLostError("closed by the server before the reply")
                        break
                    self._nothing_received = False
                    self._parser.feed(received)
                    reply = self._parser.next_reply()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise ConnectionLostError(f"{type(exc).__name__}: {exc}") from None
            done = not reply.closes
            self._used_at = trio.current_time()
            return reply
        finally:
            if not done:
                await self._close()

    async def _open(self) -> trio.SocketStream:
        with trio.move_on_after(self.connect_timeout_s) as waited:
            try:
                stream = await trio.open_tcp_stream(self.host, self.port)
            except OSError as exc:
                raise ConnectFailedError(f"{type(exc).__name__}: {exc}") from None
        if waited.cancelled_caught:
            raise ConnectFailedError(f"no connection within {self.connect_timeout_s:g} s")
        self._stream, self._parser = stream, ResponseParser()
        self.opened += 1
        return stream

    async def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def aclose(self) -> None:
        await self._close()
