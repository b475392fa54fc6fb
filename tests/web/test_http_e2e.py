"""The HTTP app over a real socket on 127.0.0.1, served by the running service."""

from __future__ import annotations

import json

import trio

from tests.actors.conftest import running_service, service_settings
from tests.actors.test_relay import http_call
from tests.web.conftest import UI_HASH

LH = "/analytics/logging/api/v1"
TH = "/analytics/taskcompare/api/v1"
WHO = "username=u1&course=ed1&hardware=spinner"


async def call(port: int, method: str, path: str, headers: dict[str, str] | None = None):
    status, got, body = await trio.to_thread.run_sync(http_call, port, method, path, headers or {})
    return status, got, body


async def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` as it is; everything the server sends until it closes (or 5 s)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = bytearray()
    async with stream:
        await stream.send_all(request)
        with trio.move_on_after(5):
            while chunk := await stream.receive_some(65536):
                received += chunk
    return bytes(received)


async def test_the_service_serves_the_http_app_end_to_end(tmp_path) -> None:
    settings = service_settings(
        tmp_path, http_listen="127.0.0.1:0", ui_credential_hash=UI_HASH, flush_interval_s=0.01
    )
    async with running_service(settings) as service:
        port = service.http_port
        # Issue 12, item 11: a hostile Host never reaches the URI handed out.
        status, _, body = await call(
            port, "POST", "/session/spin30", {"Host": "evil.example.com/x?y="}
        )
        assert status == 200
        assert json.loads(body) == {"uri": f"ws://127.0.0.1:{service.hub_port}/spin30"}

        # The dashboard's preflight of submitUserFeedback.
        status, headers, _ = await call(
            port,
            "OPTIONS",
            f"{TH}/submitUserFeedback?{WHO}",
            {
                "Origin": "https://dashboard.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert status == 204
        assert headers["access-control-allow-origin"] == "*"
        assert headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
        assert headers["access-control-allow-headers"] == "authorization, content-type"

        # A credential is configured: addLog without one is refused before its body.
        status, headers, body = await call(port, "POST", f"{LH}/addLog?{WHO}")
        assert status == 401
        assert json.loads(body)["error"]["code"] == "forbidden"
        assert headers["access-control-allow-origin"] == "*"

        status, headers, body = await call(port, "GET", "/nope")
        assert status == 404
        assert json.loads(body)["error"]["code"] == "invalid_message"
        assert headers["access-control-allow-origin"] == "*"

        # A read of a student with nothing yet: the whole graph, no edges.
        status, _, body = await call(port, "GET", f"{TH}/studentGraph?{WHO}")
        assert status == 200
        assert json.loads(body)["edges"] == []

        status, _, body = await call(port, "GET", "/healthz")
        assert (status, json.loads(body)) == (200, {"alive": True})
        status, _, _ = await call(port, "GET", "/metrics")
        assert status == 200


async def test_a_body_over_64_kib_is_413_on_the_socket(tmp_path) -> None:
    settings = service_settings(tmp_path, http_listen="127.0.0.1:0")
    async with running_service(settings) as service:
        port = service.http_port
        announced = await raw_exchange(
            port,
            f"POST {TH}/submitUserFeedback?{WHO} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: 1048576\r\n\r\n".encode(),
        )
        chunked = await raw_exchange(
            port,
            f"POST {TH}/submitUserFeedback?{WHO} HTTP/1.1\r\nHost: x\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n".encode()
            + b"".join(b"8000\r\n" + b" " * 0x8000 + b"\r\n" for _ in range(3)),
        )
        for reply in (announced, chunked):
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413 ")
            assert b"access-control-allow-origin: *" in head.lower()
            assert json.loads(body)["error"]["code"] == "too_large"
        status, _, _ = await call(port, "GET", "/healthz")  # and it keeps answering
        assert status == 200


async def test_keep_alive_connections_do_not_hold_up_a_stop(tmp_path) -> None:
    settings = service_settings(tmp_path, http_listen="127.0.0.1:0", grace_s=1.0)
    with trio.fail_after(10):
        async with running_service(settings) as service:
            stream = await trio.open_tcp_stream("127.0.0.1", service.http_port)
            await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = bytearray()
            while not reply.endswith(b'{"alive":true}'):
                reply += await stream.receive_some(65536)
            assert reply.startswith(b"HTTP/1.1 200 ")
            # The connection stays open (keep-alive) while the service stops.
        assert await stream.receive_some(65536) == b""  # closed by the server
        await stream.aclose()
