"""Hostile clients: what a well-behaved student and dashboard see while one client floods.

For each attack (``benchmarks/hostile_attacks.py``) a fresh service is
spawned (defaults, fresh data directory, free loopback port, pinned to one
CPU), then measured twice by the same probe:

1. no attack, ``--baseline`` seconds;
2. while the attack runs, ``--duration`` seconds (the attack is bounded in
   count and time, runs at nice 19 from its own loopback addresses).

The probe: four dashboards of students with a history poll ``all_feedback``
every 50 ms (round trip until all five replies are in: p50, p99), and a
fresh student arrives every 0.5 s (connect, three commands, ``all_feedback``:
time until its five replies). Also: the service's peak RSS during the attack
(``VmHWM``, reset through ``/proc/<pid>/clear_refs`` when it starts), and
whether it is still running. Targets (issue 12, DESIGN.md): never exits; a
fresh student's first reply <= 1 s; others' p99 <= 10 ms; peak RSS <= 500 MB.

    uv run python benchmarks/bench_hostile.py [--duration 10] [--only new_ids,deep_frames]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import orjson
import trio

from loadtest.machine import run_header
from loadtest.rawws import RawWebSocket, Refused, text_frame
from loadtest.spawn import load_process, spawned_service

HERE = Path(__file__).resolve().parent
DASHBOARDS = 4
POLL_S = 0.05
FRESH_EVERY_S = 0.5
REPLY_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 120.0  # an attack's set-up (16,500 idle sockets) before it is measured
# name -> (attack, extra arguments)
ATTACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "deep_frames": ("deep_frames", ()),
    "new_ids": ("new_ids", ()),
    "idle_one_address": ("idle_sockets", ("--count", "1000")),
    "idle_many_addresses": ("idle_sockets", ("--count", "16500", "--addresses", "70")),
    "empty_continuations": ("empty_continuations", ()),
    "feedback_strings": ("feedback_strings", ()),
    "looping_dashboards": ("looping_dashboards", ()),
    "slow_readers": ("slow_readers", ()),
    "big_events": ("big_events", ()),
}


def event(user: str, t: int, log: str = "voltage") -> bytes:
    frame = {"user": user, "t": t, "type": "analytics", "exp": "spinner", "course": "cie3",
             "payload": {"log": log}}  # fmt: skip
    return text_frame(orjson.dumps(frame).decode())


def ask(user: str, number: int) -> bytes:
    frame = {"user": user, "type": "request", "exp": "spinner", "course": "cie3", "id": number,
             "payload": {"content": "all_feedback", "graph": "spinner-cie3-3"}}  # fmt: skip
    return text_frame(orjson.dumps(frame).decode())


@attrs.define
class Window:
    """What the probe measured in one window."""

    polls_ms: list[float] = attrs.field(factory=list)
    fresh_ms: list[float] = attrs.field(factory=list)
    refused_ms: list[float] = attrs.field(factory=list)  # a fresh student's 503, when full
    problems: dict[str, int] = attrs.field(factory=dict)

    def problem(self, name: str) -> None:
        self.problems[name] = self.problems.get(name, 0) + 1


def quantile(samples: list[float], q: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def answered(ws: RawWebSocket, number: int, window: Window) -> bool:
    """Read until the five replies to request ``number``; False (counted) on an error reply."""
    got = 0
    while got < 5:
        reply = orjson.loads(await ws.receive_text())
        if reply.get("id") != number:
            continue
        if reply["type"] == "error" and reply["error"]["code"] not in ("unknown_graph",):
            window.problem(f"error {reply['error']['code']}")
            return False
        got += 1
    return True


class Probe:
    """The well-behaved clients: resident dashboards and fresh students."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dashboards: list[RawWebSocket] = []
        self.fresh_number = 0
        self.asked = 0

    async def warm_up(self) -> None:
        for number in range(DASHBOARDS):
            ws = await RawWebSocket.open(self.port, "/spin30")
            await ws.send(b"".join(event(f"resident-{number}", t) for t in range(100)))
            await ws.send(ask(f"resident-{number}", -1))
            await answered(ws, -1, Window())
            self.dashboards.append(ws)

    async def measure(self, seconds: float, until: Callable[[], bool] | None = None) -> Window:
        """The probe for ``seconds``, or until ``until()`` holds (checked every 0.1 s)."""
        window = Window()
        with trio.move_on_after(seconds):
            async with trio.open_nursery() as nursery:
                for number, ws in enumerate(self.dashboards):
                    nursery.start_soon(self._poll, ws, f"resident-{number}", window)
                if until is not None:
                    while not until():  # noqa: ASYNC110 (another process's file)
                        await trio.sleep(0.1)
                    nursery.cancel_scope.cancel()
                while True:
                    nursery.start_soon(self._fresh, window)
                    await trio.sleep(FRESH_EVERY_S)
        return window

    async def _poll(self, ws: RawWebSocket, user: str, window: Window) -> None:
        next_at = trio.current_time()
        while True:
            await trio.sleep_until(next_at)
            self.asked += 1
            number = self.asked
            start = time.perf_counter()
            try:
                with trio.fail_after(REPLY_TIMEOUT_S):
                    await ws.send(ask(user, number))
                    ok = await answered(ws, number, window)
            except (trio.TooSlowError, EOFError, OSError, trio.BrokenResourceError) as exc:
                window.problem(f"dashboard {type(exc).__name__}")
                return
            if ok:
                window.polls_ms.append((time.perf_counter() - start) * 1000)
            next_at = max(next_at + POLL_S, trio.current_time())

    async def _fresh(self, window: Window) -> None:
        self.fresh_number += 1
        user = f"fresh-{self.fresh_number}"
        start = time.perf_counter()
        try:
            with trio.fail_after(REPLY_TIMEOUT_S):
                ws = await RawWebSocket.open(self.port, "/spin30")
                try:
                    frames = [event(user, t, log) for t, log in enumerate(("voltage", "speed"))]
                    await ws.send(b"".join([*frames, ask(user, 0)]))
                    ok = await answered(ws, 0, window)
                finally:
                    await ws.aclose()
        except Refused as refused:
            window.problem(f"fresh refused {refused.status}")
            window.refused_ms.append((time.perf_counter() - start) * 1000)
            return
        except (trio.TooSlowError, EOFError, OSError, trio.BrokenResourceError) as exc:
            window.problem(f"fresh {type(exc).__name__}")
            return
        if ok:
            window.fresh_ms.append((time.perf_counter() - start) * 1000)


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        return False
    return True


