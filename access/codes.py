"""Single-use, short-lived codes: a verified token's grant, carried to the WebSocket upgrade.

The deployed clients POST their token to ``/session/<stream>`` and then open
the ``uri`` of the answer; a browser cannot set headers on a WebSocket. So
the answer's URI carries a code (``?code=...``) that stands for the grant:
unguessable (128 bits), bound to its stream, good once, for ``ttl_s``.
The book holds at most ``max_codes``: the oldest are dropped first (only a
holder of a valid token can make one, so this bounds a token holder's flood).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

import attrs

from access.grants import Grant

CODE_TTL_S: Final = 60.0
MAX_CODES: Final = 10_000


@attrs.frozen
class _Pass:
    grant: Grant
    expires_at: float


class CodeBook:
    """Issues and redeems codes; pure but for its clock (``time.monotonic`` by default)."""

    def __init__(
        self,
        *,
        ttl_s: float = CODE_TTL_S,
        max_codes: int = MAX_CODES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_codes = max_codes
        self._clock = clock
        self._passes: OrderedDict[str, _Pass] = OrderedDict()

    def issue(self, grant: Grant) -> str:
        """A new code for ``grant`` (which names its stream)."""
        now = self._clock()
        self._drop_expired(now)
        while len(self._passes) >= self._max_codes:
            self._passes.popitem(last=False)
        code = secrets.token_urlsafe(16)
        self._passes[code] = _Pass(grant, now + self._ttl_s)
        return code

    def redeem(self, code: str | None, stream: str) -> Grant | None:
        """The grant of ``code`` for ``stream``, once; None if unknown, used, expired or elsewhere.

        A code presented for another stream is spent all the same: a guess
        costs the guesser, never the owner more than a retry.
        """
        if not code:
            return None
        found = self._passes.pop(code, None)
        if found is None or found.expires_at <= self._clock() or found.grant.stream != stream:
            return None
        return found.grant

    def __len__(self) -> int:
        return len(self._passes)

    def _drop_expired(self, now: float) -> None:
        while self._passes:
            code, first = next(iter(self._passes.items()))
            if first.expires_at > now:
                return
            del self._passes[code]
