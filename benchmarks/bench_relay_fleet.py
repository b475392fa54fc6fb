"""A lab fleet in one process: 100 relay streams, 10,000 known users, all active.

1. Fills a fresh store with 10,000 users (snapshots and a few events each),
   as a term's worth of students would leave it.
2. Starts a test relay (``learning-analytics relay``) and the service in relay
   mode following 100 streams (``--connect`` x 100), both as subprocesses.
3. Makes the whole cohort active at once (issue 13.3): every known user sends
   3 events and then asks for its indicators, spread over the streams, well
   within the idle timeout, so all 10,000 are in memory together. Reads the
   service's RSS (and its high-water mark) from /proc before and after:
   the RSS and the bytes per active user.
4. On one active stream, a student works while a dashboard polls
   ``all_feedback``: round-trip p50/p99 through the relay, with the cohort in memory.
5. Kills the relay (SIGKILL), starts it again on the same port, and times
   how long until a request through it is answered again.

    uv run python benchmarks/bench_relay_fleet.py [--streams 100] [--users 10000] [--active 10000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import WebSocketConnection

from analytics import UiEvent
from analytics.progress import CourseProgress
from courses import bundled_catalog
from loadtest.machine import run_header
from loadtest.spawn import cli_command, free_port
from store import EventRow, ProgressRow, SqliteStore
from websocket.client import open_client


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"nothing listens on {port}") from None
            time.sleep(0.05)
        else:
            return


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def fill_store(data: Path, users: int, rng: random.Random) -> None:
    """Known users as the service leaves them: a snapshot and their raw events."""
    catalog = bundled_catalog()
    courses = list(catalog.courses.values())
    seq = 0
    with SqliteStore(data) as store:
        for start in range(0, users, 1000):
            events, progress = [], []
            for number in range(start, min(users, start + 1000)):
                user = f"known-{number:05d}"
                course = courses[number % len(courses)]
                state = CourseProgress(course)
                logs = list(course.command_of)
                for t in range(20):
                    seq += 1
                    log = rng.choice(logs)
                    events.append(
                        EventRow(
                            seq,
                            user,
                            "analytics",
                            course.exp,
                            course.course,
                            "spin30",
                            t,
                            t,
                            {"log": log},
                        )
                    )
                    state.add_command(UiEvent(t, "spin30", log))
                progress.append(
                    ProgressRow(user, course.exp, course.course, seq, state.to_record())
                )
            store.write_batch(events, progress)


async def ask(ws: WebSocketConnection, frame: dict, replies: int) -> float:
    """Send a request on a relay stream and wait for its replies (others' frames pass by)."""
    start = time.perf_counter()
    await ws.send_message(json.dumps(frame))
    got = 0
    while got < replies:
        message = json.loads(await ws.get_message())
        if message.get("type") in ("response", "error") and message.get("id") == frame["id"]:
            got += 1
    return (time.perf_counter() - start) * 1000


def request(user: str, exp: str, course: str, content: str, number: int, **more: str) -> dict:
    return {
        "user": user,
        "type": "request",
        "exp": exp,
        "course": course,
        "id": number,
        "payload": {"content": content, **more},
    }


async def streams_followed(relay_port: int, streams: int) -> None:
    """Return once the service answers on every stream (a relay drops frames nobody follows)."""

    async def probe(stream: int) -> None:
        async with open_client(f"ws://127.0.0.1:{relay_port}/s{stream:03d}") as ws:
            for attempt in itertools.count():
                frame = request("probe", "spinner", "cie3", "indicators", -1 - attempt)
                with trio.move_on_after(0.5):
                    await ask(ws, frame, 1)
                    return

    async with trio.open_nursery() as nursery:
        for stream in range(streams):
            nursery.start_soon(probe, stream)


async def activate_known_users(relay_port: int, streams: int, count: int) -> None:
    """Known users 0..count-1 each send 3 events then ask, one stream each in turn.

    The reply to the request says the user is loaded and its events applied
    (a user's messages are applied in the order they were read).
    """
    courses = list(bundled_catalog().courses.values())

    async def activate(stream: int) -> None:
        async with open_client(f"ws://127.0.0.1:{relay_port}/s{stream:03d}") as ws:
            for number in range(stream, count, streams):
                course = courses[number % len(courses)]
                user = f"known-{number:05d}"
                logs = list(course.command_of)
                for t in range(3):
                    frame = {
                        "user": user,
                        "t": 100 + t,
                        "type": "analytics",
                        "exp": course.exp,
                        "course": course.course,
                        "payload": {"log": logs[(number + t) % len(logs)]},
                    }
                    await ws.send_message(json.dumps(frame))
                frame = request(user, course.exp, course.course, "indicators", number)
                with trio.fail_after(30):
                    await ask(ws, frame, 1)

    async with trio.open_nursery() as nursery:
        for stream in range(min(streams, count)):
            nursery.start_soon(activate, stream)


async def active_stream(relay_port: int, polls: int) -> list[float]:
    url = f"ws://127.0.0.1:{relay_port}/s000"
    samples = []
    async with open_client(url) as ui, open_client(url) as dashboard:
        logs = ["voltage", "speed", "position", "voltage_ramp"]
        for number in range(polls):
            frame = {
                "user": "active",
                "t": number,
                "type": "analytics",
                "exp": "spinner",
                "course": "cie3",
                "payload": {"log": logs[number % 4]},
            }
            await ui.send_message(json.dumps(frame))
            ask_frame = request(
                "active", "spinner", "cie3", "all_feedback", 10**6 + number, graph="spinner-cie3-3"
            )
            with trio.fail_after(10):
                samples.append(await ask(dashboard, ask_frame, 5))
    return samples


async def answered_again(relay_port: int, stream: int) -> None:
    while True:
        try:
            async with open_client(f"ws://127.0.0.1:{relay_port}/s{stream:03d}") as ws:
                with trio.fail_after(0.5):
                    await ask(ws, request("back", "spinner", "cie3", "indicators", 7), 1)
                return
        except Exception:  # refused, reset, timed out: the relay is not back yet
            await trio.sleep(0.01)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.3f} ms  p99 {p99:.3f} ms  max {ordered[-1]:.3f} ms"


