"""Bytes per active user: a whole cohort in memory at once (issue 13.3).

Each figure comes from a fresh interpreter (this script run again as a
child), which builds the service's own state path without sockets: a
``Router`` with its ``StoreWriter`` on a SQLite store in a temporary
directory, analytics workers with the ``Replier``, and one outbox per 100
users. Every user sends 3 ``analytics`` events, then asks for
``indicators`` (a dashboard); the child waits until the writer has
committed the events and the snapshots, collects garbage, and measures at
``--base`` users and again at ``--users``. Bytes per active user are the
difference divided by the users added, so whatever the course or the
process shares is left out:

- ``tracemalloc``: the Python heap (and the top allocation sites with ``--top``);
- ``rss``: the process's resident set (``VmRSS``), which also pays for the
  allocator's free lists and fragmentation, in a process without tracemalloc.

Two cohorts: ``new`` users (never seen: created by their first event) and
``known`` ones (a snapshot and 20 events each in the store, loaded from
disk by their first event, as in ``bench_relay_fleet.py``). Users take the
bundled courses in turn (6- and 9-node graphs).

    uv run python benchmarks/bench_memory.py [--users 10000] [--base 1000] [--top 12]

Target (DESIGN.md): an active user costs at most 2 KB beyond what its course shares.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import trio

from actors.lines import Delivery
from actors.outbox import Outbox, open_outbox
from actors.pool import Job, run_worker
from actors.router import Router
from actors.writer import StoreWriter, WriterLimits
from analytics import UiEvent
from analytics.progress import CourseProgress
from analytics.replies import Replier
from courses import Course, bundled_catalog
from loadtest.machine import run_header
from messages import InboundMessage, decode
from store import EventRow, ProgressRow, SqliteStore
from telemetry.metrics import Metrics

CATALOG = bundled_catalog()
COURSES: list[Course] = list(CATALOG.courses.values())
USERS_PER_CONNECTION = 100
KNOWN_EVENTS = 20
ROOT = Path(__file__).resolve().parents[1]
T0 = 1_764_000_000_000  # event times in ms, as lab clients send them


def user_name(number: int) -> str:
    return f"student-{number:06d}"


def frames_of(number: int) -> list[InboundMessage]:
    """A user's 3 events, then its dashboard's request, decoded as the reader does."""
    course = COURSES[number % len(COURSES)]
    logs = list(course.command_of)
    envelope = {"user": user_name(number), "exp": course.exp, "course": course.course}
    frames: list[dict[str, Any]] = [
        {
            **envelope,
            "t": T0 + 1000 * (KNOWN_EVENTS + t),
            "type": "analytics",
            "hardware": f"{course.exp}-{number % 30:02d}",
            "payload": {"log": logs[(number + t) % len(logs)]},
        }
        for t in range(3)
    ]
    request = {"type": "request", "id": number, "payload": {"content": "indicators"}}
    frames.append({**envelope, **request})
    return [decode(orjson.dumps(frame)) for frame in frames]


def fill_known(data: Path, users: int) -> None:
    """Known users as the service leaves them: their raw events and a snapshot each."""
    rng = random.Random(13)
    seq = 0
    with SqliteStore(data) as store:
        for start in range(0, users, 1000):
            events, rows = [], []
            for number in range(start, min(users, start + 1000)):
                course = COURSES[number % len(COURSES)]
                state = CourseProgress(course)
                logs = list(course.command_of)
                hardware = f"{course.exp}-{number % 30:02d}"
                for t in range(KNOWN_EVENTS):
                    seq += 1
                    log, at = rng.choice(logs), T0 + 1000 * t
                    events.append(
                        EventRow(
                            seq,
                            user_name(number),
                            "analytics",
                            course.exp,
                            course.course,
                            hardware,
                            at,
                            at,
                            {"log": log},
                        )
                    )
                    state.add_command(UiEvent(at, hardware, log))
                record = state.to_record()
                rows.append(ProgressRow(user_name(number), course.exp, course.course, seq, record))
            store.write_batch(events, rows)


async def drain(outgoing: trio.MemoryReceiveChannel[str]) -> None:
    async for _ in outgoing:
        pass


async def cohort(
    data: Path, base: int, users: int, measure: Callable[[], int]
) -> tuple[int, int, int]:
    """Make ``base`` then ``users`` users active, ``measure`` after each.

    Returns both measures and how many sessions were resident at the end.
    """
    metrics = Metrics()
    with SqliteStore(data) as store:
        writer = StoreWriter(
            store,
            flush_interval_s=0.05,
            snapshot_interval_s=1.0,
            max_buffered_events=200_000,
            limits=WriterLimits(max_buffered_events=200_000),
        )
        jobs_send, jobs_receive = trio.open_memory_channel[Job](256)
        async with trio.open_nursery() as root:
            await root.start(writer.run)
            async with jobs_receive:
                for _ in range(2):
                    root.start_soon(run_worker, jobs_receive.clone(), Replier(CATALOG), metrics)
            router = Router(
                catalog=CATALOG, writer=writer, jobs=jobs_send, idle_timeout_s=600, metrics=metrics
            )
            await root.start(router.run)
            outboxes: list[Outbox] = []
            for number in range(users // USERS_PER_CONNECTION + 1):
                outbox, outgoing = open_outbox(1024, f"c{number}")
                outboxes.append(outbox)
                root.start_soon(drain, outgoing)

            async def activate(start: int, stop: int) -> None:
                async def connection(first: int) -> None:
                    outbox = outboxes[first // USERS_PER_CONNECTION]
                    for number in range(first, min(stop, first + USERS_PER_CONNECTION)):
                        for message in frames_of(number):
                            received = trio.current_time()
                            await router.deliver(Delivery(message, outbox, 0, received))

                async with trio.open_nursery() as connections:
                    for first in range(start, stop, USERS_PER_CONNECTION):
                        connections.start_soon(connection, first)
                await settled(writer, router)

            await activate(0, base)
            at_base = measure()
            await activate(base, users)
            at_users = measure()
            resident = len(router.sessions)
            router.close()
            await jobs_send.aclose()
            writer.stop()
            for outbox in outboxes:
                outbox.close()
    return at_base, at_users, resident


async def settled(writer: StoreWriter, router: Router) -> None:
    """Until every event and every snapshot is on disk (the cohort at rest between events)."""
    await writer.wait_committed(writer.appended_seq)
    # Snapshots ride with the next write after each interval; nothing signals
    # "every session clean", so poll for it.
    while not all(session.clean for session in router.sessions.values()):  # noqa: ASYNC110
        await trio.sleep(0.1)
    await trio.sleep(0.2)  # the last replies encoded and drained


def site_name(filename: str) -> str:
    path = Path(filename)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def child(kind: str, scenario: str, base: int, users: int, top: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        if scenario == "known":
            fill_known(data, users)
        gc.collect()
        snapshots: list[tracemalloc.Snapshot] = []

        def measure() -> int:
            gc.collect()
            if kind == "rss":
                return rss_bytes()
            snapshots.append(tracemalloc.take_snapshot())
            return tracemalloc.get_traced_memory()[0]

        if kind == "tracemalloc":
            tracemalloc.start(1)
        at_base, at_users, resident = trio.run(cohort, data, base, users, measure)
        tracemalloc.stop()
    result: dict[str, Any] = {
        "per_user": (at_users - at_base) / (users - base),
        "at_users": at_users,
        "resident": resident,
    }
    if snapshots and top:
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        before, after = (snapshot.filter_traces(ignore) for snapshot in snapshots)
        result["sites"] = [
            (
                f"{site_name(stat.traceback[0].filename)}:{stat.traceback[0].lineno}",
                stat.size_diff / (users - base),
                stat.count_diff / (users - base),
            )
            for stat in after.compare_to(before, "lineno")[:top]
        ]
    return result


def run_child(kind: str, scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--scenario", scenario]
    command += ["--users", str(args.users), "--base", str(args.base), "--top", str(args.top)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--base", type=int, default=1_000)
    parser.add_argument("--top", type=int, default=0, help="print the top allocation sites")
    parser.add_argument("--scenario", choices=("new", "known"), action="append")
    parser.add_argument("--child", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    scenarios = args.scenario or ["new", "known"]
    if args.child:
        print(json.dumps(child(args.child, scenarios[0], args.base, args.users, args.top)))
        return
    print(run_header())
    print(f"bytes per active user between {args.base} and {args.users} active users")
    print("(3 events and one request each; events and snapshots committed)\n")
    print(f"{'cohort':<8} {'tracemalloc':>12} {'RSS slope':>10} {'RSS at all':>11} {'resident':>9}")
    for scenario in scenarios:
        traced = run_child("tracemalloc", scenario, args)
        rss = run_child("rss", scenario, args)
        print(
            f"{scenario:<8} {traced['per_user']:>10.0f} B {rss['per_user']:>8.0f} B "
            f"{rss['at_users'] / 2**20:>7.1f} MiB {rss['resident']:>9}"
        )
        for site, size, count in traced.get("sites", []):
            print(f"    {size:8.1f} B {count:5.2f} blocks  {site}")
    print("\ntarget: <= 2048 B per active user beyond what the course shares")


if __name__ == "__main__":
    main()
