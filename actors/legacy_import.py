"""Importing the old service's data directory into the store, one user at a time.

What the old service answered for a user on a course was its adjacency CSV
plus ONE conversion of all the unconverted log lines of that course across
the user's hardware files (sorted by ``t`` when there are several hardware
values), and enjoyment from its feedback CSV. ``read_legacy_user`` rebuilds
exactly that state (``CourseProgress.import_legacy``), and also turns every
readable log line and feedback row into an event, so the raw research data
is kept (file layout and accepted line shapes: ``actors.legacy_files``).

Choices made here:

- Only ``analytics`` frames enter the graph; ``log`` frames never do
  (PROTOCOL.md). ``feedback`` frames found in a log file are stored but not
  tallied: the old service took enjoyment from the feedback CSV alone, and
  counting both would count some feedback twice.
- Events are numbered from ``first_seq`` in a fixed order: courses by
  ``(exp, course)``, within a course the log files by name then line order,
  then the feedback rows. ``received_ms`` is the event's ``t``: the old
  service kept no arrival time, and ``t`` is the closest known one. Feedback
  rows without a time get ``t = 0`` (unknown).
- Events of a course the catalog does not define are stored without a
  progress row; its adjacency matrix has nowhere to go and is reported (the
  file stays on disk: the import never changes or deletes legacy files).
- Progress rows share one ``seq``, the user's last: a session snapshots all
  its courses together (``SqliteStore.load_user``).

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
from typing import Any, Protocol

import attrs
import numpy as np

from actors.legacy_files import (
    CourseFiles,
    FeedbackRow,
    LegacyFile,
    LegacyFileError,
    LegacyIndex,
    UserFiles,
    file_detail,
    has_legacy_files,
    read_adjacency,
    read_feedback,
    read_log,
    scan_legacy,
)
from actors.store import EventRow, ProgressRow, StoredUser
from analytics import UiEvent
from analytics.progress import CourseProgress
from courses import Catalog
from messages import AnalyticsEvent, Event

__all__ = [
    "CourseFiles",
    "ImportOutcome",
    "ImportReport",
    "ImportStatus",
    "ImportedUser",
    "LegacyFile",
    "LegacyFileError",
    "LegacyImportError",
    "LegacyIndex",
    "UserFiles",
    "format_report",
    "has_legacy_files",
    "import_directory",
    "read_legacy_user",
    "scan_legacy",
]

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


@attrs.frozen
class ImportedUser:
    """What ``read_legacy_user`` made of one user's files, ready for one ``write_batch``.

    ``seqs_used`` events are numbered ``first_seq`` onwards; ``sources`` are
    the ``(file name, detail)`` pairs to record as imported; ``problems`` are
    the lines and rows that were not imported as they stood, one line each.
    """

    user: str
    events: tuple[EventRow, ...]
    progress: tuple[ProgressRow, ...]
    seqs_used: int
    problems: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]


def read_legacy_user(files: UserFiles, catalog: Catalog, *, first_seq: int) -> ImportedUser:
    """Read every file of one user: its events, its progress per defined course, its problems.

    Pure CPU and file reading, no store access, so the service can run it in
    ``trio.to_thread``. Line and row problems never stop it. Raises
    ``LegacyFileError`` when a file cannot be used as a whole (unreadable, an
    adjacency matrix that does not fit its course, a feedback CSV without
    ``state``/``subject``): nothing of the user should then be imported.
    """
    reads: list[_CourseRead] = []
    seq = first_seq
    for course_files in files.courses:
        read = _read_course(files.user, course_files, catalog, first_seq=seq)
        reads.append(read)
        seq += len(read.events)
    last_seq = seq - 1
    return ImportedUser(
        files.user,
        tuple(event for read in reads for event in read.events),
        tuple(
            ProgressRow(files.user, read.files.exp, read.files.course, last_seq, read.record)
            for read in reads
            if read.record is not None
        ),
        seq - first_seq,
        tuple(problem for read in reads for problem in read.problems),
        tuple(source for read in reads for source in read.sources),
    )


@attrs.define
class _CourseRead:
    """What one course of one user gives, built up by ``_read_course``."""

    files: CourseFiles
    events: list[EventRow]
    record: dict[str, Any] | None  # None: the catalog does not define the course
    problems: list[str]
    sources: list[tuple[str, str]]


def _read_course(user: str, files: CourseFiles, catalog: Catalog, *, first_seq: int) -> _CourseRead:
    """One course of one user: log files by name, then feedback rows; then its progress."""
    course = catalog.course(files.exp, files.course)
    read = _CourseRead(files, [], None, [], [])
    commands: list[UiEvent] = []
    for file in files.logs:
        log_read = read_log(file)
        read.problems.extend(log_read.problems)
        read.sources.append((file.name, log_read.detail))
        for message in log_read.events:
            read.events.append(_event_row(first_seq + len(read.events), message))
            if isinstance(message, AnalyticsEvent):
                commands.append(UiEvent(message.t, message.hardware, message.payload.log))
    feedback: tuple[FeedbackRow, ...] = ()
    if files.feedback is not None:
        feedback_read = read_feedback(files.feedback)
        feedback = feedback_read.rows
        read.problems.extend(feedback_read.problems)
        read.sources.append((files.feedback.name, feedback_read.detail))
        for row in feedback:
            seq = first_seq + len(read.events)
            read.events.append(_feedback_event(seq, user, files, row))
    if course is None:
        if files.adjacency is not None:
            why = f"course {files.exp}-{files.course} is not defined"
            read.problems.append(f"{files.adjacency.name}: {why}; its matrix is not imported")
            read.sources.append(
                (files.adjacency.name, file_detail(files.adjacency, not_imported=why))
            )
        return read
    n = len(course.nodes)
    matrix = np.zeros((n, n), dtype=np.int64)
    if files.adjacency is not None:
        matrix, detail = read_adjacency(files.adjacency, course)
        read.sources.append((files.adjacency.name, detail))
    progress = CourseProgress(course)
    progress.import_legacy(matrix, commands)
    for row in feedback:
        progress.add_feedback(row.state, row.subject)
    read.record = progress.to_record()
    return read


def _event_row(seq: int, message: Event) -> EventRow:
    # received_ms: unknown; t is the best estimate (module docstring)
    return EventRow.of(seq, message, hardware=message.hardware, received_ms=message.t)


def _feedback_event(seq: int, user: str, files: CourseFiles, row: FeedbackRow) -> EventRow:
    exp, course = files.exp, files.course
    return EventRow(seq, user, "feedback", exp, course, row.hardware, row.t, row.t, row.payload())


# --- The CLI's import --------------------------------------------------------------


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
            log.warning("legacy.user_failed", extra={"user": files.user, "error": why})
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
    """A few lines for people: counts, then the first problems and reasons."""
    lines = [
        f"legacy import from {report.directory}: {report.users} user(s) found",
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
            lines += [f"  {entry}" for entry in entries[:REPORT_MAX_LINES]]
            if len(entries) > REPORT_MAX_LINES:
                lines.append(f"  ... and {len(entries) - REPORT_MAX_LINES} more")
    return "\n".join(lines)
