"""Access control as the service holds it: the token verifier, the hub's codes, refusals.

``open_access`` is called once at start by the wiring: it checks the
settings (``config.access.check_access``: a ``SettingsError`` stops the
start), logs the mode (``access.mode``), reads the secrets and returns the
``AccessKit`` that the HTTP app and the hub share (the hub
redeems the codes ``POST /session/<stream>`` issues), or None when access
control is off. ``refuse`` is how every route says no: one audit line
(``audit.credential_refused``: route, peer, reason; never the credential;
bounded by the app's ``RefusalAudit``) and the error reply.
"""

from __future__ import annotations

import logging
import stat
from typing import Final

import attrs
from starlette.requests import Request

from access.audit import RefusalAudit
from access.codes import CodeBook
from access.grants import Grant
from access.tokens import TokenError, TokenVerifier
from config.access import AccessMode, check_access, describe_access, exposed_listeners
from config.credentials import read_secret_file
from config.settings import Settings
from messages import ErrorCode
from web.replies import ApiError

log = logging.getLogger(__name__)

# RFC 7518 3.2: an HS256 key of at least the hash's size (256 bits).
MIN_SECRET_BYTES: Final = 32
UNAUTHENTICATED: Final = "unauthenticated"


@attrs.frozen
class AccessKit:
    """What access control needs at run time; made once by ``open_access``.

    ``codes`` is shared with the hub, which redeems what the handshake issues.
    """

    verifier: TokenVerifier
    codes: CodeBook = attrs.field(factory=CodeBook)
    require_read_token: bool = False
    open_feedback: bool = False


def open_access(settings: Settings) -> AccessKit | None:
    """Check the settings, log the mode, read the secrets; None when access control is off.

    Raises ``SettingsError`` (``config.access.check_access``) or
    ``config.credentials.CredentialError`` (the secret file went away since
    the settings were read).
    """
    mode = check_access(settings)
    log.info("access.mode", extra=describe_access(settings).to_json())
    if mode is AccessMode.OFF:
        if exposed_listeners(settings):
            log.warning(
                "access.insecure_open",
                extra={
                    "listeners": exposed_listeners(settings),
                    "why": "--insecure-open: anyone who reaches the ports reads and writes "
                    "any student's data",
                },
            )
        return None
    assert settings.access_secret_file is not None
    assert settings.public_url is not None
    secrets = read_secret_file(settings.access_secret_file)
    _warn_about_secrets(settings, secrets)
    if settings.open_feedback:
        log.warning(
            "access.open_feedback",
            extra={
                "why": "--open-feedback: anyone who reaches the HTTP port may submit "
                "v2 feedback (difficulty, completion, affective state) as any user"
            },
        )
    return AccessKit(
        TokenVerifier(secrets, settings.public_url),
        require_read_token=settings.require_read_token,
        open_feedback=settings.open_feedback,
    )


def _warn_about_secrets(settings: Settings, secrets: tuple[bytes, ...]) -> None:
    """Once, at start: short secrets, and a secret file others may read. Never a secret."""
    short = [
        number for number, secret in enumerate(secrets, start=1) if len(secret) < MIN_SECRET_BYTES
    ]
    if short:
        log.warning(
            "access.short_secret",
            extra={
                "lines": short,
                "why": f"an HS256 secret under {MIN_SECRET_BYTES} bytes can be guessed offline "
                "from one token",
                "fix": "ask the booking system for a longer one (openssl rand -base64 48)",
            },
        )
    path = settings.access_secret_file
    assert path is not None
    mode = path.stat().st_mode
    if mode & stat.S_IROTH:
        log.warning(
            "access.secret_file_readable",
            extra={"file": str(path), "mode": oct(stat.S_IMODE(mode)), "fix": "chmod 600"},
        )


def peer(request: Request) -> str:
    """The address the request came from (a reverse proxy's, behind one)."""
    client = request.client
    return client.host if client is not None else "unknown"


def refuse(
    request: Request,
    route: str,
    status: int,
    reason: str,
    *,
    who: str = UNAUTHENTICATED,
    headers: dict[str, str] | None = None,
) -> ApiError:
    """Audit a refused credential and return the error to raise (401 or 403, ``forbidden``).

    ``reason`` is safe to log and to answer: a ``TokenError``'s message or our
    own words, never the credential.
    """
    refusals: RefusalAudit = request.app.state.refusals
    refusals.refused(peer=peer(request), who=who, route=route, status=status, reason=reason)
    return ApiError(status, ErrorCode.FORBIDDEN, reason, headers)


def who_is(grant: Grant) -> str:
    """A grant as the audit log names it: ``instructor:t1``, ``stream:spin30-log``."""
    if grant.subject is not None:
        return f"{grant.role.value}:{grant.subject}"
    return f"stream:{grant.stream}"


def person(kit: AccessKit, request: Request, route: str, token: str | None) -> Grant:
    """The grant of a person's token (``Authorization`` value or ``?token=``); else 401."""
    try:
        return kit.verifier.person_grant(token)
    except TokenError as exc:
        raise refuse(request, route, 401, str(exc)) from None


def scheme(authorization: str | None) -> str:
    """``bearer``, ``basic``, ... in lower case; ``""`` without a header."""
    return (authorization or "").strip().partition(" ")[0].lower()
