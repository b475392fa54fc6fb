"""The retention task in the store writer (issue 15, phase 2): old events go, a batch at a time.

Trio's mock clock; the writer's thread hop runs inline and is recorded, so
the test sees every batch and every write in the order they happened. The
wall clock of ``received_ms`` is a fixed number given to the task. Which
events must go is the rule written out here (users without snapshots: an
event goes when it arrived more than N days ago).
"""

from __future__ import annotations

import itertools
import logging
from functools import partial
from typing import Any

import trio
import trio.testing

from actors.retention import DAY_MS, Retention
from actors.writer import StoreWriter, WriterLimits
from store import EventRow, SqliteStore
from store.erase import erase_events_before
from tests.access.jwts import access_settings
from tests.actors.conftest import running_service, wait_until

NOW_MS = 1_800_000_000_000
OLD, RECENT = 2500, 700  # events that arrived 10 days ago, and 1 day ago


def fill(store: SqliteStore) -> None:
    rows = [
        EventRow(seq, f"u{seq % 7}", "log", "spinner", "cie3", None, seq, received, {"log": "x"})
        for seq, received in enumerate(
            [NOW_MS - 10 * DAY_MS] * OLD + [NOW_MS - DAY_MS] * RECENT, start=1
        )
    ]
    store.write_batch(rows, [])


def live(seq: int, *, t: int) -> EventRow:
    """An event arriving now, as a session appends it."""
    return EventRow(seq, "live", "log", "spinner", "cie3", None, t, NOW_MS, {"log": "x"})


async def test_a_pass_erases_what_is_older_in_batches_between_the_writes(
    tmp_path, autojump_clock, caplog
) -> None:
    caplog.set_level(logging.INFO)
    calls: list[str] = []

    async def recorded(function: Any, *args: Any, limiter: Any = None) -> Any:
        work = args[0] if args else None
        if isinstance(work, partial) and work.func is erase_events_before:
            assert work.keywords["batch_rows"] == 1000
            calls.append("batch")
        elif function.__name__ == "write_batch":
            calls.append("write")
        await trio.lowlevel.checkpoint()
        return function(*args)

    retention = Retention(7, period_s=3600.0, pause_s=0.05, clock_ms=lambda: NOW_MS)
    with SqliteStore(tmp_path) as store:
        fill(store)
        writer = StoreWriter(
            store,
            flush_interval_s=0.01,
            snapshot_interval_s=1.0,
            max_buffered_events=1000,
            limits=WriterLimits(1000),
            run_sync=recorded,
            retention=retention,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for t in range(30):  # a lab keeps sending while the pass runs
                writer.append(partial(live, t=t))
                await trio.sleep(0.01)
            await trio.sleep(1.0)
            passes = [r for r in caplog.records if r.getMessage() == "retention.pass"]
            assert len(passes) == 1
            writer.stop()
        assert store.count_events() == RECENT + 30
        assert {row.t for row in store.events_of("live")} == set(range(30))
    # At least ceil(3,200 / 1,000) batches (more: the pass follows the events still
    # arriving), then one finding nothing past the last: each its own call.
    [line] = passes
    assert line.erased == OLD
    assert line.batches >= 4
    assert calls.count("batch") == line.batches + 1
    first, last = calls.index("batch"), len(calls) - 1 - calls[::-1].index("batch")
    between = calls[first:last]
    # The writer's writes come between two batches: never two batches in a row.
    assert "write" in between
    assert all(pair != ("batch", "batch") for pair in itertools.pairwise(between))


async def test_the_next_pass_comes_a_period_later(tmp_path, autojump_clock, caplog) -> None:
    caplog.set_level(logging.INFO)
    now = [NOW_MS]

    async def inline(function: Any, *args: Any, limiter: Any = None) -> Any:
        await trio.lowlevel.checkpoint()
        return function(*args)

    retention = Retention(7, period_s=600.0, clock_ms=lambda: now[0])
    with SqliteStore(tmp_path) as store:
        fill(store)
        writer = StoreWriter(
            store,
            flush_interval_s=5.0,  # few wake-ups in the mock hours
            snapshot_interval_s=1.0,
            max_buffered_events=1000,
            run_sync=inline,
            retention=retention,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await trio.sleep(60)
            assert store.count_events() == RECENT
            now[0] += 7 * DAY_MS  # a week on: the recent ones are old now
            await trio.sleep(600)
            assert store.count_events() == 0
            writer.stop()
    passes = [r for r in caplog.records if r.getMessage() == "retention.pass"]
    assert [line.erased for line in passes] == [OLD, RECENT]


async def test_the_service_runs_it_with_retention_days(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO)
    settings = access_settings(tmp_path, retention_days=30)
    async with running_service(settings) as service:
        assert service.writer.retention is not None
        assert service.writer.retention.days == 30
        await wait_until(lambda: any(r.getMessage() == "retention.pass" for r in caplog.records))
    assert not [r for r in caplog.records if r.getMessage() == "retention.not_running"]
