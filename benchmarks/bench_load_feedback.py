"""all_feedback round trip with 10k events/s of other users' ingest (DESIGN.md, "Targets").

Starts the service in a subprocess (defaults, fresh data directory, free
loopback port), then measures twice with the same few dashboards (each
watching a student at its own pace, polling all_feedback every 50 ms):

1. baseline: the dashboards alone;
2. loaded: meanwhile a second process drives ``--students`` students at
   ``--rate`` events/s in total, each sending its own frames one at a time
   (no dashboards of their own).

The service is pinned to one CPU, the generator and the dashboards share
the other(s). The ingest runs in its own process so that the measuring
event loop stays idle, and is the paced firehose (``loadtest/firehose.py``:
the scripted students' frames encoded once) so that it leaves the measuring
process most of its core: the full load tester (``--generator loadtest``)
takes about as much CPU per event as the service. Target: p50 <= 1 ms,
p99 <= 5 ms.

    uv run python benchmarks/bench_load_feedback.py [--rate 10000] [--duration 15]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import trio

from loadtest import LoadOptions, LoadReport, run_load
from loadtest.machine import run_header
from loadtest.spawn import firehose_command, load_process, loadtest_command, spawned_service

WARM_UP_S = 2.0  # the generator's students connect and reach the rate first


def dashboards_only(url: str, args: argparse.Namespace, duration_s: float) -> LoadOptions:
    return LoadOptions(
        urls=(url,),
        users=args.dashboards,
        duration_s=duration_s,
        request_interval_s=args.request_interval,
        request_mix=(("all_feedback", 1.0),),
        think_time_s=(0.2, 1.0),
        seed=11,
    )


def generator_command(url: str, out: Path, args: argparse.Namespace) -> list[str]:
    duration = str(args.duration + WARM_UP_S + 1.0)
    if args.generator == "firehose":
        return firehose_command(
            url, out,
            "--rate", str(args.rate), "--connections", str(args.students),
            "--duration", duration, "--seed", "12",
        )  # fmt: skip
    return loadtest_command(
        url, out,
        "--users", str(args.students), "--dashboards", "0", "--rate", str(args.rate),
        "--duration", duration, "--seed", "12",
    )  # fmt: skip


def figures(report: LoadReport) -> str:
    lat = report.latency_by_content.get("all_feedback", {})
    cells = "  ".join(f"{k} {lat.get(k, float('nan')):8.3f}" for k in ("p50", "p90", "p99", "p999"))
    return f"{cells}  max {lat.get('max', float('nan')):8.3f} ms  (n={lat.get('n', 0)})"


async def measure(args: argparse.Namespace) -> None:
    async with spawned_service("subprocess") as service:
        service.pin()
        print(f"service:  {service.command}")
        print(f"cpus:     {service.placement}")
        cpu = service.cpu_seconds()
        baseline = await run_load(dashboards_only(service.url, args, args.baseline))
        baseline_cpu = service.cpu_seconds() - cpu

        with tempfile.TemporaryDirectory() as scratch:
            ingest_json = Path(scratch) / "ingest.json"
            generator = generator_command(service.url, ingest_json, args)
            print(f"ingest:   {' '.join(generator[1:])}")
            async with load_process(generator, args.duration + 60):
                await trio.sleep(WARM_UP_S)
                cpu = service.cpu_seconds()
                loaded = await run_load(dashboards_only(service.url, args, args.duration))
                loaded_cpu = service.cpu_seconds() - cpu
            ingest = json.loads(ingest_json.read_text())

    sent = ingest["events_sent"] + baseline.events_sent + loaded.events_sent
    lines = [
        "",
        f"all_feedback, {args.dashboards} dashboards, one poll each every "
        f"{args.request_interval * 1000:.0f} ms (round trip until all five replies are in)",
        f"  baseline (no other load), {args.baseline:g} s:",
        f"    {figures(baseline)}",
        f"    service CPU {baseline_cpu:.1f} s; problems: {baseline.problems() or 'none'}",
        f"  under ingest, {args.duration:g} s:",
        f"    {figures(loaded)}",
        f"    service CPU {loaded_cpu:.1f} s in {args.duration:g} s "
        f"({100 * loaded_cpu / args.duration:.0f}% of one core); "
        f"problems: {loaded.problems() or 'none'}",
        f"  ingest achieved ({args.generator}): {ingest['events_per_s']:.0f} of "
        f"{args.rate:.0f} events/s asked ({ingest['events_sent']} events from "
        f"{args.students} students, generator CPU {ingest['client_cpu_s']:.1f} s); "
        f"problems: {ingest.get('problems') or 'none'}",
        f"  events stored by the service: {service.events_stored} (sent: {sent})",
        "  target: p50 <= 1 ms, p99 <= 5 ms with 10k events/s of other users' ingest",
    ]
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--dashboards", type=int, default=4)
    parser.add_argument("--request-interval", type=float, default=0.05)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--baseline", type=float, default=5.0)
    parser.add_argument("--generator", choices=("firehose", "loadtest"), default="firehose")
    args = parser.parse_args()
    print(run_header())
    trio.run(measure, args)


if __name__ == "__main__":
    main()
