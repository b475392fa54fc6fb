"""The outermost layer of the HTTP app: CORS on every reply, preflights, the last-resort 500.

Ours rather than Starlette's ``CORSMiddleware``, for three reasons the
v2 clients make hard requirements (PROTOCOL-V2.md, "CORS"):

- every reply carries ``Access-Control-Allow-Origin``, also a request
  without ``Origin`` and a 500 (Starlette's adds nothing without
  ``Origin``, and its ``ServerErrorMiddleware`` answers 500s outside any
  user middleware);
- a preflight is answered 204 whatever headers the browser asks about
  (Starlette's answers 400 to a header not in its list, and a page that
  adds one silently loses every submission);
- the headers are built once: a reply costs one list concatenation.

It also owns the error boundary: an exception that escapes a handler is
logged with its traceback (``http.handler_failed``, path only: queries
carry user names and headers credentials) and never reaches Hypercorn.
"""

from __future__ import annotations

import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]

ALLOW_METHODS = b"GET, POST, OPTIONS"
ALLOW_HEADERS = b"authorization, content-type"
PREFLIGHT_MAX_AGE_S = b"600"
INTERNAL_ERROR = orjson.dumps(
    {"error": {"code": "internal_error", "message": "internal error; see the service log"}}
)


class Edge:
    """Wraps ``app``; ``allowed_origins`` is ``("*",)`` or a list of exact origins."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self._any_origin = allowed_origins == ("*",)
        self._origins = frozenset(origin.encode("latin-1") for origin in allowed_origins)
        self._preflight: Headers = [
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE_S),
            (b"allow", ALLOW_METHODS),
            (b"content-length", b"0"),
        ]

    def cors_headers(self, scope: Scope) -> Headers:
        """What every reply to this request carries."""
        if self._any_origin:
            return [(b"access-control-allow-origin", b"*")]
        for name, value in scope["headers"]:
            if name == b"origin" and value in self._origins:
                return [(b"access-control-allow-origin", value), (b"vary", b"origin")]
        return [(b"vary", b"origin")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan passes through to Starlette
            await self.app(scope, receive, send)
            return
        cors = self.cors_headers(scope)
        if scope["method"] == "OPTIONS":
            # Every OPTIONS is a preflight to us: nothing else is served for it.
            headers = cors + self._preflight
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        started = False

        async def send_with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *cors]
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        except Exception:
            log.exception("http.handler_failed", extra={"path": scope["path"]})
            if not started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json"), *cors],
                    }
                )
                await send({"type": "http.response.body", "body": INTERNAL_ERROR})
