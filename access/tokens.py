"""Verifying the JSON Web Tokens the booking system and the course team hand out.

HS256 with a shared secret, as the relay's tokens are (PROTOCOL.md): one or
two secrets, so that during a rotation tokens signed with either are taken.
The token travels raw in ``Authorization`` (the v1 clients) or after
``Bearer `` (v2 clients). A ``TokenError``'s message says what was wrong
with the token and is safe to log: it never holds the token or a claim value
a client chose beyond a short, printable echo.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import jwt

from access.grants import SCOPES, Grant, Role

ALGORITHMS: Final = ["HS256"]
# Clocks of the booking system and ours differ a little.
LEEWAY_S: Final = 30.0
# The relay's tokens name this prefix: the stream's session handshake.
SESSION_PREFIX: Final = "session"
_ECHO_MAX: Final = 40


class TokenError(Exception):
    """A token that grants nothing; the message is safe to log and to answer."""


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` value: raw, or after ``Bearer ``; None if empty."""
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    return token or None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _ECHO_MAX and text.isprintable() else "(a value)"


@attrs.frozen
class TokenVerifier:
    """Checks tokens against our secrets and our public URL (the ``aud`` we accept)."""

    secrets: tuple[bytes, ...] = attrs.field(converter=tuple)
    audience: str = attrs.field(converter=lambda url: url.rstrip("/"))
    leeway_s: float = LEEWAY_S

    def __attrs_post_init__(self) -> None:
        if not self.secrets:
            raise ValueError("a token verifier needs at least one secret")

    def stream_grant(self, authorization: str | None, stream: str) -> Grant:
        """The grant of the booking system's token for ``stream`` (``POST /session/<stream>``).

        Raises ``TokenError`` unless the signature, ``exp``, ``nbf``, ``aud``
        hold, ``topic`` is ``stream``, ``prefix`` is ``session`` and
        ``scopes`` holds ``read`` and/or ``write``.
        """
        claims = self._claims(authorization, required=("exp", "aud", "topic", "prefix", "scopes"))
        if claims["topic"] != stream:
            raise TokenError(f"the token is for stream {_shown(claims['topic'])}, not this one")
        if claims["prefix"] != SESSION_PREFIX:
            raise TokenError(f"the token's prefix is {_shown(claims['prefix'])}, not 'session'")
        scopes = _scopes(claims["scopes"])
        if not scopes:
            raise TokenError("the token grants no scope (read, write)")
        booking = claims.get("booking_id")
        return Grant(
            scopes=scopes, stream=stream, booking_id=None if booking is None else str(booking)
        )

    def person_grant(self, authorization: str | None) -> Grant:
        """The grant of a person's bearer token: its ``sub``, ``role``, ``courses`` and scopes.

        ``scopes`` defaults to read and write (a person acts on their own
        data); ``role`` to student. Raises ``TokenError``.
        """
        claims = self._claims(authorization, required=("exp", "aud", "sub"))
        subject = claims["sub"]
        if type(subject) is not str or not subject:
            raise TokenError("the token's subject is not a user name")
        try:
            role = Role(claims.get("role", Role.STUDENT))
        except ValueError:
            raise TokenError(f"unknown role {_shown(claims.get('role'))}") from None
        courses = claims.get("courses", [])
        if type(courses) is not list or not all(type(c) is str for c in courses):
            raise TokenError("the token's courses are not a list of course codes")
        scopes = _scopes(claims["scopes"]) if "scopes" in claims else SCOPES
        return Grant(scopes=scopes, subject=subject, role=role, courses=frozenset(courses))

    def _claims(self, authorization: str | None, *, required: Sequence[str]) -> Mapping[str, Any]:
        token = bearer(authorization)
        if token is None:
            raise TokenError("no token (Authorization is missing or empty)")
        audiences = [self.audience, self.audience + "/"]
        for number, secret in enumerate(self.secrets, start=1):
            try:
                with warnings.catch_warnings():
                    # A booking system's short secret is its choice; said once at start.
                    warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                    return jwt.decode(
                        token,
                        secret,
                        algorithms=ALGORITHMS,
                        audience=audiences,
                        leeway=self.leeway_s,
                        options={"require": list(required)},
                    )
            except jwt.InvalidSignatureError:
                if number == len(self.secrets):
                    raise TokenError("the token's signature is not ours") from None
            except jwt.ExpiredSignatureError:
                raise TokenError("the token has expired") from None
            except jwt.ImmatureSignatureError:
                raise TokenError("the token is not valid yet (nbf)") from None
            except jwt.InvalidAudienceError:
                raise TokenError("the token is for another service (aud)") from None
            except jwt.exceptions.InvalidSubjectError:
                raise TokenError("the token's subject is not a user name") from None
            except jwt.MissingRequiredClaimError as exc:
                raise TokenError(f"the token has no {exc.claim!r} claim") from None
            except jwt.InvalidTokenError as exc:
                raise TokenError(f"not a valid token ({type(exc).__name__})") from None
        raise AssertionError("unreachable: the last secret returns or raises")


def _scopes(value: Any) -> frozenset[str]:
    if type(value) is not list or not all(type(scope) is str for scope in value):
        raise TokenError("the token's scopes are not a list of names")
    return frozenset(value) & SCOPES


def read_secrets(text: str) -> tuple[bytes, ...]:
    """The secrets of a secret file: one per line (two during a rotation), blanks ignored."""
    return tuple(line.strip().encode() for line in text.splitlines() if line.strip())
