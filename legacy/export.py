"""``export-legacy DIR``: the store written out again in the old service's layout.

The researchers' pandas scripts read the old service's ``DATA_PATH``; this
writes one again, per user and course, from the state the service answers
from (snapshots plus the events after them, replayed as a session does):

- ``{user}-{exp}-{course}-adjacency.csv``: the transition matrix, as the old
  service wrote it (``pd.DataFrame(matrix, nodes, nodes).to_csv``, floats);
- ``{user}-{exp}-{course}-feedback.csv``: the feedback tally in the old
  matrix layout (the eight states by the course's subjects, plus any other
  state or subject tallied), when there is feedback;
- ``{user}-{hardware}-{exp}-{course}.json``: what is not yet in the matrix
  (the counter's pending events), one UI frame a line, one file per hardware;
  a pending event without hardware goes to a file named ``unknown`` (or
  ``unknown2``, ... when the user has a hardware of that name);
- a course the catalog does not define has no matrix: all its events go to
  the per-hardware logs, frames of every type.

``import-legacy`` of that directory gives every user the same matrices,
pending events and tallies, so the same replies. By the layout, times and
``input`` of feedback, ``log`` frames and the data of events already in a
matrix do not go out: ``export-events`` keeps everything.

It reads one snapshot of the store (``store.snapshot``), so it runs beside a
serving process. pandas is imported here only, when an export runs: the
serving process imports ``legacy`` but never this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import orjson

from analytics.progress import CourseProgress, StudentProgress
from courses import COMMON_FEEDBACK_SUBJECTS, Catalog, Course
from legacy.directory import ADJACENCY_SUFFIX, FEEDBACK_SUFFIX, parse_legacy_name
from legacy.files import printable
from messages import DecodeError
from store import EventRow, StoreError
from store.files import atomic_output
from store.snapshot import EventFilter, StoreSnapshot

# The rows of the old service's feedback files, in its order.
OLD_STATES: Final = (
    *("Engaged", "Curious", "Delighted"),
    *("Bored", "Confused", "Frustrated", "Surprised", "Anxious"),
)
NO_HARDWARE: Final = "unknown"
NAME_MAX_BYTES: Final = 255  # one file name, on every file system we know


class LegacyExportError(Exception):
    """The export cannot be made (the target, the store); the message says why."""


@attrs.frozen
class LegacyExportReport:
    """What was written: users exported and their files, users skipped (``"user: why"``),
    problems met replaying stored events, and the snapshot's last ``seq``."""

    directory: Path
    users: int
    files: int
    skipped: tuple[str, ...]
    problems: tuple[str, ...]
    max_seq: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {
            "directory": str(self.directory),
            "users": self.users,
            "files": self.files,
            "skipped": list(self.skipped),
            "problems": list(self.problems),
            "max_seq": self.max_seq,
            "seconds": round(self.seconds, 3),
        }


