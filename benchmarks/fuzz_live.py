"""A live fuzzing run: 100,000 mutated frames against a spawned service (issue 12).

The service runs in a subprocess with default settings, a fresh data
directory and a free loopback port, pinned to one CPU. ``loadtest.fuzz``
mutates valid frames (JSON, text and frame level); ``loadtest.fuzz_live``
sends them over ``--connections`` connections in batches, each batch
checked against the oracle (``messages.decode`` on the text alone). Checks:
the service never exits; every invalid frame gets exactly one error reply,
every valid request all its replies (or ``overloaded``); every frame that
breaks RFC 6455 closes its connection with the right code; after a clean
stop, the store holds exactly the valid events sent. Bounded: ``--frames``
and ``--time-cap`` seconds, whichever comes first.

    uv run python benchmarks/fuzz_live.py [--frames 100000] [--max-depth 1100] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import trio

from loadtest.fuzz_live import FuzzReport, fuzz_hub
from loadtest.machine import run_header
from loadtest.rawws import RawWebSocket, Refused
from loadtest.spawn import spawned_service


async def serving(port: int) -> bool:
    """Whether the service still accepts a WebSocket."""
    try:
        with trio.fail_after(5):
            ws = await RawWebSocket.open(port)
    except (OSError, EOFError, Refused, trio.TooSlowError):
        return False
    await ws.aclose()
    return True


async def run(args: argparse.Namespace) -> None:
    report = FuzzReport()
    started = time.perf_counter()
    async with spawned_service("subprocess") as service:
        assert service.process is not None
        service.pin()
        port = int(service.url.rsplit(":", 1)[1])
        print(f"service:  {service.command}\ncpus:     {service.placement}")
        with trio.move_on_after(args.time_cap) as capped:
            report = await fuzz_hub(
                port, frames=args.frames, connections=args.connections, seed=args.seed,
                max_depth=args.max_depth,
            )  # fmt: skip
        alive = service.process.poll() is None and await serving(port)
    seconds = time.perf_counter() - started
    sent = sum(report.frames.values())
    cap = " (time cap reached)" if capped.cancelled_caught else ""
    print(f"\n{sent} frames in {seconds:.1f} s{cap}")
    print(f"  by what they must lead to: {dict(report.frames)}")
    print(f"  protocol breaks and their closes: {dict(report.closes)}")
    print(f"  service {'still serving' if alive else 'NOT SERVING'} before the stop; "
          f"exit code at stop {service.exit_code}")  # fmt: skip
    stored = service.events_stored
    verdict = "ok" if stored == report.events else "MISMATCH"
    print(f"  valid events sent {report.events}, stored {stored}: {verdict}")
    print(f"  problems ({len(report.problems)} shown, at most 50):")
    for problem in report.problems:
        print(f"    {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-depth", type=int, default=1100, help="deepest nested value")
    parser.add_argument("--time-cap", type=float, default=300.0, help="seconds")
    args = parser.parse_args()
    print(run_header())
    trio.run(run, args)


if __name__ == "__main__":
    main()
