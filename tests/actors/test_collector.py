"""The garbage collector's server schedule (``actors.collector``).

What CPython does is observed through ``gc.callbacks`` (which generation ran),
not taken from the module under test.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from actors import collector
from actors.collector import NEVER, automatic_full_collections_off, collect_fully_every
from tests.actors.conftest import running_service, service_settings

CPYTHON_DEFAULT = (700, 10, 10)


@contextmanager
def full_passes() -> Iterator[list[int]]:
    """Counts the full (generation 2) collections CPython runs meanwhile."""
    seen: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


@contextmanager
def thresholds(values: tuple[int, int, int]) -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(*values)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def grow_the_heap() -> list[list[object]]:
    """Long-lived objects, enough for CPython's rule to run full passes."""
    kept: list[list[object]] = []
    for _ in range(60):
        kept.append([[] for _ in range(5_000)])
    return kept


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def old_cycle() -> weakref.ref[Node]:
    """A reference cycle that lived long enough to reach generation 2, then died."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(0)
    gc.collect(1)  # survivors of the middle generation move to the oldest
    assert any(o is a for o in gc.get_objects(generation=2))
    return weakref.ref(a)


def test_the_thresholds_change_while_held_and_come_back_after_the_last_holder() -> None:
    with thresholds(CPYTHON_DEFAULT):
        with automatic_full_collections_off():
            assert gc.get_threshold() == (700, 10, NEVER)
            with automatic_full_collections_off():  # a second service in the same process
                pass
            assert gc.get_threshold() == (700, 10, NEVER)
        assert gc.get_threshold() == CPYTHON_DEFAULT


def test_a_growing_heap_makes_cpython_run_full_passes_but_not_while_held() -> None:
    with thresholds(CPYTHON_DEFAULT):
        gc.collect()
        with full_passes() as by_cpython:  # the control: the rule turned off below
            kept = grow_the_heap()
        del kept
        gc.collect()
        with automatic_full_collections_off(), full_passes() as while_held:
            kept = grow_the_heap()
        del kept
    assert len(by_cpython) >= 1
    assert while_held == []


async def test_a_full_pass_runs_every_interval(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[int] = []
    pauses: list[float] = []

    def collect(generation: int) -> int:
        calls.append(generation)
        return 0

    async with trio.open_nursery() as nursery:
        scope = await nursery.start(
            lambda task_status: collect_fully_every(
                60.0, collect=collect, observe=pauses.append, task_status=task_status
            )
        )
        await trio.sleep(60.0 * 3.5)
        scope.cancel()
    assert calls == [2, 2, 2]
    assert len(pauses) == 3
    assert all(p >= 0 for p in pauses)


async def test_the_scheduled_pass_frees_an_old_cycle_that_young_passes_keep() -> None:
    with automatic_full_collections_off():
        dead = old_cycle()
        gc.collect(1)  # young and middle passes cannot free it
        assert dead() is not None
        async with trio.open_nursery() as nursery:
            scope = await nursery.start(collect_fully_every, 0.01)
            with trio.fail_after(5):
                while dead() is not None:
                    await trio.sleep(0.01)
            scope.cancel()


@pytest.mark.parametrize(
    ("interval_s", "while_serving"),
    [(60.0, (700, 10, NEVER)), (0.0, CPYTHON_DEFAULT)],
)
async def test_the_service_holds_the_schedule_unless_it_is_off(
    tmp_path: Path, interval_s: float, while_serving: tuple[int, int, int]
) -> None:
    with thresholds(CPYTHON_DEFAULT):
        settings = service_settings(tmp_path / "data", full_gc_interval_s=interval_s)
        async with running_service(settings):
            assert gc.get_threshold() == while_serving
        assert gc.get_threshold() == CPYTHON_DEFAULT


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(collector._malloc_trim() is None, reason="no glibc malloc_trim here")
def test_freed_holes_in_the_c_heap_go_back_to_the_system() -> None:
    # 64 KiB blocks come from the C heap (not mmap); the last one made stays, on
    # top of the others, so freeing them leaves holes free() alone does not hand back.
    blocks = [bytearray(64 * 1024) for _ in range(800)]  # 50 MiB
    pin = blocks[-1]
    with_blocks = rss_kib()
    del blocks
    assert collector.release_free_memory()
    # Measured from the peak: should free() itself have trimmed (the blocks landed
    # in older holes, under the top), the pages are back all the same.
    assert with_blocks - rss_kib() >= 25 * 1024
    del pin


async def test_each_scheduled_pass_hands_the_freed_memory_back(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    released: list[int] = []
    monkeypatch.setattr(collector, "release_free_memory", lambda: released.append(1) or True)
    async with trio.open_nursery() as nursery:
        scope = await nursery.start(collect_fully_every, 60.0)
        await trio.sleep(60.0 * 2.5)
        scope.cancel()
    assert released == [1, 1]