def export_legacy(
    data_dir: Path,
    directory: Path,
    catalog: Catalog,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> LegacyExportReport:
    """Write every user of the store in ``data_dir`` into ``directory``, the old layout.

    ``directory`` must not exist or be empty, unless ``force``: then files
    of the same name are replaced and nothing else is touched. Each file
    appears whole or not at all; all are on disk when it returns.
    ``progress`` is told (users done, users).
    Raises ``LegacyExportError`` for a target that is refused or cannot be
    written, or a store that cannot be read.
    """
    started = time.monotonic()
    directory = Path(directory)
    _check_target(directory, Path(data_dir), force=force)
    written = users = 0
    skipped: list[str] = []
    problems: list[str] = []
    try:
        with StoreSnapshot(data_dir) as snapshot:
            total = snapshot.count_users()
            directory.mkdir(parents=True, exist_ok=True)
            for user in snapshot.users():
                files, why = _user_files(snapshot, catalog, user, problems)
                if why:
                    skipped.append(f"{printable(user)}: {why}")
                else:
                    users += 1
                for name, write in files:
                    with atomic_output(directory / name, overwrite=force, sync=False) as handle:
                        write(handle)
                written += len(files)
                if progress is not None:
                    progress(users + len(skipped), total)
            max_seq = snapshot.max_seq
        os.sync()  # once for every file: a sync per file costs ~8 ms each
    except StoreError as exc:
        raise LegacyExportError(str(exc)) from exc
    except FileExistsError as exc:
        raise LegacyExportError(f"{exc.filename} appeared during the export: --force") from None
    except OSError as exc:
        raise LegacyExportError(f"cannot write in {directory}: {exc.strerror or exc}") from exc
    seconds = time.monotonic() - started
    return LegacyExportReport(
        directory, users, written, tuple(skipped), tuple(problems), max_seq, seconds
    )


def _check_target(directory: Path, data_dir: Path, *, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise LegacyExportError(f"{directory} is not a directory")
    if directory.resolve() == data_dir.resolve():
        raise LegacyExportError(
            f"{directory} is the store's own directory: the service would take the files for "
            "an old data directory waiting to be imported; choose another"
        )
    if directory.is_dir() and not force:
        with os.scandir(directory) as entries:
            if any(entries):
                raise LegacyExportError(
                    f"{directory} exists and is not empty: choose another or --force"
                )


# Writes one file's content into an open text file.
Writer = Callable[[Any], None]


def _user_files(
    snapshot: StoreSnapshot, catalog: Catalog, user: str, problems: list[str]
) -> tuple[list[tuple[str, Writer]], str]:
    """The files of one user, and why none are written (``""`` if they are)."""
    progress = StudentProgress(user, catalog)
    stored = snapshot.load_user(user)
    problems += [f"{user}: {p}" for p in progress.restore(_records(stored.progress))]
    for event in stored.tail:
        problems += [f"{user}: {p}" for p in _replay(progress, event)]
    files: list[tuple[str, Writer]] = []
    for (exp, course), course_progress in sorted(progress.courses.items()):
        files += _course_files(user, course_progress, exp, course)
    for exp, course in snapshot.courses_of(user):
        if catalog.course(exp, course) is None:
            where = EventFilter(user=user, courses=((exp, course),))
            events = [e for page in snapshot.event_pages(where) for e in page]
            files += _logs(user, exp, course, [_frame(e) for e in events])
    names = [name for name, _ in files]
    bad = [name for name in names if not _fits(name, user)]
    if bad:
        return [], f"its id cannot be part of a file name ({printable(bad[0])}); not exported"
    return files, ""


def _records(progress: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    return {key: row.record for key, row in progress.items()}


def _course_files(
    user: str, progress: CourseProgress, exp: str, course: str
) -> list[tuple[str, Writer]]:
    record = progress.to_record()
    stem = f"{user}-{exp}-{course}"
    nodes = list(progress.course.nodes)
    matrix = np.asarray(record["matrix"], dtype=float)
    files = [(stem + ADJACENCY_SUFFIX, _table(matrix, nodes, nodes))]
    tally = {(state, subject): n for state, subject, n in record["feedback"]}
    if tally:
        states, subjects = _feedback_axes(progress.course, tally)
        counts = np.zeros((len(states), len(subjects)))
        for (state, subject), n in tally.items():
            counts[states.index(state), subjects.index(subject)] += n
        files.append((stem + FEEDBACK_SUFFIX, _table(counts, states, subjects)))
    envelope = {"user": user, "type": "analytics", "exp": exp, "course": course}
    pending = [
        {**envelope, "t": t, "hardware": hardware, "payload": {"log": log}}
        for t, hardware, log in record["pending"]
    ]
    return files + _logs(user, exp, course, pending)


def _feedback_axes(course: Course, tally: Mapping[tuple[str, str], int]) -> tuple[list, list]:
    """The old file's states and subjects, then whatever else the tally holds (sorted)."""
    states = [*OLD_STATES, *sorted({s for s, _ in tally} - set(OLD_STATES))]
    common = [s for s in COMMON_FEEDBACK_SUBJECTS if s in course.feedback_subjects]
    subjects = [*common, *sorted(course.feedback_subjects - set(common))]
    return states, [*subjects, *sorted({s for _, s in tally} - set(subjects))]


def _table(values: np.ndarray, index: Sequence[str], columns: Sequence[str]) -> Writer:
    def write(handle: Any) -> None:
        import pandas as pd  # noqa: PLC0415 - 32 MB: only when an export runs, never serving

        pd.DataFrame(values, index=list(index), columns=list(columns)).to_csv(handle)

    return write


def _logs(
    user: str, exp: str, course: str, frames: Iterable[dict[str, Any]]
) -> list[tuple[str, Writer]]:
    """One log file per hardware, frames in the order given."""
    frames = list(frames)
    unnamed = _unused_name({f["hardware"] for f in frames})
    by_hardware: dict[str, list[bytes]] = {}
    for frame in frames:
        if frame["hardware"] is None:
            frame = {**frame, "hardware": unnamed}  # noqa: PLW2901 - a copy, on purpose
        by_hardware.setdefault(frame["hardware"], []).append(orjson.dumps(frame) + b"\n")
    return [
        (f"{user}-{hardware}-{exp}-{course}.json", _lines(lines))
        for hardware, lines in sorted(by_hardware.items())
    ]


def _lines(lines: list[bytes]) -> Writer:
    def write(handle: Any) -> None:
        handle.write(b"".join(lines).decode())

    return write


def _unused_name(hardware: set[str | None]) -> str:
    name, number = NO_HARDWARE, 1
    while name in hardware:
        number += 1
        name = f"{NO_HARDWARE}{number}"
    return name


def _fits(name: str, user: str) -> bool:
    """Whether ``name`` is one plain file name that reads back as ``user``'s."""
    if "/" in name or "\0" in name or len(os.fsencode(name)) > NAME_MAX_BYTES:
        return False
    try:
        parsed = parse_legacy_name(Path(name))
    except ValueError:
        return False
    return parsed is not None and parsed.user == user


def _frame(event: EventRow) -> dict[str, Any]:
    """The UI frame a stored event came as."""
    return {
        "user": event.user,
        "t": event.t,
        "type": event.type,
        "exp": event.exp,
        "course": event.course,
        "hardware": event.hardware,
        "payload": event.payload,
    }


def _replay(progress: StudentProgress, event: EventRow) -> list[str]:
    """Apply a stored event as a session replays it; a problem line if it no longer decodes."""
    try:
        progress.replay(event)
    except (DecodeError, ValueError, KeyError, TypeError) as exc:
        return [f"event {event.seq} skipped on replay: {exc}"]
    return []
