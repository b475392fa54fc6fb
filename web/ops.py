"""The ops routes: health, readiness, metrics and the relay-style access handshake.

- ``GET /healthz``: the process is alive (200).
- ``GET /readyz``: the store writes and every relay stream is connected or
  waiting out a backoff (200), else 503 with what is wrong.
- ``GET /metrics``: Prometheus text (no user id in any label).
- ``POST /session/<stream>``: the relay's access handshake, answered
  ``{"uri": "<hub>/<stream>"}`` so that the deployed dashboards, which only
  know that handshake, work against the hub with no relay in between
  (PROTOCOL.md, "Relay-style access"). Its preflight is the edge's (``web.edge``).
  With access control on, the booking system's token in ``Authorization``
  is verified (``access.tokens``: signature, times, ``aud``, ``topic`` =
  the stream, ``prefix``, scopes) and the URI carries a single-use code for
  its grant (``?code=``, from the ``CodeBook`` the hub redeems); a bad token
  is ``401`` and audited.

The hub's address comes from configuration only (``HubLocator``), never
from the request's ``Host`` header, which the client chooses (issue 12).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

import attrs
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from access.tokens import TokenError
from config.access import is_loopback
from config.settings import Settings
from messages import ErrorCode
from telemetry.metrics import ServiceView, StreamView
from web.access import AccessKit, refuse
from web.replies import ApiError, json_reply

log = logging.getLogger(__name__)


class ReadyStream(StreamView, Protocol):
    @property
    def ready(self) -> bool: ...
    @property
    def last_error(self) -> str | None: ...


class OpsView(ServiceView, Protocol):
    """What the ops routes read of the running service (``actors.service.Service``)."""

    @property
    def hub_port(self) -> int | None: ...
    @property
    def store_problem(self) -> str | None: ...
    @property
    def relays(self) -> Sequence[ReadyStream]: ...

    def render_metrics(self) -> bytes: ...


# The name goes into the URI we hand out: letters, digits, "_", "." and "-" only.
STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


@attrs.frozen
class HubLocator:
    """Where ``POST /session/<stream>`` sends a dashboard: configuration, never the request.

    ``public_base`` is the hub's public ws(s) URL without the stream
    (from ``public_url``, or the deprecated ``public_ws_url``); without one,
    the hub's own listen host and bound port.
    """

    public_base: str | None
    listen_host: str

    @classmethod
    def from_settings(cls, settings: Settings) -> HubLocator:
        if settings.public_ws_url is not None:
            log.warning(
                "settings.deprecated",
                extra={
                    "setting": "public_ws_url (LA_PUBLIC_WS_URL)",
                    "use": "public_url (LA_PUBLIC_URL), e.g. https://la.example.org",
                    "in_effect": "public_url" if settings.public_url else "public_ws_url",
                },
            )
        base = None
        if settings.public_url is not None:
            base = ws_base(settings.public_url)
        elif settings.public_ws_url is not None:
            base = settings.public_ws_url.rstrip("/")
        host = (settings.listen_address or ("127.0.0.1", 0))[0]
        if host in WILDCARDS:
            if base is None and settings.http_listen is not None:
                log.warning(
                    "http.public_url_unset",
                    extra={
                        "listen": settings.listen,
                        "answering": "ws://127.0.0.1:<hub port>/<stream>",
                        "fix": "set LA_PUBLIC_URL to the address browsers reach",
                    },
                )
            host = "127.0.0.1"
        return cls(base, host)

    def uri(self, stream: str, hub_port: int | None) -> str | None:
        """The ws(s) URI of ``stream``, or None if there is no public base and no hub."""
        if self.public_base is not None:
            return f"{self.public_base}/{stream}"
        if hub_port is None:
            return None
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"ws://{host}:{hub_port}/{stream}"


def ws_base(public_url: str) -> str:
    """``https://la.example.org/x/`` -> ``wss://la.example.org/x`` (http -> ws, https -> wss)."""
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


__all__ = ["HubLocator", "OpsRoutes", "OpsView", "is_loopback", "ws_base"]


ALIVE = b'{"alive":true}'


class OpsRoutes:
    """The ops routes over ``service``; ``hub`` says where the access handshake points.

    ``access`` None: access control is off and the handshake checks nothing.
    """

    def __init__(self, service: OpsView, hub: HubLocator, access: AccessKit | None = None) -> None:
        self._service = service
        self._hub = hub
        self._access = access

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/session/{stream}", self.access, methods=["POST"]),
        ]

    async def healthz(self, _: Request) -> Response:
        return Response(ALIVE, media_type="application/json")

    async def readyz(self, _: Request) -> Response:
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
        return json_reply(body, 200 if not problems else 503)

    async def metrics(self, _: Request) -> Response:
        return Response(self._service.render_metrics(), media_type=CONTENT_TYPE_LATEST)

    async def access(self, request: Request) -> Response:
        # Authorization is never logged; with access control off, any is accepted.
        stream = request.path_params["stream"]
        if not STREAM_NAME.fullmatch(stream):
            raise ApiError(404, ErrorCode.INVALID_MESSAGE, "not a stream name")
        uri = self._hub.uri(stream, self._service.hub_port)
        if uri is None:
            raise ApiError(503, ErrorCode.INTERNAL_ERROR, "no WebSocket hub is listening")
        if self._access is None:
            return json_reply({"uri": uri})
        try:
            grant = self._access.verifier.stream_grant(request.headers.get("authorization"), stream)
        except TokenError as exc:
            raise refuse(request, "session", 401, str(exc)) from None
        return json_reply({"uri": f"{uri}?code={self._access.codes.issue(grant)}"})
