"""The one HTTP application: the ops routes and the v2 API on Starlette, behind the edge.

``build_app`` is called once at start-up by the wiring (``actors.service``)
with a view of the service, the access kit (``web.access.open_access``: None
when access control is off) and, once the actors implement them, the v2
backend and the forgetter. Every error a handler raises becomes a JSON error object here;
what escapes is the edge's last-resort 500 (``web.edge``).
"""

from __future__ import annotations

import logging

import trio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from access.audit import RefusalAudit
from config.credentials import CredentialHash, load_researchers
from config.settings import Settings
from messages import DecodeError, ErrorCode
from web.access import AccessKit
from web.admin import AdminRoutes, Forgetter
from web.auth import SCRYPT_AT_ONCE, Researchers, UiCredential
from web.edge import Edge
from web.gate import Gate
from web.ops import HubLocator, OpsRoutes, OpsView, is_loopback
from web.replies import ApiError, ClientGoneError, error_reply
from web.v2 import NotFoundError, OverloadedError, V2Backend, V2Routes

log = logging.getLogger(__name__)


def build_app(
    service: OpsView,
    settings: Settings,
    backend: V2Backend | None = None,
    *,
    access: AccessKit | None = None,
    forgetter: Forgetter | None = None,
    refusals: RefusalAudit | None = None,
) -> ASGIApp:
    """The ASGI app of ``--http-listen``. Reads the researchers file (start-up only).

    ``access`` None: access control is off (``web.gate`` says what that leaves open).

    Raises ``config.credentials.CredentialError`` if the credentials cannot be read.
    """
    scrypt = trio.CapacityLimiter(SCRYPT_AT_ONCE)
    ui_hash = settings.ui_credential_hash
    ui = UiCredential(None if ui_hash is None else CredentialHash.parse(ui_hash), scrypt)
    researchers_file = settings.researchers_file
    researchers = Researchers(
        {} if researchers_file is None else load_researchers(researchers_file), scrypt
    )
    _warn_about_open_doors(settings, ui, access)
    gate = Gate(access, ui, researchers)
    # Routes are tried in order: the v2 API (addLog the busiest) before ops.
    routes = [
        *V2Routes(backend, gate).routes(),
        *OpsRoutes(service, HubLocator.from_settings(settings), access).routes(),
        *AdminRoutes(forgetter, gate).routes(),
    ]
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    # Where ``web.access.refuse`` writes: shared with the hub when the service gives one.
    app.state.refusals = RefusalAudit() if refusals is None else refusals
    # "/x/" is not "/x": no redirect (a POST would not follow it anyway).
    app.router.redirect_slashes = False
    return Edge(app, settings.allowed_origins)


def _warn_about_open_doors(settings: Settings, ui: UiCredential, access: AccessKit | None) -> None:
    address = settings.http_address
    if access is not None and not ui.required:
        log.warning(
            "http.ui_credential_unset",
            extra={
                "why": "access control is on and no UI credential is set: addLog and "
                "submitUserFeedback take a person's Bearer token only",
                "fix": "set LA_UI_CREDENTIAL_HASH for the lab UIs (hash-credential)",
            },
        )
    elif address is not None and not ui.required and not is_loopback(address[0]):
        log.warning(
            "http.addlog_open",
            extra={
                "listen": settings.http_listen,
                "why": "no UI credential: anyone who reaches the port can write statements",
                "fix": "set LA_UI_CREDENTIAL_HASH (learning-analytics hash-credential)",
            },
        )


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_reply(exc)


async def _decode_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DecodeError)
    return error_reply(ApiError(400, exc.code, exc.message))


async def _not_found(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotFoundError)
    return error_reply(ApiError(404, exc.code, exc.message))


async def _overloaded(_: Request, exc: Exception) -> Response:
    return error_reply(ApiError(503, ErrorCode.OVERLOADED, "try again later"))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own: no route (404), wrong method (405, with ``Allow``)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.scope['path'][:200]}"
    else:
        message = exc.detail
    return error_reply(ApiError(exc.status_code, ErrorCode.INVALID_MESSAGE, message, exc.headers))


async def _client_gone(_: Request, exc: Exception) -> Response:
    return Response(status_code=400)  # nobody reads it; ends the request quietly


async def _internal_error(_: Request, exc: Exception) -> Response:
    # Starlette re-raises after this reply; the edge logs the traceback.
    return error_reply(ApiError(500, ErrorCode.INTERNAL_ERROR, "internal error; see the log"))


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    DecodeError: _decode_error,
    NotFoundError: _not_found,
    OverloadedError: _overloaded,
    HTTPException: _http_error,
    ClientGoneError: _client_gone,
    Exception: _internal_error,
}
