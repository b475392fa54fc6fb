"""Maximum durable ingest: events/s that end up committed in the store.

Starts the service in a subprocess (defaults, fresh data directory, free
loopback port, pinned to one CPU), then ``--procs`` generator processes on
the other CPUs each drive ``--connections`` students as fast as they can for
``--duration`` seconds. The service is then stopped with SIGTERM (a clean
stop drains and flushes) and the events in its store are counted. Durable
ingest = events stored / (first send .. service exited), so a backlog the
service had to work off after the load counts against it.

The generator is the firehose (``loadtest/firehose.py``: the scripted
students' frames encoded once, then only written) unless ``--generator
loadtest``: the full load tester costs as much CPU per event as the service,
so on the one spare core of a 2-core machine it measures itself. Whether
the service or the generator was the limit shows in the CPU times.
Target: >= 20k events/s.

    uv run python benchmarks/bench_load_ingest.py [--duration 10] [--procs 1] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import trio

from loadtest.machine import run_header
from loadtest.spawn import (
    SpawnedService,
    firehose_command,
    load_process,
    loadtest_command,
    spawned_service,
)

STARTUP_S = 1.0  # a generator process imports and connects before it sends


def generator_command(url: str, args: argparse.Namespace, index: int, out: Path) -> list[str]:
    seed = str(100 + index)
    if args.generator == "firehose":
        return firehose_command(
            url, out,
            "--connections", str(args.connections), "--duration", str(args.duration),
            "--seed", seed,
        )  # fmt: skip
    return loadtest_command(
        url, out,
        "--users", str(args.connections), "--dashboards", "0", "--think-time", "0", "0",
        "--duration", str(args.duration), "--seed", seed,
    )  # fmt: skip


async def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        outputs = [Path(scratch) / f"gen-{i}.json" for i in range(args.procs)]
        steady: list[float] = []
        async with spawned_service("subprocess") as service:
            service.pin()
            print(f"service:  {service.command}")
            print(f"cpus:     {service.placement}")
            commands = [
                generator_command(service.url, args, i, out) for i, out in enumerate(outputs)
            ]
            print(f"load:     {args.procs} x {' '.join(commands[0][1:])}")
            async with trio.open_nursery() as nursery:
                for command in commands:
                    nursery.start_soon(_run, command, args.duration + 60)
                nursery.start_soon(_steady_cpu, service, args.duration, steady)
            generators_done = trio.current_time()
        stop_s = trio.current_time() - generators_done
        reports = [json.loads(out.read_text()) for out in outputs]

    sent = sum(r["events_sent"] for r in reports)
    stored = service.events_stored or 0
    window_s = args.duration + stop_s
    lines = [
        "",
        f"{args.procs} {args.generator} process(es) x {args.connections} connections, "
        f"{args.duration:g} s, as fast as they can",
        f"  events sent:   {sent} ({sent / args.duration:.0f}/s over the {args.duration:g} s)",
        f"  events stored: {stored} (counted after SIGTERM; service exit code {service.exit_code})",
        f"  durable ingest: {stored / window_s:.0f} events/s (stored / ({args.duration:g} s of "
        f"load + {stop_s:.1f} s from the generators' exit to the service's exit))",
        "  service CPU in the steady middle of the load: "
        + (f"{100 * steady[0]:.0f}% of one core" if steady else "not measured"),
        "  generator CPU: " + ", ".join(f"{r['client_cpu_s']:.1f} s" for r in reports),
        "  problems: " + ("; ".join(p for r in reports for p in r.get("problems", ())) or "none"),
        "  target: >= 20k events/s durable on one core",
    ]
    if stored != sent:
        lines.append(f"  LOST: {sent - stored} events sent but not stored")
    print("\n".join(lines))


async def _steady_cpu(service: SpawnedService, duration_s: float, out: list[float]) -> None:
    """The service's CPU share away from the generators' start-up (~1 s) and the end."""
    if duration_s < STARTUP_S + 1.5:
        return
    await trio.sleep(STARTUP_S + 0.5)
    cpu, when = service.cpu_seconds(), trio.current_time()
    await trio.sleep(duration_s - 1.5)
    cpu_after = service.cpu_seconds()
    if cpu is not None and cpu_after is not None:
        out.append((cpu_after - cpu) / (trio.current_time() - when))


async def _run(command: list[str], timeout_s: float) -> None:
    async with load_process(command, timeout_s):
        pass  # nothing to do meanwhile: it is done when the process is


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--generator", choices=("firehose", "loadtest"), default="firehose")
    args = parser.parse_args()
    print(run_header())
    trio.run(measure, args)


if __name__ == "__main__":
    main()
