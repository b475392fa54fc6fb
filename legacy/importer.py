"""Importing the old service's data directory into the store, one user at a time.

``import_directory`` writes each user with ONE ``write_batch`` (its events,
progress rows and the names of its files), so a user is imported entirely or
not at all, and a second run finds every file recorded and changes nothing.
It must run while the service is stopped: the store allocates sequence numbers
in its one writer, and a second writer would shift them (this is checked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import attrs

from courses import Catalog
from legacy.convert import ImportedUser, read_legacy_user
from legacy.directory import UserFiles, scan_legacy
from legacy.files import LegacyFileError, printable
from store import EventRow, ProgressRow, StoredUser

log = logging.getLogger(__name__)

# format_report lists at most this many problems, skipped and failed users each.
REPORT_MAX_LINES = 20


class LegacyImportError(Exception):
    """The import cannot go on safely; users imported before it stay imported."""


class ImportStore(Protocol):
    """The part of the store the import uses (``SqliteStore``, later PostgreSQL)."""

    def write_batch(
        self,
        events: Sequence[EventRow],
        progress: Sequence[ProgressRow],
        imported: Sequence[tuple[str, str]] = (),
    ) -> None: ...

    def max_seq(self) -> int: ...

    def imported(self, source: str) -> bool: ...

    def load_user(self, user: str) -> StoredUser: ...


class ImportOutcome(StrEnum):
    IMPORTED = "imported"
    ALREADY_IMPORTED = "already imported"  # every file of the user is recorded
    SKIPPED = "skipped"  # data of the user is in the store already: not touched
    FAILED = "failed"  # a file cannot be used as a whole: nothing written


@attrs.frozen
class ImportStatus:
    """Given to the progress callback after each user: ``done`` of ``total`` users."""

    done: int
    total: int
    user: str
    outcome: ImportOutcome
    events: int = 0
    problems: int = 0


@attrs.frozen
class ImportReport:
    """What ``import_directory`` did. ``skipped`` and ``failed`` hold ``"user: why"`` lines."""

    directory: Path
    users: int
    imported: int
    already_imported: int
    skipped: tuple[str, ...]
    failed: tuple[str, ...]
    events: int
    problems: tuple[str, ...]
    ignored_files: tuple[str, ...]

    @property
    def users_skipped(self) -> int:
        """Users not imported by this run although nothing failed."""
        return self.already_imported + len(self.skipped)


def import_directory(
    directory: Path,
    store: ImportStore,
    catalog: Catalog,
    *,
    progress: Callable[[ImportStatus], None] | None = None,
) -> ImportReport:
    """Import every user of an old data directory into ``store``; safe to run again.

    Synchronous, for the CLI (the service runs ``read_legacy_user`` in a
    thread instead). Per user, in id order: skipped if all its files are
    recorded as imported; skipped and reported if some are (files added since
    that import would count twice) or if the store already holds data of the
    user (from the new service); else read and written with one
    ``write_batch``, sequence numbers from ``store.max_seq() + 1``. A user
    whose files cannot be used fails alone, nothing of it written.

    Raises ``LegacyFileError`` if ``directory`` cannot be listed,
    ``StoreError`` if the store refuses a write (users before it stay
    imported; run again to go on), and ``LegacyImportError`` if another
    process wrote to the store meanwhile.
    """
    index = scan_legacy(directory)
    counts = dict.fromkeys(ImportOutcome, 0)
    skipped: list[str] = []
    failed: list[str] = []
    problems: list[str] = []
    events = 0
    for done, files in enumerate(index.users, 1):
        outcome, why, result = _import_user(files, store, catalog)
        counts[outcome] += 1
        if outcome is ImportOutcome.SKIPPED:
            skipped.append(f"{files.user}: {why}")
        elif outcome is ImportOutcome.FAILED:
            failed.append(f"{files.user}: {why}")
            log.warning("legacy.user_failed", extra={"user": files.user, "error": printable(why)})
        if result is not None:
            events += result.seqs_used
            problems += result.problems
        if progress is not None:
            progress(
                ImportStatus(
                    done,
                    len(index.users),
                    files.user,
                    outcome,
                    result.seqs_used if result else 0,
                    len(result.problems) if result else 0,
                )
            )
    return ImportReport(
        index.directory,
        len(index.users),
        counts[ImportOutcome.IMPORTED],
        counts[ImportOutcome.ALREADY_IMPORTED],
        tuple(skipped),
        tuple(failed),
        events,
        tuple(problems),
        index.ignored,
    )


def _import_user(
    files: UserFiles, store: ImportStore, catalog: Catalog
) -> tuple[ImportOutcome, str, ImportedUser | None]:
    names = [file.name for file in files.files]
    recorded = [name for name in names if store.imported(name)]
    if len(recorded) == len(names):
        return ImportOutcome.ALREADY_IMPORTED, "", None
    if recorded:
        new = sorted(set(names) - set(recorded))
        return ImportOutcome.SKIPPED, f"imported before; not imported now: {', '.join(new)}", None
    stored = store.load_user(files.user)
    if stored.progress or stored.tail:
        return ImportOutcome.SKIPPED, "the store already holds data of this user", None
    first_seq = store.max_seq() + 1
    try:
        result = read_legacy_user(files, catalog, first_seq=first_seq)
    except LegacyFileError as exc:
        return ImportOutcome.FAILED, str(exc), None
    store.write_batch(result.events, result.progress, imported=result.sources)
    if result.seqs_used and store.max_seq() != first_seq + result.seqs_used - 1:
        raise LegacyImportError(
            f"user {files.user}: another process wrote to the store during the import, so its "
            "sequence numbers moved; stop the service, restore the store and import again"
        )
    return ImportOutcome.IMPORTED, "", result


def format_report(report: ImportReport) -> str:
    """A few lines for people: counts, then the first problems and reasons.

    Every entry is escaped (``printable``): a file name holding a newline
    cannot forge a line of the report.
    """
    lines = [
        f"legacy import from {printable(str(report.directory))}: {report.users} user(s) found",
        f"  imported: {report.imported} user(s), {report.events} event(s)",
        f"  skipped: {report.users_skipped} user(s) ({report.already_imported} already "
        f"imported, {len(report.skipped)} left alone, see below)",
        f"  failed: {len(report.failed)} user(s) (nothing written for them)",
        f"  problems: {len(report.problems)} line(s) or row(s) not imported as they stood",
    ]
    sections = [
        ("failed", report.failed),
        ("skipped", report.skipped),
        ("problems", report.problems),
        ("ignored files", report.ignored_files),
    ]
    for title, entries in sections:
        if entries:
            lines.append(f"{title}:")
            lines += [f"  {printable(entry)}" for entry in entries[:REPORT_MAX_LINES]]
            if len(entries) > REPORT_MAX_LINES:
                lines.append(f"  ... and {len(entries) - REPORT_MAX_LINES} more")
    return "\n".join(lines)
