"""all_feedback round trip on an otherwise idle service, over real WebSocket.

Starts ``learning-analytics serve`` in a subprocess on a free loopback port
with a fresh data directory, gives one student a history of commands, then
sends ``all_feedback`` requests one at a time and times each until all five
replies are in. The floor of the same run: a frame that is refused at once
(one error reply), i.e. transport and decode with no analytics.

    uv run python benchmarks/bench_idle_latency.py [--requests N] [--history N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from loadtest.spawn import spawned_service

PAUSE_S = 0.05  # a dashboard polls every few tens of ms: the machine idles in between


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {statistics.median(ordered):6.3f} ms  p90 {at(0.90):6.3f}  "
        f"p99 {at(0.99):6.3f}  max {ordered[-1]:6.3f}  (n={len(ordered)})"
    )


async def timed(ws: WebSocketConnection, frame: str, replies: int) -> float:
    start = time.perf_counter()
    await ws.send_message(frame)
    for _ in range(replies):
        await ws.get_message()
    return (time.perf_counter() - start) * 1000


async def measure(url: str, requests: int, history: int) -> None:
    rng = random.Random(3)
    logs = ["voltage", "voltage_ramp", "position", "position_ramp", "speed", "speed_ramp"]
    envelope = {"user": "bench-student", "exp": "spinner", "course": "cie3"}
    async with open_websocket_url(f"{url}/spin30") as ws:
        for t in range(history):
            frame = envelope | {"t": t, "type": "analytics", "payload": {"log": rng.choice(logs)}}
            await ws.send_message(json.dumps(frame))
        ask = json.dumps(
            envelope
            | {"type": "request", "payload": {"content": "all_feedback", "graph": "spinner-cie3-3"}}
        )
        await timed(ws, ask, 5)  # the first answer waits for the history to be applied
        floor = [await timed(ws, "{}", 1) for _ in range(requests)]
        full = [await timed(ws, ask, 5) for _ in range(requests)]
        paced = []
        for _ in range(requests // 10):
            await trio.sleep(PAUSE_S)  # both processes go idle, as with a polling dashboard
            paced.append(await timed(ws, ask, 5))
        figures = {
            "floor: refused frame (1 error reply)": floor,
            "all_feedback (5 replies)": full,
            f"all_feedback, {PAUSE_S * 1000:.0f} ms pause before each": paced,
        }
        for label, samples in figures.items():
            print(f"  {label:42s} {percentiles(samples)}")


async def run(requests: int, history: int) -> None:
    async with spawned_service("subprocess") as service:
        print(f"idle service, one student with {history} commands, {requests} sequential requests")
        await measure(service.url, requests, history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--history", type=int, default=1000)
    args = parser.parse_args()
    trio.run(run, args.requests, args.history)


if __name__ == "__main__":
    main()
