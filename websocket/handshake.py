"""The server's WebSocket opening handshake (RFC 6455 §4.2), sans I/O, on h11.

The hub's own transport reads the upgrade request with this and then hands
the socket to ``websocket.frames``. h11 does the HTTP parsing (and its limits);
this module only decides whether the request is a WebSocket upgrade we accept
and produces the exact bytes to answer with. No extension and no subprotocol
is ever negotiated: the hub speaks plain RFC 6455 text frames.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from http import HTTPStatus

import attrs
import h11

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WEBSOCKET_VERSION = b"13"
_KEY_BYTES = 16


@attrs.frozen
class Upgrade:
    """Accepted: send ``response``, then feed ``trailing`` to a ``FrameReader``."""

    path: str
    response: bytes
    trailing: bytes  # what the client sent after its request (frames), already read


@attrs.frozen
class Refusal:
    """Refused: send ``response`` (may be empty), then close the TCP connection."""

    response: bytes
    reason: str


@attrs.frozen
class _Problem:
    status: int
    message: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    # SHA-1 is fixed by the RFC; it proves the server read the key, nothing more.
    digest = hashlib.sha1(key + WEBSOCKET_GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest)


class HandshakeReader:
    """Reads one upgrade request; ``feed`` returns None until it can decide."""

    def __init__(self, max_request_bytes: int = 16 * 1024) -> None:
        self._max = max_request_bytes
        # h11 refuses (431) a head still incomplete past this size; a complete
        # head that arrived in one read is measured in ``_accept``.
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=max_request_bytes)
        self._received = 0
        self._path: str | None = None
        self._key = b""
        self._finished = False

    def feed(self, data: bytes) -> Upgrade | Refusal | None:
        """The outcome once the request is in, None while more bytes are needed.

        ``b""`` means the peer closed the connection. After an outcome the
        reader is spent and further calls raise ``RuntimeError``.
        """
        if self._finished:
            raise RuntimeError("the handshake is already over")
        if not data:
            self._finished = True
            return Refusal(b"", "closed before the handshake")
        self._received += len(data)
        self._http.receive_data(data)
        outcome = self._next_outcome()
        if outcome is not None:
            self._finished = True
        return outcome

    def _next_outcome(self) -> Upgrade | Refusal | None:
        try:
            while True:
                event = self._http.next_event()
                if event is h11.NEED_DATA:
                    return None
                if event is h11.PAUSED:
                    # h11 pauses after the request of an upgrade proposal.
                    return self._accept()
                if isinstance(event, h11.Request):
                    problem = _check_request(event)
                    if problem is not None:
                        return _refuse(problem)
                    self._path = event.target.decode("latin-1")
                    self._key = _only_value(event.headers, b"sec-websocket-key")
                # EndOfMessage just leads to PAUSED; a body was refused above.
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
                return _refuse(_Problem(exc.error_status_hint, "request head too large"))
            # Not echoing h11's message: it may quote what the client sent.
            return _refuse(_Problem(HTTPStatus.BAD_REQUEST, "malformed HTTP request"))

    def _accept(self) -> Upgrade | Refusal:
        trailing, _closed = self._http.trailing_data
        if self._received - len(trailing) > self._max:
            return _refuse(
                _Problem(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
            )
        assert self._path is not None  # PAUSED only comes after a Request
        response = self._http.send(
            h11.InformationalResponse(
                status_code=HTTPStatus.SWITCHING_PROTOCOLS,
                headers=[
                    (b"Upgrade", b"websocket"),
                    (b"Connection", b"Upgrade"),
                    (b"Sec-WebSocket-Accept", accept_key(self._key)),
                ],
                reason=b"Switching Protocols",
            )
        )
        assert response is not None  # h11 returns None only for ConnectionClosed
        return Upgrade(self._path, response, trailing)


def _tokens(headers: h11.Headers, name: bytes) -> list[bytes]:
    """Lower-cased comma-separated tokens over every header line called ``name``."""
    return [
        token.strip().lower()
        for header, value in headers
        if header == name
        for token in value.split(b",")
        if token.strip()
    ]


def _only_value(headers: h11.Headers, name: bytes) -> bytes:
    values = [value for header, value in headers if header == name]
    return values[0] if len(values) == 1 else b""


def _check_request(request: h11.Request) -> _Problem | None:
    """Why ``request`` is not an upgrade we accept, or None if it is."""
    headers = request.headers
    if request.method != b"GET" or request.http_version != b"1.1":
        return _Problem(HTTPStatus.BAD_REQUEST, "a WebSocket handshake must be an HTTP/1.1 GET")
    if b"websocket" not in _tokens(headers, b"upgrade") or b"upgrade" not in _tokens(
        headers, b"connection"
    ):
        return _Problem(HTTPStatus.BAD_REQUEST, "this endpoint only accepts WebSocket upgrades")
    if _tokens(headers, b"transfer-encoding") or any(
        length != b"0" for length in _tokens(headers, b"content-length")
    ):
        return _Problem(HTTPStatus.BAD_REQUEST, "a WebSocket handshake has no body")
    if _tokens(headers, b"sec-websocket-version") != [WEBSOCKET_VERSION]:
        # RFC 6455 §4.4: say which version we speak so the client can retry.
        return _Problem(
            HTTPStatus.UPGRADE_REQUIRED,
            "unsupported WebSocket version, this server speaks 13",
            ((b"Sec-WebSocket-Version", WEBSOCKET_VERSION), (b"Upgrade", b"websocket")),
        )
    if not _is_valid_key(_only_value(headers, b"sec-websocket-key")):
        return _Problem(HTTPStatus.BAD_REQUEST, "missing or invalid Sec-WebSocket-Key")
    return None


def _is_valid_key(key: bytes) -> bool:
    """RFC 6455 §4.1: the key is 16 random bytes, base64-encoded."""
    try:
        return len(base64.b64decode(key, validate=True)) == _KEY_BYTES
    except binascii.Error:
        return False


def unavailable(message: str, retry_after_s: int) -> Refusal:
    """A ``503 Service Unavailable`` for a connection we cannot take now (a limit is
    reached), telling the client when to try again."""
    retry = (b"Retry-After", str(retry_after_s).encode("ascii"))
    return _refuse(_Problem(HTTPStatus.SERVICE_UNAVAILABLE, message, (retry,)))


def unauthorized(message: str, challenge: str) -> Refusal:
    """A ``401 Unauthorized`` for an upgrade that lacks what the server asks for.

    ``challenge`` is the ``WWW-Authenticate`` value (RFC 9110 §11.6.1: every
    401 carries one), naming how to get in; ``message`` is the body and must
    not echo what the client sent.
    """
    header = (b"WWW-Authenticate", challenge.encode("ascii"))
    return _refuse(_Problem(HTTPStatus.UNAUTHORIZED, message, (header,)))


def _refuse(problem: _Problem) -> Refusal:
    body = problem.message.encode("utf-8") + b"\n"
    # A fresh h11 connection can always send a response, whatever state the
    # request left the real one in (ERROR after a malformed head, say).
    writer = h11.Connection(h11.SERVER)
    head = writer.send(
        h11.Response(
            status_code=problem.status,
            headers=[
                (b"Content-Type", b"text/plain; charset=utf-8"),
                (b"Content-Length", str(len(body)).encode("ascii")),
                (b"Connection", b"close"),
                *problem.headers,
            ],
            reason=HTTPStatus(problem.status).phrase.encode("ascii"),
        )
    )
    assert head is not None
    return Refusal(head + body, problem.message)
