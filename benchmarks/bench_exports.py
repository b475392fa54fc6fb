"""How fast the exports run, and what memory they hold, on a store of many events.

1. Writes a store of ``--events`` events (default 500,000) of ``--users``
   students (default 2,000) on the three courses, in batches, with progress
   snapshots for half the users (the others are replayed from their events).
2. Runs ``learning-analytics export-events`` (CSV, then JSON lines) and
   ``export-legacy`` on it, each in its own process, and reports per export:
   seconds, rows (or users) per second, the output's size and the process's
   peak RSS (``ru_maxrss`` of the child).

Bounded: one store, three exports, no network.

    uv run python benchmarks/bench_exports.py [--events 500000] [--users 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analytics.progress import StudentProgress
from courses import bundled_catalog
from loadtest.machine import run_header
from loadtest.spawn import cli_command
from messages import decode
from store import EventRow, ProgressRow, SqliteStore

COURSES = [("spinner", "cie3"), ("spinner", "engdes1"), ("pendulum", "engdes1")]
LOGS = {
    "spinner": ["voltage", "voltage_ramp", "position", "speed", "speed_ramp", "help"],
    "pendulum": ["start", "brake", "load", "free", "sampling", "record", "help"],
}
BATCH = 20_000


def fill(data: Path, events: int, users: int, rng: random.Random) -> None:
    catalog = bundled_catalog()
    states = {f"user-{u:05d}": StudentProgress(f"user-{u:05d}", catalog) for u in range(users)}
    course_of = {user: rng.choice(COURSES) for user in states}
    names = list(states)
    with SqliteStore(data) as store:
        for start in range(1, events + 1, BATCH):
            rows = []
            for seq in range(start, min(start + BATCH, events + 1)):
                user = rng.choice(names)
                exp, course = course_of[user]
                t = 1_700_000_000_000 + seq * 50
                payload = {"log": rng.choice(LOGS[exp]), "data": rng.random()}
                row = EventRow(seq, user, "analytics", exp, course, "spin30", t, t, payload)
                rows.append(row)
                frame = {"user": user, "t": t, "type": "analytics", "exp": exp, "course": course}
                states[user].apply(decode(json.dumps({**frame, "payload": payload})))
            last = rows[-1].seq
            progress = [
                ProgressRow(user, exp, course, last, p.to_record())
                for user, state in list(states.items())[: users // 2]
                for (exp, course), p in state.courses.items()
            ]
            store.write_batch(rows, progress if start + BATCH > events else [])


def run(argv: list[str]) -> dict[str, float]:
    """Run one export in its own process: its report, wall time and its own peak RSS."""
    started = time.monotonic()
    child = subprocess.Popen(cli_command(*argv), stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{argv[0]} failed with exit code {child.returncode}")
    seconds = time.monotonic() - started
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, **json.loads(output)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=2_000)
    args = parser.parse_args()
    print(run_header())
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        fill(root / "data", args.events, args.users, random.Random(7))
        print(
            f"store: {args.events} events, {args.users} users, {time.monotonic() - started:.1f} s"
        )
        data = ["--data", str(root / "data")]
        for name, argv, output in [
            ("export-events csv", ["export-events", str(root / "e.csv"), *data], root / "e.csv"),
            (
                "export-events jsonl",
                ["export-events", str(root / "e.jsonl"), "--format", "jsonl", *data],
                root / "e.jsonl",
            ),
            ("export-legacy", ["export-legacy", str(root / "legacy"), *data], root / "legacy"),
        ]:
            figures = run(argv)
            count = figures.get("events", figures.get("users"))
            size = (
                sum(p.stat().st_size for p in output.iterdir())
                if output.is_dir()
                else output.stat().st_size
            )
            print(
                f"{name:20s} {figures['seconds']:6.1f} s  {count / figures['seconds']:9.0f} "
                f"{'rows' if 'events' in figures else 'users'}/s  {size / 2**20:7.1f} MiB out  "
                f"peak RSS {figures['peak_rss_mb']:6.1f} MB"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
