"""One user's old files turned into store rows: events, progress snapshots, problems.

What the old service answered for a user on a course was its adjacency CSV
plus ONE conversion of all the unconverted log lines of that course across
the user's hardware files (sorted by ``t`` when there are several hardware
values), and enjoyment from its feedback CSV. ``read_legacy_user`` rebuilds
exactly that state (``CourseProgress.import_legacy``), and also turns every
readable log line and feedback row into an event, so the raw research data
is kept (file layout and accepted line shapes: ``legacy.directory``).

Choices made here:

- Only ``analytics`` frames enter the graph; ``log`` frames never do
  (PROTOCOL.md). ``feedback`` frames found in a log file are stored but not
  tallied: the old service took enjoyment from the feedback CSV alone, and
  counting both would count some feedback twice.
- Events are numbered from ``first_seq`` in a fixed order: courses by
  ``(exp, course)``, within a course the log files by name then line order,
  then the feedback entries. ``received_ms`` is the event's ``t``: the old
  service kept no arrival time, and ``t`` is the closest known one. Feedback
  entries without a time (every entry of the old service's matrix layout)
  get ``t = 0`` (unknown).
- Events of a course the catalog does not define are stored without a
  progress row; its adjacency matrix has nowhere to go and is reported (the
  file stays on disk: the import never changes or deletes legacy files).
- Progress rows share one ``seq``, the user's last: a session snapshots all
  its courses together (``SqliteStore.load_user``).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from analytics import UiEvent
from analytics.progress import CourseProgress
from courses import Catalog
from legacy.directory import CourseFiles, UserFiles
from legacy.feedback import FeedbackRow, read_feedback
from legacy.files import file_detail
from legacy.logs import read_log
from legacy.tables import read_adjacency
from messages import AnalyticsEvent, Event
from store import EventRow, ProgressRow


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
    ``LegacyFileError`` when a file cannot be used as a whole (unreadable, a
    symbolic link, an adjacency matrix that does not fit its course, a
    feedback CSV in neither layout): nothing of the user should then be
    imported.
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
                (files.adjacency.name, file_detail(files.adjacency.path, not_imported=why))
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
