"""The commit buffer's bounds and the store writer's failures, without sockets.

Time is trio's ``MockClock`` (``autojump_clock``); a slow disk is a gate the
test opens, a failing one raises ``StoreError`` (``tests.actors.writing``).
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from actors.commit_buffer import WAKE_CHUNK
from actors.writer import StoreWriter, WriterLimits
from store import EventRow, ProgressRow, SqliteStore
from tests.actors.writing import Disk, row_of


def make_writer(store: SqliteStore, disk: Disk, **limits: int) -> StoreWriter:
    store.write_batch = disk.write_batch  # type: ignore[method-assign]
    return StoreWriter(
        store,
        flush_interval_s=0.05,
        snapshot_interval_s=1.0,
        max_buffered_events=limits.get("max_buffered_events", 1000),
        limits=WriterLimits(**{"max_buffered_events": 1000, **limits}),
        flush_timeout_s=2.0,
        run_sync=disk.run_sync,
    )


class Session:
    """A session whose snapshot row cannot be encoded when ``bad``."""

    def __init__(self, user: str, *, bad: bool = False) -> None:
        self.user = user
        self.last_seq = 0
        self.saved_seq = 0
        self.bad = bad

    def progress_rows(self) -> list[ProgressRow]:
        record = {"matrix": object()} if self.bad else {"matrix": [[0]]}
        return [ProgressRow(self.user, "spinner", "cie3", self.last_seq, record)]

    def saved(self, seq: int) -> None:
        self.saved_seq = seq


async def test_a_row_the_store_cannot_take_is_dropped_alone_and_the_writer_goes_on(
    tmp_path, caplog, autojump_clock
) -> None:
    """Issue 12.1 (the class): any non-store exception in a batch costs that row only,
    is logged with its traceback, and the writer keeps running. (Before: the writer
    task died with the TypeError and took the service and the window with it.)"""
    caplog.set_level(logging.ERROR, logger="actors.writer")
    with SqliteStore(tmp_path) as store:
        disk = Disk(store)
        writer = make_writer(store, disk)
        sessions = [Session("ann"), Session("bad", bad=True), Session("cid")]
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for number in range(1, 41):
                writer.append(row_of(f"user{number % 5}", number))
            # A payload orjson cannot write, appended as a row (as a bug would).
            writer.append(lambda seq: EventRow(seq, "eve", "analytics", "s", "c", None, 1, 0, {1j}))
            for number in range(41, 81):
                writer.append(row_of(f"user{number % 5}", number))
            for session in sessions:
                session.last_seq = writer.appended_seq
                writer.mark_dirty(session)
            await trio.sleep(1.5)  # a flush with snapshots
            assert writer.committed_seq == 81
            writer.append(row_of("later", 99))  # still writing after the bad rows
            await trio.sleep(0.2)
            assert writer.committed_seq == 82
            writer.stop()
        assert store.count_events() == 81
        assert [row.user for row in store.events_of("eve")] == []
        assert store.load_snapshots("ann")[0]
        assert store.load_snapshots("cid")[0]
        assert not store.load_snapshots("bad")[0]
    assert sessions[0].saved_seq == 81
    assert sessions[2].saved_seq == 81
    assert writer.dropped == 2
    dropped = [
        r for r in caplog.records if r.msg in ("store.event_dropped", "store.snapshot_dropped")
    ]
    assert {r.msg for r in dropped} == {"store.event_dropped", "store.snapshot_dropped"}
    assert all(r.exc_info is not None for r in dropped)  # with the traceback


async def test_the_batch_being_written_still_counts_as_buffered(tmp_path, autojump_clock) -> None:
    """Issue 12.12 and 16's "effective cap during retry": the gauge and the room both
    count the batch in the thread (before: ~0 during a write, and the cap plus one
    batch could be buffered)."""
    with SqliteStore(tmp_path) as store:
        disk = Disk(store)
        disk.gate = trio.Event()
        writer = make_writer(store, disk, max_buffered_events=100, window_events=1000)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for number in range(60):
                writer.append(row_of("ann", number))
            await trio.sleep(0.1)  # the writer took the 60 and waits on the disk
            assert writer.buffered == 60
            for number in range(40):
                writer.append(row_of("ann", number))
            assert writer.buffered == 100
            assert not writer.has_room
            disk.gate.set()
            await trio.sleep(0.2)
            assert writer.buffered == 0
            assert writer.has_room
            writer.stop()


async def test_the_buffer_is_bounded_in_bytes_and_a_backlog_is_written_in_bounded_transactions(
    tmp_path, autojump_clock
) -> None:
    """Issue 12.6: 60 KiB events fill a 1 MiB buffer after ~17 (the event cap alone
    would take 200,000), and a backlog is written ``transaction_events`` or
    ``transaction_bytes`` at a time, never all at once."""
    with SqliteStore(tmp_path) as store:
        disk = Disk(store)
        disk.full = True
        limits = {
            "max_buffered_events": 200_000,
            "max_buffered_bytes": 1024 * 1024,
            "transaction_events": 5,
            "transaction_bytes": 256 * 1024,
        }
        writer = make_writer(store, disk, **limits)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            appended = 0
            while writer.has_room:
                writer.append(row_of("ann", appended, size=60 * 1024))
                appended += 1
            assert 16 <= appended <= 18
            assert writer.buffered_bytes >= 1024 * 1024
            for number in range(30):  # small ones: the event count decides the transaction
                writer.append(row_of("ben", number))
            disk.full = False
            with trio.fail_after(30):
                while writer.buffered:
                    await trio.sleep(0.05)
            writer.stop()
        assert store.count_events() == appended + 30
    # 4 x 60 KiB fit 256 KiB, 5 do not: the big ones go four at a time.
    assert [events for events, _ in disk.batches[:4]] == [4, 4, 4, 4]
    assert all(events <= 5 for events, _ in disk.batches)
    assert len(disk.batches) >= (appended + 30) // 5


async def test_what_is_handled_but_not_committed_stays_within_two_windows(
    tmp_path, autojump_clock
) -> None:
    """Issue 12.7: producers flat out against a slow (working) disk. Events appended
    since the last write started are capped at ``window_events``, so appended minus
    committed (what kill -9 loses) never exceeds two windows; before, only the
    200,000-event cap bounded it."""
    with SqliteStore(tmp_path) as store:
        disk = Disk(store)
        writer = make_writer(store, disk, max_buffered_events=200_000, window_events=50)
        worst = 0
        slow = trio.Event()

        async def producer(name: str) -> None:
            nonlocal worst
            for number in range(400):
                await writer.wait_for_room()
                writer.append(row_of(name, number))
                worst = max(worst, writer.appended_seq - writer.committed_seq)
                await trio.lowlevel.checkpoint()

        async def slow_disk() -> None:
            # Every write takes 30 ms of (mock) time: slower than the producers.
            while not slow.is_set():
                gate = disk.gate = trio.Event()
                await trio.sleep(0.03)
                gate.set()
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            nursery.start_soon(slow_disk)
            async with trio.open_nursery() as producers:
                for name in ("ann", "ben", "cid", "dee"):
                    producers.start_soon(producer, name)
            slow.set()
            disk.gate = None
            writer.stop()
        assert store.count_events() == 1600
    assert worst <= 2 * 50 + 4  # two windows (+ one event per producer in flight)


async def test_producers_waiting_for_room_are_all_woken(tmp_path, autojump_clock) -> None:
    """Issue 16.2: appending past the cap used to replace the room event, so the tasks
    waiting on the old one were never woken (6 of 8 connections stalled for good)."""
    with SqliteStore(tmp_path) as store:
        disk = Disk(store)
        disk.full = True
        writer = make_writer(store, disk, max_buffered_events=10, window_events=1000)
        finished = []

        async def producer(name: str) -> None:
            for number in range(30):
                await writer.wait_for_room()
                writer.append(row_of(name, number))
            finished.append(name)

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as producers:
                for number in range(8):
                    producers.start_soon(producer, f"p{number}")
                await trio.sleep(1.0)
                assert writer.buffered == 10
                assert finished == []
                disk.full = False
            writer.stop()
        assert sorted(finished) == [f"p{number}" for number in range(8)]
        assert store.count_events() == 240


async def test_the_final_flush_runs_when_the_writer_is_cancelled(tmp_path, autojump_clock) -> None:
    """16 "also": ``final_flush`` was skipped when the root nursery was cancelled."""
    with SqliteStore(tmp_path) as store:
        writer = StoreWriter(
            store, flush_interval_s=10.0, snapshot_interval_s=10.0, max_buffered_events=100
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for number in range(25):
                writer.append(row_of("ann", number))
            nursery.cancel_scope.cancel()
        assert store.count_events() == 25
        assert writer.lost == 0


async def test_a_final_flush_that_cannot_write_says_how_many_were_lost(
    tmp_path, caplog, autojump_clock
) -> None:
    """Issue 16.5, the writer's part: ``lost`` counts what the stop could not store."""
    caplog.set_level(logging.ERROR, logger="actors.writer")
    with SqliteStore(tmp_path) as store:
        disk = Disk(store)
        writer = make_writer(store, disk)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            disk.full = True
            for number in range(100):
                writer.append(row_of("ann", number))
            writer.stop()
        assert store.count_events() == 0
    assert writer.lost == 100
    [failed] = [r for r in caplog.records if r.msg == "store.final_flush_failed"]
    assert failed.events_lost == 100


