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
