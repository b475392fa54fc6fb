"""What the ops port answers: health, readiness and the relay-style access handshake.

- ``GET /healthz``: the process is alive (200).
- ``GET /readyz``: the store writes and every relay stream is connected or
  waiting out a backoff (200), else 503 with what is wrong.
- ``POST /session/<stream>`` (and its CORS preflight): the relay's access
  handshake, answered ``{"uri": "ws://<host>:<hub port>/<stream>"}`` so that
  the deployed dashboards, which only know that handshake, work against the
  hub with no relay in between (PROTOCOL.md, "Relay-style access").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from telemetry.metrics import ServiceView, StreamView
from web.http_listener import HttpRequest, HttpResponse


class ReadyStream(StreamView, Protocol):
    @property
    def ready(self) -> bool: ...
    @property
    def last_error(self) -> str | None: ...


class OpsView(ServiceView, Protocol):
    """What the ops port reads of the running service (``actors.service.Service``)."""

    @property
    def hub_port(self) -> int | None: ...
    @property
    def store_problem(self) -> str | None: ...
    @property
    def relays(self) -> Sequence[ReadyStream]: ...

    def render_metrics(self) -> bytes: ...


# The name goes into the URI we hand out: letters, digits, "_", "." and "-" only.
STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "Authorization, Content-Type",
    "access-control-max-age": "600",
}


def _json(status: int, value: object, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(value), headers=headers or {})


class Endpoints:
    """Routes HTTP requests of the ops port to answers about ``service``."""

    def __init__(self, service: OpsView, *, public_ws_url: str | None = None) -> None:
        self._service = service
        self._public_ws_url = public_ws_url

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return _json(200, {"alive": True})
        if request.path == "/readyz" and request.method in ("GET", "HEAD"):
            return self._readiness()
        if request.path == "/metrics" and request.method in ("GET", "HEAD"):
            body = self._service.render_metrics()
            return HttpResponse(200, body, content_type=CONTENT_TYPE_LATEST)
        if request.path.startswith("/session/"):
            return self._access(request)
        return _json(404, {"error": f"no route {request.method} {request.path}"})

    def _readiness(self) -> HttpResponse:
        service = self._service
        problems = []
        if service.store_problem is not None:
            problems.append(f"store: {service.store_problem}")
        problems += [
            f"relay {state.url}: {state.last_error}" for state in service.relays if not state.ready
        ]
        body = {
            "ready": not problems,
            "problems": problems,
            "relays": [
                {"url": s.url, "connected": s.connected, "failures": s.failures}
                for s in service.relays
            ],
        }
        return _json(200 if not problems else 503, body)

    def _access(self, request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            return HttpResponse(204, headers=CORS_HEADERS)
        if request.method != "POST":
            return _json(405, {"error": "use POST"}, {"allow": "POST, OPTIONS", **CORS_HEADERS})
        stream = request.path.removeprefix("/session/").strip("/")
        if not STREAM_NAME.fullmatch(stream):
            return _json(404, {"error": "not a stream name"}, CORS_HEADERS)
        uri = self._uri_for(stream, request.headers.get("host", ""))
        if uri is None:
            return _json(503, {"error": "no WebSocket hub is listening"}, CORS_HEADERS)
        return _json(200, {"uri": uri}, CORS_HEADERS)

    def _uri_for(self, stream: str, host_header: str) -> str | None:
        if self._public_ws_url:
            return f"{self._public_ws_url.rstrip('/')}/{stream}"
        port = self._service.hub_port
        if port is None:
            return None
        # The browser reached us under this name; the hub has the same host.
        host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return f"ws://{host or '127.0.0.1'}:{port}/{stream}"
