"""v2 reads and v1 all_feedback latency, each alone and under 1,000 v2 statements/s.

Issue 14's targets: ``studentGraph`` and ``taskCompletion`` p99 <= 10 ms under
1,000 statements/s of other students; the WebSocket ``all_feedback`` round
trip no slower with the v2 load beside it (than alone in the same run, and
than its recorded figures in docs/BENCHMARKS.md).

Starts the service in a subprocess (``serve --http-listen``, defaults, fresh
data directory) pinned to CPU 0; everything else runs on CPU 1. Four phases
on the one service, each measured by probes run in this process:

1. v2 probe alone: ``--probes`` v2 students at their own pace, each with a
   dashboard asking ``studentGraph`` or ``taskCompletion`` every
   ``--request-interval`` s, every reply checked against the reference;
2. v1 probe alone: ``--probes`` v1 dashboards polling ``all_feedback``;
3. and 4. the same two probes while a second process (the load tester,
   ``--protocol v2 --dashboards 0``) posts ``--rate`` statements/s for
   ``--students`` other students over keep-alive connections.

The generator runs in its own process so that the measuring event loop stays
idle. Loopback only; every phase is bounded by its duration.

    uv run python benchmarks/bench_v2_load.py [--rate 1000] [--duration 15] [--baseline 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import trio

from loadtest import LoadOptions, LoadReport, run_load
from loadtest.machine import run_header
from loadtest.spawn import load_process, spawned_service
from loadtest.v2options import V2Options
from loadtest.v2report import V2Report
from loadtest.v2runner import run_load_v2

WARM_UP_S = 2.0  # the generator's students start and reach the rate first
V2_PROBED = ("studentGraph", "taskCompletion")


def v2_probe(url: str, args: argparse.Namespace, duration_s: float, seed: int) -> V2Options:
    return V2Options(
        url=url,
        users=args.probes,
        duration_s=duration_s,
        request_interval_s=args.request_interval,
        request_mix=tuple((endpoint, 1.0) for endpoint in V2_PROBED),
        think_time_s=(0.2, 1.0),
        seed=seed,
    )


def v1_probe(url: str, args: argparse.Namespace, duration_s: float, seed: int) -> LoadOptions:
    return LoadOptions(
        urls=(url,),
        users=args.probes,
        duration_s=duration_s,
        request_interval_s=args.request_interval,
        request_mix=(("all_feedback", 1.0),),
        think_time_s=(0.2, 1.0),
        seed=seed,
    )


def generator_command(http_url: str, out: Path, args: argparse.Namespace) -> list[str]:
    duration = 2 * args.duration + WARM_UP_S + 2.0
    return [
        sys.executable, "-m", "loadtest", "--protocol", "v2", "--url", http_url,
        "--users", str(args.students), "--dashboards", "0", "--rate", str(args.rate),
        "--duration", str(duration), "--seed", "12", "--no-progress", "--json", str(out),
    ]  # fmt: skip


def cells(figures: dict) -> str:
    nan = float("nan")
    row = "  ".join(f"{k} {figures.get(k) or nan:7.2f}" for k in ("p50", "p90", "p99", "p999"))
    return f"{row}  max {figures.get('max') or nan:7.2f} ms  (n={figures.get('n', 0)})"


def v2_lines(label: str, report: V2Report, cpu_s: float, wall_s: float) -> list[str]:
    lines = [f"  {label}: service CPU {100 * cpu_s / wall_s:.0f}% of its core"]
    for endpoint in (*V2_PROBED, "addLog"):  # the probe students' own statements too
        lines.append(f"    {endpoint:15s} {cells(report.latency_by_endpoint.get(endpoint, {}))}")
    lines.append(
        f"    replies checked exactly {report.checked_exact}, shape only "
        f"{report.checked_shape_only}; problems: {report.problems() or 'none'}"
    )
    return lines


def v1_lines(label: str, report: LoadReport, cpu_s: float, wall_s: float) -> list[str]:
    figures = report.latency_by_content.get("all_feedback", {})
    return [
        f"  {label}: service CPU {100 * cpu_s / wall_s:.0f}% of its core",
        f"    all_feedback    {cells(figures)}",
        f"    problems: {report.problems() or 'none'}",
    ]


async def measure(args: argparse.Namespace) -> None:
    lines: list[str] = []
    probes_stored = [0]  # statements the v2 probes had answered 200
    async with spawned_service("subprocess", http=True) as service:
        service.pin()
        http_url = str(service.http_url)
        print(f"service:  {service.command}")
        print(f"cpus:     {service.placement}")

        async def phase(kind: str, label: str, duration_s: float, seed: int) -> None:
            # Each phase has its own seed, so its own students: the reference starts empty.
            def elapsed() -> float:
                return trio.current_time() - started

            # The CPU share over the phase's wall time: a phase outlasts its duration by the
            # wait for its last replies.
            cpu, started = service.cpu_seconds(), trio.current_time()
            if kind == "v2":
                report = await run_load_v2(v2_probe(http_url, args, duration_s, seed))
                probes_stored[0] += report.statements_stored
                lines.extend(v2_lines(label, report, service.cpu_seconds() - cpu, elapsed()))
            else:
                report = await run_load(v1_probe(service.url, args, duration_s, seed))
                lines.extend(v1_lines(label, report, service.cpu_seconds() - cpu, elapsed()))

        await phase("v2", f"v2 reads alone, {args.baseline:g} s", args.baseline, 21)
        await phase("v1", f"v1 all_feedback alone, {args.baseline:g} s", args.baseline, 22)
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "generator.json"
            generator = generator_command(http_url, out, args)
            print(f"load:     {' '.join(generator[1:])}")
            async with load_process(generator, 2 * args.duration + 90):
                await trio.sleep(WARM_UP_S)
                await phase(
                    "v2", f"v2 reads under the v2 load, {args.duration:g} s", args.duration, 23
                )
                await phase("v1", f"all_feedback under the v2 load, {args.duration:g} s",
                            args.duration, 24)  # fmt: skip
            load = json.loads(out.read_text())
    add_log = load["latency_by_endpoint"].get("addLog", {})
    lines += [
        f"  the v2 load: {load['statements_per_s']:.0f} of {args.rate:.0f} statements/s asked "
        f"({load['statements_sent']} sent, {load['statements_stored']} answered 200, "
        f"{args.students} students, generator CPU {load['client_cpu_s']:.1f} s); "
        f"problems: {load['problems'] or 'none'}",
        f"    addLog (durable) {cells(add_log)}",
        f"  statements answered 200: {load['statements_stored'] + probes_stored[0]} (the load's "
        f"and the probes'); in the store after the stop: {service.stored_by_type}",
        f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "  targets: studentGraph, taskCompletion p99 <= 10 ms under 1,000 statements/s; "
        "all_feedback no slower beside the v2 load",
    ]
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1_000.0, help="v2 statements/s in total")
    parser.add_argument("--students", type=int, default=250, help="students of the v2 load")
    parser.add_argument("--probes", type=int, default=4, help="probe dashboards per protocol")
    parser.add_argument("--request-interval", type=float, default=0.05)
    parser.add_argument("--duration", type=float, default=15.0, help="each loaded phase (s)")
    parser.add_argument("--baseline", type=float, default=8.0, help="each phase alone (s)")
    args = parser.parse_args()
    print(run_header())
    trio.run(measure, args)


if __name__ == "__main__":
    main()