def start_relay(port: int) -> subprocess.Popen:
    relay = subprocess.Popen(cli_command("relay", "--listen", f"127.0.0.1:{port}"))
    wait_for_port(port, relay)
    return relay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--active", type=int, default=10_000, help="known users made active")
    parser.add_argument("--polls", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(11)
    print(run_header())
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        fill_store(data, args.users, rng)
        print(
            f"store: {args.users} known users, {args.users * 20} events, "
            f"filled in {time.perf_counter() - started:.1f} s"
        )
        relay_port = free_port()
        relay = start_relay(relay_port)
        urls = [f"ws://127.0.0.1:{relay_port}/s{n:03d}" for n in range(args.streams)]
        # Idle timeout (600 s) and resident cap (256 MB) at their defaults: the
        # cohort stays in memory while it is measured.
        command = cli_command("serve", "--data", str(data), "--relay-backoff-max-s", "1")
        for url in urls:
            command += ["--connect", url]
        service = subprocess.Popen(command)
        try:
            trio.run(streams_followed, relay_port, args.streams)
            connected = memory_kib(service.pid)
            print(f"service following {args.streams} streams: {connected} KiB")
            started = time.perf_counter()
            trio.run(activate_known_users, relay_port, args.streams, args.active)
            took = time.perf_counter() - started
            time.sleep(2)  # their snapshots written (every 1 s), the buffer empty
            active = memory_kib(service.pid)
            per_user = (active["VmRSS"] - connected["VmRSS"]) * 1024 / max(args.active, 1)
            print(
                f"after {args.active} known users each sent 3 events and asked once "
                f"(in {took:.1f} s): {active} KiB; RSS {active['VmRSS'] / 1024:.1f} MiB, "
                f"{per_user:.0f} bytes per active user above the connected fleet"
            )
            samples = trio.run(active_stream, relay_port, args.polls)
            print(f"all_feedback through the relay, one active stream: {percentiles(samples)}")
            relay.send_signal(signal.SIGKILL)
            relay.wait()
            time.sleep(1.0)
            relay = start_relay(relay_port)
            back = time.perf_counter()
            trio.run(answered_again, relay_port, args.streams // 2)
            print(
                f"relay killed and restarted: answered again {time.perf_counter() - back:.3f} s "
                "after it listened again (backoff cap 1 s)"
            )
            print(f"final: {memory_kib(service.pid)} KiB")
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=20)
            relay.send_signal(signal.SIGTERM)
            relay.wait(timeout=10)


if __name__ == "__main__":
    main()
