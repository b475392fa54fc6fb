"""A flood of new user ids against a fresh student's first reply (issue 12.2).

Starts the service in a subprocess (defaults, fresh data directory, pinned
to one CPU), then a flooder process sends events for a new user id each,
as fast as the service takes them, over ``--connections`` connections for
``--duration`` seconds. Meanwhile, every ``--every`` seconds, a fresh student
connects, sends one event for a new id of their own and asks for
``indicators``: the time from that event to the reply is their first-reply
time. The report gives those times, the ids the flooder got in, and the
service's peak RSS (``VmHWM``), next to the same probes with no flood.
Target: a fresh student's first reply <= 1 s while the flood runs.

    uv run python benchmarks/bench_flood_ids.py [--duration 15] [--connections 4]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import trio

from loadtest.machine import run_header
from loadtest.spawn import spawned_service
from websocket.client import open_client


def frame(user: str, t: int) -> str:
    return json.dumps(
        {
            "user": user,
            "t": t,
            "type": "analytics",
            "exp": "spinner",
            "course": "cie3",
            "payload": {"log": "voltage_step"},
        }
    )


async def flood(url: str, connections: int, duration: float) -> None:
    """The flooder (a process of its own): new ids flat out; prints how many were sent."""
    sent = 0
    numbers = itertools.count()

    async def one(index: int) -> None:
        nonlocal sent
        async with open_client(f"{url}/flood{index}") as ws:
            with trio.move_on_after(duration):
                while True:
                    await ws.send_message(frame(f"flood-{next(numbers):08d}", 1))
                    sent += 1

    async with trio.open_nursery() as nursery:
        for index in range(connections):
            nursery.start_soon(one, index)
    print(json.dumps({"sent": sent}))


async def probe(url: str, number: int) -> float:
    """A fresh student: one event, one request; seconds until the reply."""
    user = f"student-{number:05d}"
    async with open_client(f"{url}/spin30") as ws:
        started = trio.current_time()
        await ws.send_message(frame(user, 1))
        await ws.send_message(
            json.dumps(
                {
                    "user": user,
                    "type": "request",
                    "exp": "spinner",
                    "course": "cie3",
                    "payload": {"content": "indicators"},
                }
            )
        )
        with trio.fail_after(120):
            await ws.get_message()
        return trio.current_time() - started


async def probes(url: str, start: int, duration: float, every: float) -> list[float]:
    times = []
    for number in range(start, start + int(duration / every)):
        times.append(await probe(url, number))
        await trio.sleep(every)
    return times


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return (
        f"n={len(ms)}  p50 {statistics.median(ms):.1f} ms  max {ms[-1]:.1f} ms"
        if ms
        else "no probe"
    )


async def measure(args: argparse.Namespace) -> None:
    async with spawned_service("subprocess") as service:
        service.pin()
        assert service.process is not None
        print(f"service:  {service.command}")
        print(f"cpus:     {service.placement}")
        quiet = await probes(service.url, 0, 3.0, args.every)
        rss_quiet = peak_rss_mb(service.process.pid)
        command = [sys.executable, __file__, "--flood", service.url]
        command += ["--connections", str(args.connections), "--duration", str(args.duration)]
        async with trio.open_nursery() as nursery:
            process = await trio.lowlevel.open_process(command, stdout=-1)
            await trio.sleep(1.0)  # the flood is under way
            flooded = await probes(service.url, 1000, args.duration - 2, args.every)
            output = await process.stdout.receive_some(1 << 16) if process.stdout else b""
            await process.wait()
            nursery.cancel_scope.cancel()
        rss_flood = peak_rss_mb(service.process.pid)
    sent = json.loads(output or b'{"sent": 0}')["sent"]
    print(f"no flood:      first reply {summary(quiet)}; peak RSS {rss_quiet:.0f} MB")
    print(
        f"flood of ids:  first reply {summary(flooded)}; peak RSS {rss_flood:.0f} MB; "
        f"{sent} new ids sent in {args.duration:.0f} s over {args.connections} connections"
    )
    print(f"events stored: {service.events_stored}; service exit code {service.exit_code}")
    print("target: a fresh student's first reply <= 1 s while another client floods new ids")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        trio.run(flood, args.flood, args.connections, args.duration)
        return
    print(run_header())
    trio.run(measure, args)


if __name__ == "__main__":
    main()
