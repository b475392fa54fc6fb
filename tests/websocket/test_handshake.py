"""The opening handshake, against wsproto's client and h11's client as oracles.

wsproto writes real upgrade requests and judges our 101; an h11 client parses
refusals, so a wrong status line or Content-Length fails the test.
"""

from __future__ import annotations

import base64

import h11
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from websocket.frames import FrameReader, Text
from websocket.handshake import HandshakeReader, Refusal, Upgrade, accept_key


def client_request(target: str = "/spin30?x=1", **kwargs) -> tuple[WSConnection, bytes]:
    client = WSConnection(ConnectionType.CLIENT)
    return client, client.send(Request(host="lab.example", target=target, **kwargs))


def swap(request: bytes, old: bytes, new: bytes) -> bytes:
    """``request`` with its first ``old`` replaced, which must be there."""
    assert old in request
    return request.replace(old, new, 1)


def client_events(client: WSConnection, response: bytes) -> list:
    client.receive_data(response)
    return list(client.events())


def parse_refusal(response: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers and body as an h11 client reads them (checks the framing)."""
    reader = h11.Connection(h11.CLIENT)
    reader.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    reader.send(h11.EndOfMessage())
    reader.receive_data(response)
    head = reader.next_event()
    assert isinstance(head, h11.Response)
    body = b""
    while not isinstance(event := reader.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data)
        body += event.data
    assert reader.next_event() is h11.NEED_DATA  # nothing after the body
    return head.status_code, dict(head.headers), body


def refusal(request: bytes, status: int) -> Refusal:
    outcome = HandshakeReader().feed(request)
    assert isinstance(outcome, Refusal)
    code, headers, body = parse_refusal(outcome.response)
    assert code == status
    assert headers[b"connection"] == b"close"
    assert headers[b"content-type"].startswith(b"text/plain")
    assert body.decode().strip() == outcome.reason
    return outcome


def test_rfc_example_accept_key() -> None:
    # RFC 6455 §1.3.
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_wsproto_client_is_accepted() -> None:
    client, request = client_request()
    outcome = HandshakeReader().feed(request)
    assert isinstance(outcome, Upgrade)
    assert outcome.path == "/spin30?x=1"
    assert outcome.trailing == b""
    assert outcome.response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    [event] = client_events(client, outcome.response)
    assert isinstance(event, AcceptConnection)
    assert event.extensions == []
    assert event.subprotocol is None


def test_the_rfc_example_request() -> None:
    request = (
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    outcome = HandshakeReader().feed(request)
    assert isinstance(outcome, Upgrade)
    assert outcome.response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


def test_frames_sent_with_the_request_come_back_as_trailing_bytes() -> None:
    client, request = client_request()
    first = HandshakeReader().feed(request)
    assert isinstance(first, Upgrade)
    assert isinstance(client_events(client, first.response)[0], AcceptConnection)
    frames = client.send(TextMessage(data="hello")) + client.send(TextMessage(data="é" * 300))
    outcome = HandshakeReader().feed(request + frames)
    assert isinstance(outcome, Upgrade)
    assert outcome.response == first.response
    assert outcome.trailing == frames
    assert FrameReader(1 << 20).feed(outcome.trailing) == [Text("hello"), Text("é" * 300)]


def test_the_request_split_byte_by_byte() -> None:
    client, request = client_request(target="/a/b")
    reader = HandshakeReader()
    for index in range(len(request) - 1):
        assert reader.feed(request[index : index + 1]) is None
    outcome = reader.feed(request[-1:] + b"\x81")
    assert isinstance(outcome, Upgrade)
    assert (outcome.path, outcome.trailing) == ("/a/b", b"\x81")
    assert isinstance(client_events(client, outcome.response)[0], AcceptConnection)


def test_extensions_and_subprotocols_are_never_echoed() -> None:
    client, request = client_request(
        subprotocols=["chat", "superchat"], extensions=[PerMessageDeflate()]
    )
    outcome = HandshakeReader().feed(request)
    assert isinstance(outcome, Upgrade)
    assert b"sec-websocket-extensions" not in outcome.response.lower()
    assert b"sec-websocket-protocol" not in outcome.response.lower()
    [event] = client_events(client, outcome.response)
    assert isinstance(event, AcceptConnection)
    assert (event.extensions, event.subprotocol) == ([], None)


def test_header_tokens_are_matched_case_insensitively_in_lists() -> None:
    # Firefox sends "Connection: keep-alive, Upgrade".
    _, request = client_request()
    request = swap(request, b"Connection: Upgrade", b"connection: keep-alive, UPGRADE")
    request = swap(request, b"Upgrade: websocket", b"upgrade: WebSocket")
    assert isinstance(HandshakeReader().feed(request), Upgrade)


def test_wrong_version_is_426_with_the_version_we_speak() -> None:
    client, request = client_request()
    assert b"Sec-WebSocket-Version: 13" in request
    outcome = refusal(swap(request, b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"), 426)
    _, headers, _ = parse_refusal(outcome.response)
    assert headers[b"sec-websocket-version"] == b"13"
    events = client_events(client, outcome.response)
    assert isinstance(events[0], RejectConnection)
    assert events[0].status_code == 426
    assert isinstance(events[-1], RejectData)


def test_missing_version_is_426_too() -> None:
    _, request = client_request()
    refusal(swap(request, b"Sec-WebSocket-Version: 13\r\n", b""), 426)


def strip_header(request: bytes, name: bytes) -> bytes:
    lines = request.split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(name.lower() + b":")]
    assert len(kept) == len(lines) - 1
    return b"\r\n".join(kept)


def with_key(request: bytes, key: bytes) -> bytes:
    lines = request.split(b"\r\n")
    return b"\r\n".join(
        b"Sec-WebSocket-Key: " + key if line.lower().startswith(b"sec-websocket-key:") else line
        for line in lines
    )


def test_missing_key() -> None:
    _, request = client_request()
    refusal(strip_header(request, b"Sec-WebSocket-Key"), 400)


@pytest.mark.parametrize(
    "key",
    [
        base64.b64encode(b"k" * 15),
        base64.b64encode(b"k" * 17),
        b"not base64 at all!!!!!==",
        b"",
    ],
)
def test_bad_keys(key) -> None:
    _, request = client_request()
    refusal(with_key(request, key), 400)


def test_two_keys() -> None:
    _, request = client_request()
    key = base64.b64encode(b"k" * 16)
    refusal(swap(request, b"\r\n\r\n", b"\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"), 400)


def test_post_is_refused() -> None:
    client, request = client_request()
    outcome = refusal(swap(request, b"GET ", b"POST "), 400)
    assert isinstance(client_events(client, outcome.response)[0], RejectConnection)


@pytest.mark.parametrize(
    "body",
    [b"Content-Length: 3\r\n\r\nabc", b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
)
def test_a_body_is_refused(body) -> None:
    _, request = client_request()
    refusal(swap(request, b"\r\n\r\n", b"\r\n" + body), 400)


def test_plain_http_get_is_refused() -> None:
    refusal(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400)


def test_upgrade_to_something_else_is_refused() -> None:
    _, request = client_request()
    refusal(swap(request, b"Upgrade: websocket", b"Upgrade: h2c"), 400)


def test_connection_without_upgrade_is_refused() -> None:
    _, request = client_request()
    refusal(swap(request, b"Connection: Upgrade", b"Connection: keep-alive"), 400)


def test_http_10_is_refused() -> None:
    _, request = client_request()
    refusal(swap(request, b"HTTP/1.1", b"HTTP/1.0"), 400)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # TLS
        b"hello there\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
    ],
)
def test_malformed_http_is_400(garbage) -> None:
    refusal(garbage, 400)


def test_a_head_too_big_in_pieces_is_431() -> None:
    _, request = client_request()
    padding = b"X-Padding: " + b"p" * 1000 + b"\r\n"
    reader = HandshakeReader(max_request_bytes=4096)
    assert reader.feed(request.split(b"\r\n")[0] + b"\r\n") is None
    outcome = None
    for _ in range(10):
        outcome = reader.feed(padding)
        if outcome is not None:
            break
    assert isinstance(outcome, Refusal)
    assert parse_refusal(outcome.response)[0] == 431


def test_a_head_too_big_in_one_read_is_431() -> None:
    _, request = client_request()
    big = swap(request, b"\r\n\r\n", b"\r\nX-Padding: " + b"p" * 5000 + b"\r\n\r\n")
    outcome = HandshakeReader(max_request_bytes=4096).feed(big)
    assert isinstance(outcome, Refusal)
    assert parse_refusal(outcome.response)[0] == 431
    # Trailing frames in the same read do not count against the head.
    assert isinstance(HandshakeReader(max_request_bytes=4096).feed(request + b"f" * 8000), Upgrade)


def test_closed_before_the_handshake() -> None:
    assert HandshakeReader().feed(b"") == Refusal(b"", "closed before the handshake")
    _, request = client_request()
    reader = HandshakeReader()
    assert reader.feed(request[:20]) is None
    assert reader.feed(b"") == Refusal(b"", "closed before the handshake")


def test_the_reader_is_spent_after_an_outcome() -> None:
    _, request = client_request()
    reader = HandshakeReader()
    assert isinstance(reader.feed(request), Upgrade)
    with pytest.raises(RuntimeError):
        reader.feed(b"more")