def row(label: str, window: Window, peak_mb: float | None) -> str:
    fresh = window.fresh_ms
    cells = [
        f"{label:22s}",
        f"fresh p50 {quantile(fresh, 0.5):7.1f} max {max(fresh, default=math.nan):7.1f} ms"
        f" (n={len(fresh)})",
        f"others p50 {quantile(window.polls_ms, 0.5):6.2f} p99 "
        f"{quantile(window.polls_ms, 0.99):7.2f} ms (n={len(window.polls_ms)})",
        f"peak RSS {peak_mb:6.0f} MB" if peak_mb else "peak RSS    n/a",
    ]
    if window.refused_ms:
        cells.append(f"503 within {max(window.refused_ms):.0f} ms")
    line = "  ".join(cells)
    if window.problems:
        line += "  problems: " + ", ".join(f"{k} x{v}" for k, v in sorted(window.problems.items()))
    return line


async def run_attack(name: str, args: argparse.Namespace) -> None:
    attack, extra = ATTACKS[name]
    async with spawned_service("subprocess") as service:
        assert service.process is not None
        pid = service.process.pid
        service.pin()
        port = int(service.url.rsplit(":", 1)[1])
        probe = Probe(port)
        await probe.warm_up()
        baseline = await probe.measure(args.baseline)
        baseline_peak = memory_kb(pid).get("VmHWM", 0) / 1024
        reset_peak(pid)
        with tempfile.TemporaryDirectory() as scratch:
            out, ready, stop = (Path(scratch) / name for name in ("out.json", "ready", "stop"))
            command = [
                sys.executable, str(HERE / "hostile_attacks.py"), attack, "--port", str(port),
                "--duration", str(args.duration + READY_TIMEOUT_S + 10), "--json", str(out),
                "--ready", str(ready), "--stop", str(stop), *extra,
            ]  # fmt: skip
            async with load_process(command, timeout_s=30):
                # The dashboards go on polling meanwhile (not counted): one that
                # stopped reading would not answer pings, and would be closed.
                await probe.measure(READY_TIMEOUT_S, until=ready.exists)
                await trio.sleep(1.0)  # the flood gets going
                attacked = await probe.measure(args.duration)
                stop.write_text("stop")
            done = json.loads(out.read_text()) if out.exists() else {"no report": 1}
        peak = memory_kb(pid).get("VmHWM", 0) / 1024
        alive = service.process.poll() is None
    print(f"\n{name}: {'still running' if alive else 'EXITED'}; attacker did {done}")
    print("  " + row("no attack", baseline, baseline_peak))
    print("  " + row("under attack", attacked, peak))
    print(f"  exit code at stop: {service.exit_code}; events stored: {service.events_stored}")


async def main_async(args: argparse.Namespace) -> None:
    names = args.only.split(",") if args.only else list(ATTACKS)
    for name in names:
        await run_attack(name, args)
    print("\ntargets: never exits; fresh first reply <= 1000 ms; others p99 <= 10 ms; "
          "peak RSS <= 500 MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="attack window, s")
    parser.add_argument("--baseline", type=float, default=3.0, help="window with no attack, s")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(ATTACKS)}")
    args = parser.parse_args()
    print(run_header())
    trio.run(main_async, args)


if __name__ == "__main__":
    main()
