"""Fixtures for the actors: a real service on a free loopback port, and clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_websocket import WebSocketConnection

from actors.service import Service, serve
from config.settings import Settings
from websocket.client import open_client


def service_settings(data: Path, **overrides: Any) -> Settings:
    """Settings for a test service: loopback, port 0, its own data directory."""
    return attrs.evolve(Settings(listen="127.0.0.1:0", data_path=data), **overrides)


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[Service]:
    """Start the service, yield it, then stop it gracefully (flushes everything)."""
    async with trio.open_nursery() as nursery:
        service: Service = await nursery.start(serve, settings)
        try:
            yield service
        finally:
            service.stop()


@asynccontextmanager
async def client(service: Service, path: str = "/spin30") -> AsyncIterator[Client]:
    """A client of the service's hub."""
    async with connect(f"ws://127.0.0.1:{service.hub_port}{path}") as ws:
        yield ws


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Client]:
    """A client of any WebSocket URL (the hub, a relay stream)."""
    async with open_client(url) as ws:
        yield Client(ws)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fails the test after ``timeout_s``."""
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


@attrs.define
class Client:
    """A lab UI or dashboard talking JSON over a real WebSocket."""

    ws: WebSocketConnection

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout_s: float = 15.0) -> dict[str, Any]:
        with trio.fail_after(timeout_s):
            return json.loads(await self.ws.get_message())

    async def receive_n(self, n: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        return [await self.receive(timeout_s) for _ in range(n)]

    async def ask(self, frame: dict[str, Any], replies: int) -> list[dict[str, Any]]:
        await self.send(frame)
        return await self.receive_n(replies)


def event(
    user: str, log: str, t: int, *, exp: str = "spinner", course: str = "cie3", **extra: Any
) -> dict[str, Any]:
    return {
        "user": user,
        "t": t,
        "type": "analytics",
        "exp": exp,
        "course": course,
        "payload": {"log": log},
        **extra,
    }


def request(
    user: str,
    content: str,
    *,
    exp: str = "spinner",
    course: str = "cie3",
    id: Any = None,
    **payload: Any,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "user": user,
        "type": "request",
        "exp": exp,
        "course": course,
        "payload": {"content": content, **payload},
    }
    if id is not None:
        frame["id"] = id
    return frame
