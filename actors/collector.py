"""Full garbage collections on a schedule instead of CPython's growth rule; then
the freed memory goes back to the system.

CPython runs a full (generation 2) collection whenever the long-lived
objects have grown by a quarter since the last one. Such a pass visits every
tracked object and stops the whole loop meanwhile: a resident session is
about eight tracked objects, and with 29,000 of them one pass took 110-160
ms on our 2-core VM. A cohort arriving, or a client sending a flood of new
user ids, grows the heap by a quarter again and again: the hostile benchmark
saw eleven such pauses in ten seconds, which made every other client's p99
100-160 ms (docs/BENCHMARKS.md).

Under 1,000 v2 statements a second the same rule ran a full pass every
1.5 s, 11-19 ms each.

So the full pass, which is what finds reference cycles among long-lived
objects, moves onto a fixed period: cyclic garbage that had grown old waits
at most one period (under 1,000 v2 statements a second, ~30,000 objects a
minute). Sessions are acyclic and are freed by reference counting the
moment they leave. The young and middle generations are collected as
CPython decides: they find nearly all the garbage, in passes of a few ms.

After each full pass, glibc's ``malloc_trim`` hands back the free pages
inside the C heap. A v2 user's statements live in arrays that grow one
entry at a time; their reallocations leave holes, and under 1,000
statements a second the process's RSS grew ~6 times faster than the live
Python heap (81 -> 114 MB in 150 s; 80 -> 107 MB with this every 60 s,
81 -> 98 MB every 30 s: docs/BENCHMARKS.md). The trim took 1.3-6.5 ms there,
the full pass itself 35-82 ms (it also frees the cycles of a period).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import attrs
import trio

log = logging.getLogger(__name__)

# A pass this long is worth a log line (the operator sees the price of the heap).
LOG_PAUSE_S = 0.05
# Generation 2's threshold when only the schedule runs full passes: never reached.
NEVER = 2**31 - 1


@attrs.define
class _Holders:
    """The services of this process that hold the schedule (tests run several at once)."""

    count: int = 0
    saved: tuple[int, int, int] | None = None


_HOLDERS = _Holders()


@contextmanager
def automatic_full_collections_off() -> Iterator[None]:
    """While held, CPython starts no full collection; the thresholds come back after.

    Held by every service that runs in the process; the first one in saves
    the thresholds and the last one out puts them back.
    """
    holders = _HOLDERS
    if holders.count == 0:
        holders.saved = gc.get_threshold()
        young, middle, _ = holders.saved
        gc.set_threshold(young, middle, NEVER)
    holders.count += 1
    try:
        yield
    finally:
        holders.count -= 1
        if holders.count == 0 and holders.saved is not None:
            gc.set_threshold(*holders.saved)
            holders.saved = None


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    return getattr(ctypes.CDLL(name), "malloc_trim", None)


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system; False where that cannot be done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def collect_and_release(generation: int) -> int:
    """A collection of ``generation``, then the freed memory back: what the schedule runs."""
    found = gc.collect(generation)
    release_free_memory()
    return found


async def collect_fully_every(
    interval_s: float,
    *,
    collect: Callable[[int], int] = collect_and_release,
    observe: Callable[[float], None] | None = None,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One full collection every ``interval_s`` until the scope it starts with is cancelled.

    In the loop, not a thread: a collection holds the GIL anyway. ``observe``
    gets each pass's duration in seconds (the metrics' histogram).
    """
    with trio.CancelScope() as scope, automatic_full_collections_off():
        task_status.started(scope)
        while True:
            await trio.sleep(interval_s)
            started = time.perf_counter()
            found = collect(2)
            pause_s = time.perf_counter() - started
            if observe is not None:
                observe(pause_s)
            if pause_s >= LOG_PAUSE_S:
                log.info(
                    "gc.full_collection",
                    extra={"pause_ms": round(pause_s * 1000, 1), "collected": found},
                )
