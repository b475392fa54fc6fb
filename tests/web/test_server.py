"""Hypercorn in our nursery: it reports its port and stops when we say, gracefully."""

from __future__ import annotations

from functools import partial

import trio
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from web.server import serve_web


async def read_reply(stream: trio.SocketStream) -> bytes:
    received = bytearray()
    while chunk := await stream.receive_some(65536):
        received += chunk
    return bytes(received)


async def test_a_stop_lets_the_request_in_flight_finish_then_serve_returns() -> None:
    entered, release, stop = trio.Event(), trio.Event(), trio.Event()

    async def slow(_) -> Response:
        entered.set()
        await release.wait()
        return Response(b"done")

    app = Starlette(routes=[Route("/slow", slow)])
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            serve = partial(serve_web, app, "127.0.0.1:0", grace_s=5.0, shutdown_trigger=stop.wait)
            port = await nursery.start(serve)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            await entered.wait()
            stop.set()
            # The listener closes first: new clients are refused ...
            while True:
                try:
                    await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                except OSError:  # refused: nobody listens any more
                    break
                await trio.sleep(0.01)
            # ... while the request in flight still gets its answer.
            release.set()
            reply = await read_reply(stream)  # to EOF: the server closed the connection
            await stream.aclose()
        # The nursery exited: serve_web returned on its own.
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b"done")