@pytest.mark.parametrize("failures", [2000])
def test_the_retry_delay_never_overflows(failures: int) -> None:
    """A disk failing for hours: 2 ** failures once overflowed the float (the writer died)."""
    from actors.write_failures import retry_delay as _retry_delay  # noqa: PLC0415

    assert _retry_delay(0.05, failures) == 5.0


async def test_commit_waiters_are_woken_in_turns_so_others_run_between(
    tmp_path, autojump_clock
) -> None:
    """Hundreds of HTTP statements wait for one commit; woken at once, they would all
    run before a WebSocket dashboard's next step. A task stepping through the
    scheduler sees at most two chunks of them between two of its steps (all at once:
    at least half of them)."""
    waiters = 100
    with SqliteStore(tmp_path) as store:
        writer = make_writer(store, Disk(store))
        woken: list[int] = []
        seen_between_steps: list[int] = []

        async def statement(number: int) -> None:
            seq = writer.append(row_of(f"u{number}"))
            await writer.wait_committed(seq)
            woken.append(number)

        committed = trio.Event()
        writer.on_commit = lambda *_: committed.set()

        async def dashboard() -> None:
            await committed.wait()  # (stepping before it would keep the mock clock still)
            last = 0
            while last < waiters:
                await trio.lowlevel.checkpoint()
                seen_between_steps.append(len(woken) - last)
                last = len(woken)

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as clients:
                for number in range(waiters):
                    clients.start_soon(statement, number)
                await trio.sleep(0.01)  # all parked, waiting for the commit
                clients.start_soon(dashboard)
            writer.stop()
    assert sorted(woken) == list(range(waiters))
    # A step's batch may hold one chunk and the next one's start: two at most.
    assert max(seen_between_steps) <= 2 * WAKE_CHUNK < waiters / 2
