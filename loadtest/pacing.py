"""The shared send schedule that makes many students add up to one target rate.

Slot ``k`` is due at ``start + k / rate``; each student claims the next free
slot, sleeps until it is due and sends. Because the slots are fixed in time
(not "wait 1/rate after the last send"), a slow send does not lower the
target: the students catch up. Catching up is bounded, though: slots more
than ``max_backlog_s`` overdue are skipped and counted as slips, so a stall
is reported as a shortfall rather than hidden by a burst at full speed.
"""

from __future__ import annotations

import math

import attrs


@attrs.define
class Pacer:
    """A send schedule shared by all the students of a run."""

    rate: float
    start: float
    max_backlog_s: float = 1.0
    slips: int = 0
    _next_slot: int = 0

    def claim(self, now: float) -> float:
        """Take the next slot; returns when (trio time) to send in it."""
        oldest_allowed = now - self.max_backlog_s
        due = self.start + self._next_slot / self.rate
        if due < oldest_allowed:
            skipped = math.ceil((oldest_allowed - due) * self.rate)
            self.slips += skipped
            self._next_slot += skipped
            due = self.start + self._next_slot / self.rate
        self._next_slot += 1
        return due
