"""Retention: raw events older than N days erased in the background, a batch at a time.

``--retention-days N`` gives the store writer a ``Retention``, which it runs
in its own nursery until it stops. Every ``period_s`` (and once at start) a
pass walks the events in batches of ``batch_rows`` sequence numbers
(``store.erase.erase_events_before``: each batch its own short transaction,
keeping what a snapshot does not cover yet, so no reply changes). Each
batch is one ``on_store`` call: the writer's thread, between two of its
writes, so the writer waits for one batch at most (29 ms on average for
1,000 rows of a 1M-event store, docs/BENCHMARKS.md); between two batches
the pass sleeps ``pause_s``, so a long pass takes at most about half of the
disk's time. A pass that fails is logged and tried again next period.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final

import attrs
import trio

from store import now_ms
from store.erase import RETENTION_BATCH_ROWS, RetentionReport, erase_events_before

log = logging.getLogger(__name__)

DAY_MS: Final = 24 * 3600 * 1000
# Events expire by the day: a pass four times a day keeps them at most six
# hours past their time, and reads the whole table only that often.
PERIOD_S: Final = 6 * 3600.0
PAUSE_S: Final = 0.05  # a commit interval: the writer's turn between two batches

OnStore = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]


@attrs.frozen
class Retention:
    """Erase events that arrived (``received_ms``, our clock) more than ``days`` ago."""

    days: int
    period_s: float = PERIOD_S
    pause_s: float = PAUSE_S
    batch_rows: int = RETENTION_BATCH_ROWS
    clock_ms: Callable[[], int] = now_ms  # wall clock, as ``received_ms`` is

    async def run(self, on_store: OnStore) -> None:
        """A pass now and every ``period_s``, until cancelled (a batch in its thread ends first)."""
        log.info("retention.on", extra={"retention_days": self.days, "period_s": self.period_s})
        while True:
            try:
                await self.one_pass(on_store)
            except Exception:  # the disk, a locked store: serving goes on, the next pass retries
                log.exception("retention.failed", extra={"retry_in_s": self.period_s})
            await trio.sleep(self.period_s)

    async def one_pass(self, on_store: OnStore) -> RetentionReport:
        """Every batch once, each its own ``on_store`` call; logs and returns what was erased."""
        before_ms = self.clock_ms() - self.days * DAY_MS
        started = trio.current_time()
        report = RetentionReport()
        after: int | None = 0
        while after is not None:
            erased, upper = await on_store(
                partial(
                    erase_events_before,
                    before_ms=before_ms,
                    after_seq=after,
                    batch_rows=self.batch_rows,
                )
            )
            if upper is not None:
                report = RetentionReport(report.erased + erased, report.batches + 1, upper)
                await trio.sleep(self.pause_s)
            after = upper
        log.info(
            "retention.pass",
            extra={
                **report.to_json(),
                "before_ms": before_ms,
                "seconds": round(trio.current_time() - started, 3),
            },
        )
        return report
