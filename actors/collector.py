"""Full garbage collections on a schedule instead of CPython's growth rule.

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
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


async def collect_fully_every(
    interval_s: float,
    *,
    collect: Callable[[int], int] = gc.collect,
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
