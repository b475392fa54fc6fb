"""The load tester's lean HTTP/1.1 client: replies parsed right, keep-alive, a closed socket."""

from __future__ import annotations

import pytest

from loadtest.http1 import (
    ConnectFailedError,
    HttpConnection,
    HttpProtocolError,
    ResponseParser,
    build_request,
)
from loadtest.spawn import free_port
from tests.loadtest.fakes import fake_http_server

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
    b"4;ext=1\r\nWiki\r\n6\r\npedia \r\n0\r\nTrailer: x\r\n\r\n"
)


def replies_of(data: bytes, step: int) -> list[tuple[int, bytes]]:
    """Feed ``data`` ``step`` bytes at a time; every whole reply as (status, body)."""
    parser = ResponseParser()
    found = []
    for at in range(0, len(data), step):
        parser.feed(data[at : at + step])
        while (reply := parser.next_reply()) is not None:
            found.append((reply.status, reply.body))
    return found


@pytest.mark.parametrize("step", [1, 7, 10_000])
def test_lengths_chunks_and_interim_replies_in_any_slicing(step):
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nAccess-Control-Allow-Origin: *\r\n\r\n"
        b'{"stored":true}'
        + CHUNKED
        + b"HTTP/1.1 204 No Content\r\nAllow: GET\r\n\r\n"
        + b"HTTP/1.1 503 X\r\ncontent-length: 2\r\n\r\n{}"
    )
    assert replies_of(data, step) == [
        (200, b'{"stored":true}'),
        (200, b"Wikipedia "),
        (204, b""),
        (503, b"{}"),
    ]


def test_header_names_are_lower_case_and_a_body_may_run_to_the_close():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\nab")
    assert parser.next_reply() is None
    parser.feed(b"c")
    parser.feed_eof()
    reply = parser.next_reply()
    assert reply is not None
    assert reply.body == b"abc"
    assert reply.headers[b"access-control-allow-origin"] == b"*"
    assert reply.closes


@pytest.mark.parametrize(
    "data",
    [b"SPDY/3 200 OK\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
)  # fmt: skip
def test_what_is_not_http_is_a_protocol_error(data):
    parser = ResponseParser()
    parser.feed(data)
    with pytest.raises(HttpProtocolError):
        parser.next_reply()


def test_the_request_goes_as_it_is_given():
    data = build_request(
        "POST", "/a?username=ana+1@x.org&course=ed1", "h:1", (("Origin", "o"),), b"{}"
    )
    assert data == (
        b"POST /a?username=ana+1@x.org&course=ed1 HTTP/1.1\r\nHost: h:1\r\nOrigin: o\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    assert b"Content-Length" not in build_request("GET", "/", "h", ())


def echo(method: str, target: str, body: bytes) -> tuple[int, list[str], bytes]:
    return 200, ["Content-Type: text/plain"], f"{method} {target} {body.decode()}".encode()


async def test_one_connection_carries_many_requests():
    async with fake_http_server(echo) as (port, seen):
        connection = HttpConnection("127.0.0.1", port, 5.0)
        for n in range(5):
            reply = await connection.request(build_request("POST", f"/{n}", "h", (), b"x"))
            assert reply.body == f"POST /{n} x".encode()
        await connection.aclose()
    assert connection.opened == 1
    assert connection.retried == 0
    assert seen == [f"POST /{n}" for n in range(5)]


async def test_a_socket_the_server_closed_while_idle_is_replaced_and_the_request_sent_again():
    async with fake_http_server(echo, close_after_reply=True) as (port, seen):
        connection = HttpConnection("127.0.0.1", port, 5.0)
        for n in range(3):
            reply = await connection.request(build_request("GET", f"/{n}", "h", ()))
            assert reply.status == 200
        await connection.aclose()
    assert seen == ["GET /0", "GET /1", "GET /2"]  # each request handled once
    assert connection.opened == 3
    assert connection.retried == 2


async def test_nothing_listening_is_a_connect_failure():
    connection = HttpConnection("127.0.0.1", free_port(), 5.0)
    with pytest.raises(ConnectFailedError):
        await connection.request(build_request("GET", "/", "h", ()))
