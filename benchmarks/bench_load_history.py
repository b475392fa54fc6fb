"""Request latency against history length: is a request O(1) in the past events?

Starts the service in a subprocess (defaults, fresh data directory, free
loopback port). For each history length (1k, 10k, 100k events by default)
a new student gets that many commands (a random walk over a task graph of
spinner cie3, sent as fast as one connection can), one request makes sure
all of them were applied, the store writer gets a moment to flush, and
then ``--requests`` all_feedback requests are sent one at a time, each
timed until all five replies are in and each reply checked for shape.
Target: flat (the same latency whatever the history).

    uv run python benchmarks/bench_load_history.py [--lengths 1000 10000 100000] [--requests 500]
"""

from __future__ import annotations

import argparse

import orjson
import trio
from trio_websocket import WebSocketConnection

from courses import bundled_catalog
from loadtest import summarize_ms
from loadtest.clients import ask_for, now_ms
from loadtest.machine import run_header
from loadtest.script import Persona, StudentScript, request_frame
from loadtest.shape import check_reply, parse_frame
from loadtest.spawn import spawned_service
from websocket.client import open_client

SETTLE_S = 1.0  # let the last group commit of the history land before timing


def persona_for(url: str, length: int) -> Persona:
    course = bundled_catalog().course("spinner", "cie3")
    assert course is not None
    return Persona(length, f"history-{length}", course, "3-4", "spin1", f"{url}/spin1")


async def ask(ws: WebSocketConnection, persona: Persona, request_id: str) -> tuple[float, int]:
    """One all_feedback round trip: (seconds, replies that were wrong or errors)."""
    frame = request_frame(persona, "all_feedback", request_id, now_ms())
    expected = ask_for(persona, "all_feedback", request_id)
    text = orjson.dumps(frame).decode()
    bad = 0
    start = trio.current_time()
    await ws.send_message(text)
    for position in range(5):
        reply, problem = parse_frame(await ws.get_message())
        if reply is None or problem is not None or reply.get("id") != request_id:
            bad += 1
            continue
        verdict = check_reply(expected, position, reply)
        bad += verdict.problem is not None or verdict.error_code is not None
    return trio.current_time() - start, bad


async def one_length(url: str, length: int, requests: int) -> str:
    persona = persona_for(url, length)
    script = StudentScript(persona, seed=length)
    async with open_client(persona.url) as ws:
        started = trio.current_time()
        for t in range(length):
            payload = script.command_payload()
            frame = {
                "user": persona.user,
                "t": 1_700_000_000_000 + t,
                "type": "analytics",
                "exp": "spinner",
                "course": "cie3",
                "payload": payload,
            }
            await ws.send_message(orjson.dumps(frame).decode())
        with trio.fail_after(120):
            await ask(ws, persona, "applied")  # answered only after the whole history
        loaded_s = trio.current_time() - started
        await trio.sleep(SETTLE_S)
        samples, bad = [], 0
        for number in range(requests):
            seconds, wrong = await ask(ws, persona, f"h{length}-{number}")
            samples.append(seconds)
            bad += wrong
    figures = summarize_ms(samples)
    cells = "  ".join(f"{k} {figures[k]:7.3f}" for k in ("p50", "p90", "p99"))
    return (
        f"  {length:>7} events (sent and applied in {loaded_s:5.1f} s)   {cells}  "
        f"max {figures['max']:7.3f} ms  (n={len(samples)}, wrong or error replies: {bad})"
    )


async def measure(args: argparse.Namespace) -> None:
    async with spawned_service("subprocess") as service:
        service.pin()
        print(f"service:  {service.command}")
        print(f"cpus:     {service.placement}")
        print(f"\nall_feedback, {args.requests} sequential requests per history length:")
        for length in args.lengths:
            print(await one_length(service.url, length, args.requests), flush=True)
    print(f"  events stored: {service.events_stored} (sent: {sum(args.lengths)})")
    print("  target: flat, the same latency whatever the history length")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    print(run_header())
    trio.run(measure, args)


if __name__ == "__main__":
    main()
