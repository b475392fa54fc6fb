"""``forget USER`` and ``export-user USER FILE``: a user's data erased or handed over.

``forget`` runs with the service stopped (it takes the store's lock, so it
refuses beside a running service or an import, and then says to use
``POST /admin/forget/<user>``, which the running service answers): one transaction erases the user's
events, statements, feedback, snapshots and import records, the freed pages
are zeroed and reclaimed as the store allows, and the report lists the
backups this store knows of, which still hold the user. ``export-user``
runs while the service serves (``cli.subject``). Both print a JSON report
on stdout and write an audit line (``audit.forget``, ``audit.export_user``):
who ran it, on whom, what came out; never a payload.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from access.audit import audit
from cli.exports import failed
from config.settings import Settings

# What to do when a service holds the store (the CLI cannot reach into its memory).
WHILE_SERVING = (
    "while the service runs, forget with POST /admin/forget/<user> on its HTTP port and an "
    "admin's Bearer token (SECURITY.md, 'Forget'): it erases memory and the store at once"
)


def add_rights_commands(commands: argparse._SubParsersAction) -> None:
    forget = commands.add_parser(
        "forget",
        help="erase one user's events, snapshots and import records (service stopped)",
    )
    forget.add_argument("user", metavar="USER")
    forget.add_argument("--dry-run", action="store_true", help="count, erase nothing")
    forget.add_argument(
        "--vacuum", action="store_true", help="then rewrite the store to give free pages back"
    )
    export = commands.add_parser(
        "export-user",
        help="everything stored about USER, and their analytics, to FILE (JSON lines)",
    )
    export.add_argument("user", metavar="USER")
    export.add_argument("destination", type=Path, metavar="FILE")
    export.add_argument("--force", action="store_true", help="write over an existing FILE")
    export.add_argument("--comparison-graphs", dest="comparison_graphs", default=None)
    for command in (forget, export):
        command.add_argument("--data", dest="data_path", default=None, help="the store (DATA_PATH)")


def operator() -> str:
    """Who runs the command, for the audit log: ``cli:alice`` (``cli:uid 10001`` in a container)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for this uid (a container's user)
        return f"cli:uid {os.getuid()}"


def run_forget(args: argparse.Namespace, settings: Settings) -> int:
    from legacy import owns_source  # noqa: PLC0415 - pulls the legacy package in
    from store import StoreBusyError, StoreError  # noqa: PLC0415
    from store.backup_log import BACKUPS_NAME, known_backups  # noqa: PLC0415
    from store.erase import forget_offline  # noqa: PLC0415

    user = args.user
    who = operator()
    try:
        report = forget_offline(
            settings.data_path,
            user,
            owns_source=owns_source(user),
            dry_run=args.dry_run,
            vacuum=args.vacuum,
        )
    except StoreBusyError as exc:
        audit("forget", who=who, outcome="failed", user=user, via="cli", error=str(exc))
        # The running service holds the user in memory too: only it can forget them.
        return failed("forget", StoreBusyError(f"{exc}; {WHILE_SERVING}"))
    except StoreError as exc:
        audit("forget", who=who, outcome="failed", user=user, via="cli", error=str(exc))
        return failed("forget", exc)
    backups = known_backups(settings.data_path)
    audit(
        "forget",
        who=who,
        outcome="dry_run" if args.dry_run else "done",
        user=user,
        via="cli",
        events=report.total_events,
        progress_rows=report.progress,
        import_records=report.imports,
        backups_holding_data=len(backups),
    )
    result = report.to_json() | {
        "dry_run": args.dry_run,
        "backups": [backup.to_json() for backup in backups],
        "backups_note": (
            f"backups made before this still hold the user's data; listed: those "
            f"`learning-analytics backup` recorded in {BACKUPS_NAME} (copies made "
            "otherwise are not known)"
        ),
    }
    print(json.dumps(result, indent=2))
    return 0


def run_export_user(args: argparse.Namespace, settings: Settings) -> int:
    from cli.subject import SubjectExportError, export_user  # noqa: PLC0415
    from courses import CourseError, load_catalog  # noqa: PLC0415

    who = operator()
    try:
        catalog = load_catalog(settings.comparison_graphs)
        report = export_user(
            settings.data_path,
            args.user,
            args.destination,
            catalog,
            tz=ZoneInfo(settings.time_zone),
            force=args.force,
        )
    except (CourseError, SubjectExportError) as exc:
        audit("export_user", who=who, outcome="failed", user=args.user, error=str(exc))
        return failed("export-user", exc)
    audit(
        "export_user",
        who=who,
        outcome="done",
        user=args.user,
        events=report.events,
        file=str(report.destination),
    )
    print(json.dumps(report.to_json(), indent=2))
    return 0
