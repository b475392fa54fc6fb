"""Tiny WebSocket servers that misbehave on purpose: silent, or answering garbage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

# Given a request frame, the text frames to answer it with.
Answer = Callable[[dict[str, Any]], list[str]]


def silent(_: dict[str, Any]) -> list[str]:
    return []


def wrong_shapes(request: dict[str, Any]) -> list[str]:
    """Five replies to every request, each wrong in its own way."""
    base = {"user": request["user"], "exp": request["exp"], "course": request["course"]}
    base |= {"type": "response", "id": request["id"]}
    return [
        json.dumps(base | {"content": "student_graph", "nodes": [], "edges": []}),
        json.dumps(base | {"content": "indicators"}),  # out of order
        # json.dumps writes a float nan as the bare NaN the original service sent.
        json.dumps(base | {"content": "task_identification", "tasks": {"x": float("nan")}}),
        json.dumps(base | {"content": "indicators", "indicators": {"exploration": 1}}),
        json.dumps(base | {"content": "centroids", "centroids": {"student": None}}),
    ]


@asynccontextmanager
async def fake_server(answer: Answer) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on a loopback port; yields its URL and a one-item list counting requests."""
    requests = [0]

    async def handle(ws_request: WebSocketRequest) -> None:
        ws = await ws_request.accept()
        try:
            while True:
                frame = json.loads(await ws.get_message())
                if frame.get("type") == "request":
                    requests[0] += 1
                    for text in answer(frame):
                        await ws.send_message(text)
        except ConnectionClosed:
            return

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handle, "127.0.0.1", 0, None))
        try:
            yield f"ws://127.0.0.1:{server.port}", requests
        finally:
            nursery.cancel_scope.cancel()


# --- HTTP -----------------------------------------------------------------------------

# Given (method, target, body), the reply: status, extra header lines, body.
HttpAnswer = Callable[[str, str, bytes], tuple[int, list[str], bytes]]


@asynccontextmanager
async def fake_http_server(
    answer: HttpAnswer, *, close_after_reply: bool = False
) -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTP/1.1 server on a loopback port; yields its port and the request lines seen.

    ``close_after_reply``: close every connection after its first reply, saying
    nothing (as a keep-alive timer firing right then would).
    """
    seen: list[str] = []

    async def handle(stream: trio.SocketStream) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next(
                    (int(v) for k, _, v in (x.partition(": ") for x in lines[1:])
                     if k.lower() == "content-length"), 0,
                )  # fmt: skip
                while len(buffer) < length:
                    buffer += await stream.receive_some(65536)
                body, buffer = buffer[:length], buffer[length:]
                method, target, _ = lines[0].split(" ")
                seen.append(f"{method} {target}")
                status, headers, reply = answer(method, target, body)
                head_out = [f"HTTP/1.1 {status} X", *headers, f"Content-Length: {len(reply)}"]
                await stream.send_all(("\r\n".join(head_out) + "\r\n\r\n").encode() + reply)
                if close_after_reply:
                    return
        except trio.BrokenResourceError:
            return
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        try:
            yield listeners[0].socket.getsockname()[1], seen
        finally:
            nursery.cancel_scope.cancel()
