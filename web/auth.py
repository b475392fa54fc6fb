"""Credentials on the HTTP side: the UIs' shared ``addLog`` credential and the researchers'.

Both are checked against scrypt hashes (``config.credentials``): ~70 ms of
CPU and 16 MB each, so a check runs in a worker thread (hashlib releases
the GIL; the event loop keeps serving) and at most ``SCRYPT_AT_ONCE`` run
at a time, so a flood of wrong credentials costs one core at most and
queues behind itself. The UIs' credential is one token shared by every UI
of a deployment: once a token has matched, later requests are compared to
it in constant time with no scrypt, and requests that arrive while it is
being checked wait for that one check; a token that failed is remembered
too (a few, in a bounded set), so repeating a wrong one costs nothing.

Nothing here logs a header, a token or a user's password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections import OrderedDict
from collections.abc import Mapping

import trio
from starlette.requests import Request

from config.credentials import CredentialHash
from messages import ErrorCode
from web.replies import ApiError

SCRYPT_AT_ONCE = 1
REMEMBERED_FAILURES = 64
REALM = 'Basic realm="learning-analytics researchers", charset="UTF-8"'


def _unauthorized(message: str, *, challenge: bool = False) -> ApiError:
    headers = {"www-authenticate": REALM} if challenge else None
    return ApiError(401, ErrorCode.FORBIDDEN, message, headers)


def basic_token(request: Request) -> bytes | None:
    """What follows ``Basic`` in the ``Authorization`` header, or None (absent, other scheme)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    return token.strip().encode("latin-1")


class UiCredential:
    """The lab UIs' shared credential for ``addLog``; ``None`` hash = none required."""

    def __init__(self, hashed: CredentialHash | None, limiter: trio.CapacityLimiter) -> None:
        self._hash = hashed
        self._limiter = limiter
        self._accepted: bytes | None = None
        self._refused: OrderedDict[bytes, None] = OrderedDict()

    @property
    def required(self) -> bool:
        return self._hash is not None

    async def check(self, request: Request) -> None:
        """Returns if the request may write; raises ``ApiError`` 401 otherwise."""
        if self._hash is None:
            return
        token = basic_token(request)
        if token is None:
            raise _unauthorized("Authorization: Basic <credential> required")
        if self._known(token):
            return
        async with self._limiter:
            # Requests that came with one token while it was being checked
            # wait here, then find the answer without a scrypt of their own.
            if self._known(token):
                return
            if await trio.to_thread.run_sync(self._hash.matches, token):
                self._accepted = token
                return
            self._refused[token] = None
            if len(self._refused) > REMEMBERED_FAILURES:
                self._refused.popitem(last=False)
        raise _unauthorized("wrong credential")

    def _known(self, token: bytes) -> bool:
        """True if ``token`` matched before; raises 401 if it failed before; else False."""
        accepted = self._accepted
        if accepted is not None and hmac.compare_digest(token, accepted):
            return True
        if token in self._refused:
            raise _unauthorized("wrong credential")
        return False


class Researchers:
    """Researchers allowed to download the logs: ``user -> hash``; HTTP Basic ``user:password``."""

    def __init__(self, hashes: Mapping[str, CredentialHash], limiter: trio.CapacityLimiter) -> None:
        self._hashes = dict(hashes)
        self._limiter = limiter
        # An unknown user costs the same scrypt as a known one: no user enumeration by timing.
        self._decoy = next(iter(self._hashes.values()), None)

    async def check(self, request: Request) -> str:
        """The researcher's user name; raises ``ApiError`` 401 with a Basic challenge."""
        token = basic_token(request)
        if token is None:
            raise _unauthorized("a researcher's user and password required", challenge=True)
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed Basic credential", challenge=True) from None
        hashed = self._hashes.get(user) if sep else None
        checked = hashed or self._decoy
        if checked is None:
            raise _unauthorized("no researcher credentials are configured", challenge=True)
        ok = await trio.to_thread.run_sync(
            checked.matches, password.encode(), limiter=self._limiter
        )
        if not ok or hashed is None:
            raise _unauthorized("wrong user or password", challenge=True)
        return user
