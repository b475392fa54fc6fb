"""``learning-analytics loadtest``: the command line of the load tester.

    learning-analytics loadtest --spawn --users 200 --duration 60
    learning-analytics loadtest --url ws://127.0.0.1:8000 --users 50 --rate 2000 --json out.json
    learning-analytics loadtest --protocol v2 --url http://127.0.0.1:8001 --users 100
    learning-analytics loadtest --protocol both --spawn --users 100 --duration 30

``--protocol`` picks the clients: v1 (default) the 2023 WebSocket UIs and
dashboards, v2 today's HTTP ones (PROTOCOL-V2.md), both side by side on one
service with the same flags each. ``--url`` takes ws:// URLs for v1 and one
http:// URL (the service's ``--http-listen``) for v2.

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
from typing import Any

import attrs
import trio

from loadtest.options import LoadOptions, LoadTestError, check_targets
from loadtest.plot import plot_timeline
from loadtest.progress import progress_display
from loadtest.protocols import Reports, run_protocols, run_spawned_protocols
from loadtest.runner import ProgressCallback
from loadtest.spawn import SPAWN_KINDS
from loadtest.v2options import DEFAULT_OVERTAKE_SHARE, V2Options, check_v2_target

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
        help="hub URL (ws://127.0.0.1:8000) or relay stream URLs, repeatable; for v2 the "
        "HTTP listener (http://127.0.0.1:8001)",
    )
    target.add_argument(
        "--spawn",
        nargs="?",
        const="subprocess",
        choices=SPAWN_KINDS,
        help="start a fresh service on a free loopback port (default: a subprocess), "
        "load it, stop it and count its store",
    )
    parser.add_argument(
        "--protocol",
        choices=("v1", "v2", "both"),
        default="v1",
        help="v1: WebSocket clients (default); v2: HTTP clients; both: side by side",
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
    v2 = parser.add_argument_group("v2 (HTTP) clients")
    v2.add_argument(
        "--overtake-share",
        type=float,
        default=DEFAULT_OVERTAKE_SHARE,
        help="share of a student's steps that send two statements at once (default 0.05)",
    )
    v2.add_argument(
        "--ui-credential",
        default=None,
        metavar="TOKEN",
        help="the UIs' shared credential, sent as 'Authorization: Basic TOKEN' with addLog",
    )
    v2.add_argument("--time-zone", default="UTC", help="the service's --time-zone (UTC)")
    v2.add_argument("--completion-threshold", type=float, default=0.8, help="the service's (0.8)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not loopback"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="latency per second (matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress display")
    return parser


def pacing_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Pacing`` fields both protocols' options take from the command line."""
    pacing: dict[str, Any] = {
        "users": args.users,
        "dashboards": args.dashboards,
        "duration_s": args.duration,
        "rate": args.rate,
        "seed": args.seed,
        "allow_remote": args.allow_remote,
        "request_interval_s": args.request_interval,
        "reply_timeout_s": args.reply_timeout,
    }
    if args.think_time is not None:
        pacing["think_time_s"] = tuple(args.think_time)
    return pacing


def options_from(args: argparse.Namespace, urls: Sequence[str]) -> LoadOptions:
    return LoadOptions(urls=tuple(urls), **pacing_from(args))


def v2_options_from(args: argparse.Namespace, url: str) -> V2Options:
    return V2Options(
        url=url,
        **pacing_from(args),
        overtake_share=args.overtake_share,
        credential=args.ui_credential,
        time_zone=args.time_zone,
        completion_threshold=args.completion_threshold,
    )


def _targets(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """``--url`` split by protocol: the ws:// ones for v1, the one http:// for v2.

    Raises ``LoadTestError`` naming what the protocol asked lacks. Spawning,
    stand-ins: the options are checked before any service is started.
    """
    if args.spawn:
        return ["ws://127.0.0.1:1"], "http://127.0.0.1:1"
    http = [url for url in args.url if url.startswith("http://")]
    ws = [url for url in args.url if not url.startswith("http://")]
    if args.protocol == "v2" and (ws or len(http) != 1):
        raise LoadTestError("--protocol v2 takes one --url http://HOST:PORT (--http-listen)")
    if args.protocol == "both" and (not ws or len(http) != 1):
        raise LoadTestError("--protocol both takes ws:// URL(s) and one http:// URL")
    return ws if args.protocol != "v1" else args.url, (http[0] if http else None)


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
        # Validated up front (with stand-in URLs when spawning), so that a bad
        # flag is a usage error before any service is started.
        ws_urls, http_url = _targets(args)
        v1 = v2 = None
        if args.protocol != "v2":
            v1 = options_from(args, ws_urls)
            check_targets(v1)
        if args.protocol != "v1":
            v2 = v2_options_from(args, str(http_url))
            check_v2_target(v2)
    except (ValueError, LoadTestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with progress_display(enabled=not args.no_progress) as on_progress:
            reports = trio.run(partial(_run, args, v1, v2, on_progress))
    except LoadTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: no report", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _emit(reports, args)


def _emit(reports: Reports, args: argparse.Namespace) -> int:
    """Print the report(s), write the JSON and the plot; the exit code of the run."""
    print(reports.format())
    if args.json is not None:
        try:
            text = json.dumps(reports.to_json(), indent=2) + "\n"
            args.json.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write the JSON report: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"JSON report written to {args.json}")
    if args.plot is not None:
        shown = reports.v1 or reports.v2
        if shown is not None:
            print(plot_timeline(shown, args.plot))
    return EXIT_OK if reports.ok else EXIT_FAILED


async def _run(
    args: argparse.Namespace,
    v1: LoadOptions | None,
    v2: V2Options | None,
    on_progress: ProgressCallback | None,
) -> Reports:
    if args.spawn:
        return await run_spawned_protocols(
            None if v1 is None else lambda url: attrs.evolve(v1, urls=(url,)),
            None if v2 is None else lambda url: attrs.evolve(v2, url=url),
            args.spawn,
            on_progress=on_progress,
            progress_interval_s=PROGRESS_INTERVAL_S,
        )
    return await run_protocols(
        v1, v2, on_progress=on_progress, progress_interval_s=PROGRESS_INTERVAL_S
    )
