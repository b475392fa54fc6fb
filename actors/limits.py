"""Small sans-io helpers for the limits on what one client can make us do.

A token bucket for a connection's requests, and a throttle that turns a
flood of the same event (refusals, expiries, accept failures) into one log
line per interval. Both take the time as an argument (trio's clock in the
actors, so tests run them on a ``MockClock``).
"""

from __future__ import annotations

import attrs


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        if rate_per_s <= 0 or burst <= 0:
            raise ValueError(f"a token bucket needs a rate and a burst, got {rate_per_s}, {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def take(self, cost: int, now: float) -> bool:
        """Spend ``cost`` tokens if there are that many now; False (nothing spent) if not."""
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def wait_s(self, cost: int, now: float) -> float:
        """How long until ``cost`` tokens are there (0 if they are now)."""
        tokens = min(self.burst, self._tokens + max(0.0, now - self._updated) * self.rate_per_s)
        return max(0.0, (cost - tokens) / self.rate_per_s)


@attrs.define
class Throttle:
    """Counts occurrences of one event and says when to log them: the first of a
    quiet spell at once, then at most once per ``interval_s`` with the count."""

    interval_s: float
    pending: int = 0
    _last_logged: float | None = None

    def note(self, now: float) -> int:
        """Count one occurrence; how many to report in a log line now (0: not yet)."""
        self.pending += 1
        return self.due(now)

    def due(self, now: float) -> int:
        """How many occurrences to report now (0: none, or too soon); resets the count."""
        if not self.pending:
            return 0
        if self._last_logged is not None and now - self._last_logged < self.interval_s:
            return 0
        count, self.pending, self._last_logged = self.pending, 0, now
        return count
