"""Fakes for the HTTP side: a service view, a v2 backend, and an in-memory client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from starlette.types import ASGIApp

from config.credentials import hash_secret
from config.settings import Settings
from messages import DecodeError, ErrorCode, Identity
from web.app import build_app
from web.v2 import NotFoundError

# What a deployment's lab UIs send after "Basic " (already base64, PROTOCOL-V2.md).
UI_TOKEN = "bGFiLXVpOnNoYXJlZC1zZWNyZXQ="
UI_HASH = str(hash_secret(UI_TOKEN.encode(), salt=b"fixed-salt-for-tests"))
RESEARCHER, RESEARCHER_PASSWORD = "ada", "correct horse battery staple"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def researchers_file(tmp_path: Path) -> Path:
    path = tmp_path / "researchers"
    hashed = hash_secret(RESEARCHER_PASSWORD.encode(), salt=b"another-fixed-salt")
    path.write_text(f"# who may download the logs\n{RESEARCHER}:{hashed}\n")
    return path


@attrs.define
class FakeStream:
    url: str
    connected: bool = True
    failures: int = 0
    ready: bool = True
    last_error: str | None = None


@attrs.define
class FakeOps:
    """The service as the ops routes see it (``web.ops.OpsView``)."""

    hub_port: int | None = 8000
    store_problem: str | None = None
    relays: list[FakeStream] = attrs.field(factory=list)
    sessions: int = 0
    store_healthy: bool = True
    buffered_events: int = 0
    hub_connections: int = 0

    def render_metrics(self) -> bytes:
        return b"la_active_sessions 0.0\n"


@attrs.define
class FakeBackend:
    """Records what the routes hand it; answers or raises as a test sets it up."""

    statements: list[tuple[Identity, bytes]] = attrs.field(factory=list)
    feedback: list[tuple[Identity, bytes]] = attrs.field(factory=list)
    reads: list[tuple[str, Identity, str | None]] = attrs.field(factory=list)
    lines: list[bytes] = attrs.field(factory=list)
    fail_with: Exception | None = None
    durable: trio.Event | None = None  # add_statement waits for it when set

    async def add_statement(self, identity: Identity, body: bytes) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if body[:1] != b"{":
            raise DecodeError(ErrorCode.BAD_JSON, ["not a JSON object @ $"])
        if self.durable is not None:
            await self.durable.wait()
        self.statements.append((identity, body))

    async def read(
        self, endpoint: str, identity: Identity, taskcode: str | None
    ) -> Mapping[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        if identity.course == "nope":
            raise NotFoundError(ErrorCode.UNKNOWN_COURSE, "no course nope for spinner")
        self.reads.append((endpoint, identity, taskcode))
        return {"endpoint": endpoint, "user": identity.username}

    async def submit_feedback(self, identity: Identity, body: bytes) -> None:
        self.feedback.append((identity, body))

    async def iter_log_lines(self) -> AsyncIterator[bytes]:
        for line in self.lines:
            await trio.lowlevel.checkpoint()
            yield line


def web_settings(**overrides: Any) -> Settings:
    return attrs.evolve(Settings(listen="127.0.0.1:8000", http_listen="127.0.0.1:0"), **overrides)


def make_app(
    settings: Settings | None = None,
    ops: FakeOps | None = None,
    backend: FakeBackend | None = None,
) -> ASGIApp:
    return build_app(ops or FakeOps(), settings or web_settings(), backend)


@asynccontextmanager
async def asgi_client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Requests to ``app`` in memory (STYLE.md section 4): no socket, runs under trio."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
