"""The audit log: every forget, export, log download and refused credential, as its own stream.

One line per act: what (``audit.<action>``), who (a role and a subject, or
``unauthenticated`` with the peer address), on whom or what (a user id, a
stream, a file), and the outcome. Never a payload, a token or a secret. The
logger is ``learning_analytics.audit``, so an operator can send it elsewhere
(``--audit-log FILE``). Refused credentials go through a ``RefusalAudit``,
which bounds the lines a flood of them writes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final

import attrs

AUDIT_LOGGER: Final = "learning_analytics.audit"
_log = logging.getLogger(AUDIT_LOGGER)


def audit(action: str, *, who: str, outcome: str, **what: Any) -> None:
    """Record one act; ``what`` holds ids and counts, never a payload or a secret."""
    _log.info("audit.%s", action, extra={"who": who, "outcome": outcome, **what})


@attrs.define
class _Window:
    start: float
    lines: int = 0
    suppressed: int = 0


@attrs.define
class RefusalAudit:
    """``audit.credential_refused``, bounded: a flood of refusals cannot fill the disk.

    Every refusal is accounted for, but not every one is a line: per peer, the
    first ``per_peer`` refusals of each ``window_s`` are written, and at most
    ``in_total`` over all peers; the rest are counted, and written as one
    ``audit.credential_refused_summary`` per peer (``suppressed``, the window's
    start) once its window is over, noticed at the next refusal from anyone
    or at ``flush`` (the service's stop). At most ``max_peers`` windows are
    held; the oldest is summarized early to make room. Pure: the clock is given.
    """

    clock: Callable[[], float] = time.monotonic
    window_s: float = 60.0
    per_peer: int = 20
    in_total: int = 600
    max_peers: int = 10_000
    _peers: dict[str, _Window] = attrs.field(factory=dict)  # oldest window first
    _total: _Window = attrs.field(factory=lambda: _Window(-math.inf))

    def refused(self, *, peer: str, who: str, **what: Any) -> None:
        """Record one refused credential (``what``: route, status, reason; never the credential)."""
        now = self.clock()
        self._close_windows(now)
        window = self._peers.get(peer)
        if window is None:
            if len(self._peers) >= self.max_peers:
                self._summarize(*next(iter(self._peers.items())))
            window = self._peers[peer] = _Window(now)
        if now - self._total.start >= self.window_s:
            self._total = _Window(now)
        if window.lines < self.per_peer and self._total.lines < self.in_total:
            window.lines += 1
            self._total.lines += 1
            audit("credential_refused", who=who, outcome="refused", peer=peer, **what)
        else:
            window.suppressed += 1

    def flush(self) -> None:
        """Write every pending summary (at stop)."""
        while self._peers:
            self._summarize(*next(iter(self._peers.items())))

    def _close_windows(self, now: float) -> None:
        while self._peers:
            peer, window = next(iter(self._peers.items()))
            if now - window.start < self.window_s:
                return
            self._summarize(peer, window)

    def _summarize(self, peer: str, window: _Window) -> None:
        del self._peers[peer]
        if window.suppressed:
            audit(
                "credential_refused_summary",
                who="unauthenticated",
                outcome="refused",
                peer=peer,
                suppressed=window.suppressed,
                window_s=self.window_s,
            )
