"""``learning-analytics import-legacy PATH``: fill the store from an old data directory.

Runs with the service stopped (the store's lock refuses it otherwise), shows
one line per user, and reports unreadable lines without stopping. Every line
it prints is escaped (``legacy.files.printable``): names in a hostile
directory cannot forge output lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from config.settings import Settings
from courses import CourseError, load_catalog
from legacy.files import LegacyFileError, printable
from legacy.importer import ImportOutcome, ImportStatus, format_report, import_directory
from store import SqliteStore, StoreError

EXIT_FAILED = 1


def run_import_legacy(directory: Path, settings: Settings) -> int:
    """Import every user of ``directory`` into the store of ``settings``; 0 on success."""
    try:
        catalog = load_catalog(settings.comparison_graphs)
        store = SqliteStore(settings.data_path)
    except (CourseError, StoreError) as exc:
        print(f"learning-analytics: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    try:
        report = import_directory(directory, store, catalog, progress=_show_progress)
    except (StoreError, LegacyFileError) as exc:
        print(f"learning-analytics: the import stopped: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    print(format_report(report))
    return EXIT_FAILED if report.failed else 0


def _show_progress(status: ImportStatus) -> None:
    mark = {ImportOutcome.IMPORTED: "+", ImportOutcome.FAILED: "!"}.get(status.outcome, "=")
    print(
        f"[{status.done}/{status.total}] {mark} {printable(status.user)}: {status.outcome}"
        f" ({status.events} events, {status.problems} problems)",
        file=sys.stderr,
        flush=True,
    )
