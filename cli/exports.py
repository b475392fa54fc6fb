"""``export-events FILE`` and ``export-legacy DIR``: the data going out, from the command line.

Both read one snapshot of the store, so they run while the service serves;
both refuse an existing target unless ``--force``; both show progress on a
terminal (a rich bar on stderr) and print a JSON report on stdout. Exit 0,
or 1 with one line on stderr saying why. What they need is imported when
they run, so that parsing the command line stays light.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.settings import Settings

EXIT_FAILED = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def add_export_commands(commands: argparse._SubParsersAction) -> None:
    """The two commands' flags (``--data``, ``--comparison-graphs`` as ``serve``'s)."""
    events = commands.add_parser(
        "export-events",
        help="every stored event to FILE, one row each (process-mining columns)",
    )
    events.add_argument("destination", type=Path, metavar="FILE")
    events.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    events.add_argument(
        "--course",
        action="append",
        default=[],
        metavar="[EXP-]COURSE",
        type=course_key,
        help="only this course (spinner-cie3), or this course code in any lab (engdes1); "
        "repeatable",
    )
    events.add_argument("--since", type=time_ms, metavar="TIME", help="t >= TIME (ISO 8601 or ms)")
    events.add_argument("--until", type=time_ms, metavar="TIME", help="t < TIME (ISO 8601 or ms)")
    legacy = commands.add_parser(
        "export-legacy", help="the store again in the old service's layout, into DIR"
    )
    legacy.add_argument("directory", type=Path, metavar="DIR")
    for command in (events, legacy):
        command.add_argument("--force", action="store_true", help="write over an existing target")
        command.add_argument("--data", dest="data_path", default=None, help="the store (DATA_PATH)")
        command.add_argument("--comparison-graphs", dest="comparison_graphs", default=None)


def course_key(text: str) -> tuple[str | None, str]:
    """``spinner-cie3`` -> ``("spinner", "cie3")``; ``cie3`` -> ``(None, "cie3")``."""
    exp, dash, course = text.partition("-")
    return (exp, course) if dash else (None, text)


def time_ms(text: str) -> int:
    """ISO 8601 (``2023-01-09``, ``2023-01-09T10:00:00Z``; no zone means UTC) or ms."""
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (2023-01-09T10:00:00Z) nor milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def run_export_events(args: argparse.Namespace, settings: Settings) -> int:
    from courses import CourseError, load_catalog  # noqa: PLC0415
    from exports import ExportError, ExportFormat, export_events  # noqa: PLC0415
    from store.snapshot import EventFilter  # noqa: PLC0415

    where = EventFilter(courses=tuple(args.course), since_ms=args.since, until_ms=args.until)
    try:
        catalog = load_catalog(settings.comparison_graphs)
        with progress_bar("events") as progress:
            report = export_events(
                settings.data_path,
                args.destination,
                catalog,
                output_format=ExportFormat(args.format),
                where=where,
                force=args.force,
                progress=progress,
            )
    except (CourseError, ExportError) as exc:
        return failed("export-events", exc)
    print(json.dumps(report.to_json(), indent=2))
    return 0


def run_export_legacy(args: argparse.Namespace, settings: Settings) -> int:
    from courses import CourseError, load_catalog  # noqa: PLC0415
    from legacy.export import LegacyExportError, export_legacy  # noqa: PLC0415

    try:
        catalog = load_catalog(settings.comparison_graphs)
        with progress_bar("users") as progress:
            report = export_legacy(
                settings.data_path, args.directory, catalog, force=args.force, progress=progress
            )
    except (CourseError, LegacyExportError) as exc:
        return failed("export-legacy", exc)
    print(json.dumps(report.to_json(), indent=2))
    return 0


def failed(command: str, exc: Exception) -> int:
    from legacy.files import printable  # noqa: PLC0415

    print(f"learning-analytics {command}: {printable(str(exc))}", file=sys.stderr)
    return EXIT_FAILED


@contextmanager
def progress_bar(unit: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``(done, total)`` callback drawing a bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415 - only on a terminal
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"exporting {unit}", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
