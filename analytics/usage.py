"""Usage of one session key (PROTOCOL-V2.md ``usageStats``): statements per verb, sessions.

A session starts at a ``session-started`` statement, or at the first statement after
more than ``SESSION_GAP_MS`` of silence, in timestamp order (the first statement
always starts one). Statements arrive out of order like actions do, so their
timestamps are kept sorted and a late one is inserted in its place; whether an entry
starts a session depends on it and the entry before only, so an insertion re-decides
two entries and the list of session starts is kept up to date, never recomputed.

At most ``RETAINED_STATEMENTS`` timestamps are kept; the session starts among the
dropped ones are frozen (nothing can be inserted before the kept ones any more), and a
statement older than every kept one counts in ``numLogs`` and its verb, not in sessions.
"""

from __future__ import annotations

import datetime as dt
import sys
from array import array
from bisect import bisect_right, insort
from collections.abc import Mapping, Sequence
from typing import Any, Final

from analytics.timeline import ascending_to_deltas, deltas_to_ascending

SESSION_GAP_MS: Final = 30 * 60 * 1000
SESSION_STARTED: Final = "session-started"
RETAINED_STATEMENTS: Final = 20_000
TRIM_CHUNK: Final = 4_096
# interactionCounts names at most this many verbs (real UIs use ten); statements of
# further verbs count in numLogs only, so a client inventing verbs costs no memory.
MAX_VERBS: Final = 64
# usageStats lists the latest sessions only; nobody has more in a course.
MAX_SESSIONS: Final = 1_000
RECORD_FORMAT: Final = 1


class UsageTally:
    """Statements of one session key: count per verb, total, and session starts (ms)."""

    __slots__ = (
        "_before_first",
        "_early_starts",
        "_started",
        "_starts",
        "_times",
        "num_logs",
        "verbs",
    )

    def __init__(self) -> None:
        self.verbs: dict[str, int] = {}
        self.num_logs = 0
        self._times = array("q")
        self._started = bytearray()  # 1 where the statement is a session-started
        self._starts: list[int] = []  # session starts among the kept statements, sorted
        # Among the dropped ones, frozen; a tuple: the empty one is shared (most never trim).
        self._early_starts: tuple[int, ...] = ()
        self._before_first: int | None = None  # timestamp of the last dropped statement

    def __len__(self) -> int:
        """Statements kept (for their sessions): what this tally's memory grows with."""
        return len(self._times)

    def add(self, verb: str, timestamp: int) -> bool:
        """Count one statement; False if it was too late to place among the sessions."""
        self.num_logs += 1
        if verb in self.verbs:
            self.verbs[verb] += 1
        elif len(self.verbs) < MAX_VERBS:
            # Shared by every user: the decoded string would cost each ~60 bytes a verb.
            self.verbs[sys.intern(verb)] = 1
        at = bisect_right(self._times, timestamp)
        if at == 0 and self._before_first is not None:
            return False
        followed = at < len(self._times)
        if followed and self._starts_session(at):
            self._starts.remove(self._times[at])
        self._times.insert(at, timestamp)
        self._started.insert(at, verb == SESSION_STARTED)
        for k in (at, at + 1) if followed else (at,):
            if self._starts_session(k):
                insort(self._starts, self._times[k])
        if len(self._times) > RETAINED_STATEMENTS + TRIM_CHUNK:
            self._trim()
        return True

    @property
    def session_starts(self) -> list[int]:
        """When each session started (ms), oldest first; the latest ``MAX_SESSIONS``."""
        return [*self._early_starts, *self._starts][-MAX_SESSIONS:]

    def _starts_session(self, k: int) -> bool:
        if self._started[k]:
            return True
        previous = self._times[k - 1] if k > 0 else self._before_first
        return previous is None or self._times[k] - previous > SESSION_GAP_MS

    def _trim(self) -> None:
        cut = len(self._times) - RETAINED_STATEMENTS
        dropped = self._times[cut - 1]
        frozen = []
        while self._starts and self._starts[0] <= dropped:
            # Equal timestamps may straddle the cut; a frozen start is still a start.
            frozen.append(self._starts.pop(0))
        self._early_starts = (*self._early_starts, *frozen)[-MAX_SESSIONS:]
        del self._times[:cut], self._started[:cut]
        self._before_first = dropped

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record from which ``from_record`` rebuilds this exact tally."""
        return {
            "format": RECORD_FORMAT,
            "verbs": dict(self.verbs),
            "num_logs": self.num_logs,
            "times": ascending_to_deltas(self._times),
            "started": [k for k, flag in enumerate(self._started) if flag],
            "starts": list(self._starts),
            "early_starts": list(self._early_starts),
            "before_first": self._before_first,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> UsageTally:
        """Rebuild from ``to_record()`` output; raises ``ValueError`` on a bad record."""
        tally = cls()
        try:
            if record["format"] != RECORD_FORMAT:
                raise ValueError(f"record format {record['format']!r}, expected {RECORD_FORMAT}")
            tally.verbs = {str(verb): int(n) for verb, n in record["verbs"].items()}
            tally.num_logs = int(record["num_logs"])
            tally._times = deltas_to_ascending(record["times"])
            tally._started = bytearray(len(tally._times))
            for k in record["started"]:
                tally._started[k] = 1
            tally._starts = [int(t) for t in record["starts"]]
            tally._early_starts = tuple(int(t) for t in record["early_starts"])
            before = record["before_first"]
            tally._before_first = None if before is None else int(before)
        except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as exc:
            raise ValueError(f"bad usage record: {exc!r}") from exc
        return tally


def session_dates_and_times(
    starts: Sequence[int], tz: dt.tzinfo = dt.UTC
) -> tuple[list[str], list[str]]:
    """``session_dates`` (distinct ``YYYY-MM-DD``, ascending) and ``session_times``
    (``HH:MM:SS`` of every start, in order) in time zone ``tz``.

    A start past what ``datetime`` holds (year 9999) is left out rather than crash a
    reply: timestamps are accepted up to 2**53 ms, as v1's ``t``.
    """
    dates: dict[str, None] = {}
    times = []
    for start in starts:
        try:
            moment = dt.datetime.fromtimestamp(start // 1000, tz)
        except (OverflowError, ValueError, OSError):
            continue
        dates.setdefault(moment.strftime("%Y-%m-%d"))
        times.append(moment.strftime("%H:%M:%S"))
    return sorted(dates), times
