"""What the store writer reports of a store that refuses, and how long it waits to retry.

A write the disk refuses (read-only directory, full disk) is logged loudly,
once per distinct error, not once per retry, and kept as ``last_error``
(the service's readiness and health read it); the first write that works
again logs the recovery. A row the store refuses for itself (``actors.batches``)
is logged with its traceback and counted. Retries back off, doubling from
the flush interval up to ``MAX_RETRY_DELAY_S``. Apart from the writer's loop
so that all an operator sees of a failing store is said in one place.
"""

from __future__ import annotations

import logging

from store import EventRow, ProgressRow, StoreError

# The writer's log: these are its lines, and operators filter on it.
log = logging.getLogger("actors.writer")

MAX_RETRY_DELAY_S = 5.0


class WriteFailures:
    """The store's refusals as the writer met them: the current error, rows dropped."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.dropped = 0  # rows refused by the store for themselves (logged)

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def failed(self, error: StoreError, events: int) -> None:
        """A write of ``events`` events was refused (kept for a retry)."""
        if self.last_error != str(error):
            # The message says it all; a traceback per retry would flood the log.
            log.error("store.write_failed", extra={"error": str(error), "events": events})
        self.last_error = str(error)

    def recovered(self, events: int) -> bool:
        """A write of ``events`` events worked; whether it ended a failing spell."""
        if self.last_error is None:
            return False
        log.warning("store.write_recovered", extra={"events": events})
        self.last_error = None
        return True

    def drop(self, events: list[EventRow], rows: list[ProgressRow]) -> None:
        """A row the store refused for itself: logged with the traceback being handled."""
        self.dropped += 1
        for event in events:
            log.exception(
                "store.event_dropped",
                extra={"user": event.user, "seq": event.seq, "type": event.type},
            )
        for row in rows:
            log.exception(
                "store.snapshot_dropped",
                extra={"user": row.user, "exp": row.exp, "course": row.course},
            )


def retry_delay(interval_s: float, failures: int) -> float:
    """How long to wait after ``failures`` refused writes in a row."""
    return min(interval_s * 2 ** min(failures, 16), MAX_RETRY_DELAY_S)
