"""``learning-analytics loadtest``: the command line of the load tester.

    learning-analytics loadtest --spawn --users 200 --duration 60
    learning-analytics loadtest --url ws://127.0.0.1:8000 --users 50 --rate 2000 --json out.json

Exit codes: 0 the run completed and every request was fully and correctly
answered; 1 something went wrong (missing or wrong replies, errors,
dropped connections, events not stored, a service that would not start);
2 a usage error (bad flags, a remote host without ``--allow-remote``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import attrs
import trio

from loadtest.options import LoadOptions, LoadTestError, check_targets
from loadtest.plot import plot_timeline
from loadtest.progress import progress_display
from loadtest.report import LoadReport, format_report
from loadtest.runner import ProgressCallback, run_load
from loadtest.spawn import SPAWN_KINDS, run_spawned

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PROGRESS_INTERVAL_S = 2.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learning-analytics loadtest",
        description="Scripted fake students and dashboards against the service; "
        "prints what was achieved and what went wrong.",
    )
    target = parser.add_argument_group("target (one of)")
    target.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="URL",
        help="hub URL (ws://127.0.0.1:8000) or relay stream URLs, repeatable",
    )
    target.add_argument(
        "--spawn",
        nargs="?",
        const="subprocess",
        choices=SPAWN_KINDS,
        help="start a fresh service on a free loopback port (default: a subprocess), "
        "load it, stop it and count its store",
    )
    parser.add_argument("--users", type=int, default=10, help="fake students (default 10)")
    parser.add_argument(
        "--dashboards", type=int, default=None, help="how many students have a dashboard (all)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    parser.add_argument(
        "--rate", type=float, default=None, help="target events/s over all students"
    )
    parser.add_argument(
        "--request-interval", type=float, default=2.0, help="dashboard poll period (s)"
    )
    parser.add_argument(
        "--think-time",
        type=float,
        nargs=2,
        default=None,
        metavar=("MIN", "MAX"),
        help="seconds between a student's events without --rate (default 0.5 3)",
    )
    parser.add_argument(
        "--reply-timeout", type=float, default=5.0, help="a request is missing after (s)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not loopback"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="latency per second (matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress display")
    return parser


def options_from(args: argparse.Namespace, urls: Sequence[str]) -> LoadOptions:
    extra = {} if args.think_time is None else {"think_time_s": tuple(args.think_time)}
    return LoadOptions(
        urls=tuple(urls),
        users=args.users,
        dashboards=args.dashboards,
        duration_s=args.duration,
        rate=args.rate,
        seed=args.seed,
        allow_remote=args.allow_remote,
        request_interval_s=args.request_interval,
        reply_timeout_s=args.reply_timeout,
        **extra,
    )


def cli_main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (never calls ``sys.exit``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad flags (2)
        return int(exc.code or 0)
    if bool(args.url) == bool(args.spawn):
        print("error: give either --url (one or more) or --spawn", file=sys.stderr)
        return EXIT_USAGE
    try:
        # Validated up front with a stand-in URL when spawning, so that a bad
        # flag is a usage error before any service is started.
        options = options_from(args, args.url or ["ws://127.0.0.1:1"])
        check_targets(options)
    except (ValueError, LoadTestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with progress_display(enabled=not args.no_progress) as on_progress:
            report = trio.run(partial(_run, args, options, on_progress))
    except LoadTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: no report", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _emit(report, args)


def _emit(report: LoadReport, args: argparse.Namespace) -> int:
    """Print the report, write the JSON and the plot; the exit code of the run."""
    print(format_report(report))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write the JSON report: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"JSON report written to {args.json}")
    if args.plot is not None:
        print(plot_timeline(report, args.plot))
    return EXIT_OK if report.ok else EXIT_FAILED


async def _run(
    args: argparse.Namespace, options: LoadOptions, on_progress: ProgressCallback | None
) -> LoadReport:
    if args.spawn:
        return await run_spawned(
            lambda url: attrs.evolve(options, urls=(url,)),
            args.spawn,
            on_progress=on_progress,
            progress_interval_s=PROGRESS_INTERVAL_S,
        )
    return await run_load(options, on_progress=on_progress, progress_interval_s=PROGRESS_INTERVAL_S)
