"""Other users' latency while one user with a 76,000-event legacy log is loaded.

1. Writes an old-service data directory: one user with a 76,000-line
   unconverted log over two hardware files (spinner cie3).
2. Imports it (``learning-analytics import-legacy``, timed) into a fresh store.
3. Starts the service on that store; 20 other students poll ``all_feedback``
   one request at a time while, after 2 s, a dashboard asks for the legacy
   user: the service loads that user from disk meanwhile.
4. Reports the others' latency before the load and in the second after it,
   and how long the legacy user's first answer took.

Run twice: with the snapshot the import writes (the normal case), and with
the snapshot removed, so the load must replay all 76,000 events (the worst
case: a user whose snapshot is missing).

    uv run python benchmarks/bench_legacy_user.py [--events 76000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import WebSocketConnection

from loadtest.machine import run_header
from loadtest.spawn import cli_command, subprocess_service
from websocket.client import open_client

LEGACY_USER = "0b7a6c2e-4f1d-4a8e-9c3b-5d2e1f0a9b8c"
LOGS = ["voltage", "voltage_ramp", "position", "position_ramp", "speed", "speed_ramp", "camera"]


def write_legacy(directory: Path, events: int, rng: random.Random) -> None:
    directory.mkdir(parents=True)
    for hardware, offset in (("spin30", 0), ("spin31", 1)):
        lines = []
        for number in range(offset, events, 2):
            lines.append(
                json.dumps(
                    {
                        "user": LEGACY_USER,
                        "t": 1_700_000_000_000 + number * 500,
                        "type": "analytics",
                        "exp": "spinner",
                        "course": "cie3",
                        "hardware": hardware,
                        "payload": {"log": rng.choice(LOGS), "data": {"set": 0.5}},
                    }
                )
            )
        (directory / f"{LEGACY_USER}-{hardware}-spinner-cie3.json").write_text("\n".join(lines))


def request(user: str, number: int) -> str:
    return json.dumps(
        {
            "user": user,
            "type": "request",
            "exp": "spinner",
            "course": "cie3",
            "id": number,
            "payload": {"content": "all_feedback", "graph": "spinner-cie3-3"},
        }
    )


async def ask(ws: WebSocketConnection, user: str, number: int) -> float:
    start = time.perf_counter()
    await ws.send_message(request(user, number))
    for _ in range(5):
        await ws.get_message()
    return time.perf_counter() - start


async def measure(url: str, duration_s: float, load_at_s: float) -> dict[str, object]:
    samples: list[tuple[float, float]] = []  # (sent at, seconds)
    legacy: dict[str, float] = {}
    start = time.perf_counter()

    async def student(number: int) -> None:
        user = f"other-{number:02d}"
        async with open_client(f"{url}/spin{number:02d}") as ws:
            await ws.send_message(
                json.dumps(
                    {
                        "user": user,
                        "t": 1,
                        "type": "analytics",
                        "exp": "spinner",
                        "course": "cie3",
                        "payload": {"log": "voltage"},
                    }
                )
            )
            await ask(ws, user, 0)
            request_number = 1
            while time.perf_counter() - start < duration_s:
                sent = time.perf_counter() - start
                samples.append((sent, await ask(ws, user, request_number)))
                request_number += 1
                await trio.sleep(0.005)

    async def dashboard() -> None:
        await trio.sleep(load_at_s)
        async with open_client(f"{url}/dashboard") as ws:
            legacy["sent_at"] = time.perf_counter() - start
            legacy["seconds"] = await ask(ws, LEGACY_USER, 1)

    async with trio.open_nursery() as nursery:
        for number in range(20):
            nursery.start_soon(student, number)
        nursery.start_soon(dashboard)
    loaded_by = legacy["sent_at"] + legacy["seconds"]
    before = [s for sent, s in samples if 0.5 <= sent < legacy["sent_at"]]
    during = [s for sent, s in samples if legacy["sent_at"] <= sent < loaded_by + 1.0]
    return {"before": before, "during": during, "legacy_s": legacy["seconds"]}


def figures(samples: list[float]) -> str:
    ordered = sorted(s * 1000 for s in samples)
    if not ordered:
        return "no samples"
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms  "
        f"max {ordered[-1]:7.2f} ms  (n={len(ordered)})"
    )


async def run_case(data: Path, log: Path) -> dict[str, object]:
    async with subprocess_service(data, log) as service:
        service.pin()
        print(f"cpus:     {service.placement}")
        return await measure(service.url, duration_s=6.0, load_at_s=2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=76_000)
    args = parser.parse_args()
    print(run_header())
    with tempfile.TemporaryDirectory() as scratch:
        old, data = Path(scratch) / "old", Path(scratch) / "data"
        write_legacy(old, args.events, random.Random(76))
        started = time.perf_counter()
        subprocess.run(
            [*cli_command("import-legacy", str(old), "--data", str(data))],
            check=True,
            capture_output=True,
        )
        print(f"import-legacy of {args.events} events: {time.perf_counter() - started:.2f} s")
        for case in ("with the import's snapshot", "snapshot removed: replay all events"):
            if case.startswith("snapshot removed"):
                with sqlite3.connect(data / "analytics.sqlite3") as db:
                    db.execute("DELETE FROM progress WHERE user = ?", (LEGACY_USER,))
            result = trio.run(run_case, data, Path(scratch) / "service.log")
            print(f"\n{case}")
            print(f"  legacy user's first all_feedback: {result['legacy_s'] * 1000:.1f} ms")
            print(f"  20 other students, before:          {figures(result['before'])}")
            print(f"  20 other students, while it loads: {figures(result['during'])}")
    print("\ntarget: other users' p99 <= 5 ms while the legacy user loads", file=sys.stdout)


if __name__ == "__main__":
    main()
