"""The hub's log lines about floods: the first of each kind at once, then a count per interval.

A flood makes the same thing happen thousands of times a second: sockets
refused at a cap, ``accept()`` failing for want of descriptors, silent
connections closed to make room, quiet ones closed by the idle rule. A
line each would flood the journal too (journald drops everyone's lines past
its rate), so each kind goes through a ``Throttle`` (``actors.limits``) and
the hub's sweep (``actors.idle_sweep``) logs what was counted since.
Apart from the hub so that what it admits and what it says about it can be
read separately.
"""

from __future__ import annotations

import errno
import logging

from actors.admission import Admission
from actors.limits import Throttle
from actors.liveness import Verdict

# The hub's log: these are its lines, and operators filter on it.
log = logging.getLogger("actors.hub")

LOG_INTERVAL_S = 10.0  # one line per kind of flood per interval, with a count
CLOSING = (Verdict.IDLE, Verdict.SLOW_MESSAGE)  # the idle rule's verdicts that close


class FloodLog:
    """Counts each kind of flood the hub meets and says so at most once per interval."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission  # its open count goes with each refusal line
        self._accept_failed = Throttle(LOG_INTERVAL_S)
        self._refused = {kind: Throttle(LOG_INTERVAL_S) for kind in ("total", "address")}
        self._refused_address: str | None = None  # the latest refused per address
        self._made_room = Throttle(LOG_INTERVAL_S)
        self._expired = {verdict: Throttle(LOG_INTERVAL_S) for verdict in CLOSING}

    def accept_failed(self, number: int, now: float) -> None:
        """``accept()`` failed with errno ``number`` for want of capacity."""
        # No traceback: it says nothing the error's name does not, ten times a second.
        if count := self._accept_failed.note(now):
            log.error("hub.accept_failed", extra={"error": errno.errorcode[number], "times": count})

    def refused(self, kind: str, address: str, now: float) -> None:
        """A connection from ``address`` refused at the ``kind`` cap ("total" or "address")."""
        if kind == "address":
            self._refused_address = address
        if count := self._refused[kind].note(now):
            self._log_refused(kind, count)

    def made_room(self, now: float) -> None:
        """A connection that never spoke was closed for a newcomer."""
        if count := self._made_room.note(now):
            log.warning("hub.made_room", extra={"closed": count})

    def expired(self, verdict: Verdict) -> None:
        """A connection closed by the idle rule (``verdict`` is one of ``CLOSING``)."""
        self._expired[verdict].pending += 1

    def flush(self, now: float) -> None:
        """Log what was counted and not yet said, for each kind whose interval is over."""
        for verdict, throttle in self._expired.items():
            if count := throttle.due(now):
                log.info(f"hub.{verdict.name.lower()}", extra={"connections": count})
        for kind, throttle in self._refused.items():
            if count := throttle.due(now):
                self._log_refused(kind, count)
        if count := self._made_room.due(now):
            log.warning("hub.made_room", extra={"closed": count})
        if count := self._accept_failed.due(now):
            log.error("hub.accept_failed", extra={"times": count})

    def _log_refused(self, kind: str, count: int) -> None:
        extra: dict[str, object] = {"refused": count, "connections": self._admission.open}
        if kind == "address":
            extra["address"] = self._refused_address  # who to look at: the latest one
        log.warning(f"hub.refused_{kind}", extra=extra)
