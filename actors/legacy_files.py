"""The old service's data directory (its ``DATA_PATH``): finding and reading its files.

The old service kept three kinds of files per user, flat in one directory:

- ``{user}-{hardware}-{exp}-{course}.json``: the unconverted log of one user
  on one hardware unit, JSON lines, one UI frame per line;
- ``{user}-{exp}-{course}-adjacency.csv``: the transition matrix accumulated
  by earlier conversions (header row = node names, first column = the same
  names, rows = from, columns = to, as ``courses.read_graph_csv`` reads);
- ``{user}-{exp}-{course}-feedback.csv``: the user's feedback, a header row
  naming at least ``state`` and ``subject``, optionally ``t``, ``input`` and
  ``hardware``; other columns (pandas' unnamed index, ...) are ignored.

User ids are UUIDs and hold ``-``, so names are split from the right: course,
exp, hardware (logs only), and the rest is the user. ``exp``, ``course`` and
``hardware`` hold no ``-``; ``course`` may be empty (UIs opened without a
course), the others may not. Other files (our own ``analytics.sqlite3*``) are
not legacy files; ``.json``/``.csv`` names that do not fit are listed as
ignored, with the reason.

Log lines accepted, one JSON object per line:

1. a UI frame as the UI sent it, ``{"user", "t", "type", "exp", "course",
   "hardware", "payload": {...}}`` of type ``analytics``, ``log`` or
   ``feedback``, validated by ``messages.decode``. ``user``, ``exp``,
   ``course`` and ``hardware`` that are missing or null are taken from the
   file name;
2. a flat line ``{"t", "hardware", "log", ...}`` (no ``payload``, as the
   old converter read them): an ``analytics`` command, or the frame type its
   ``type`` key names. Keys other than ``user``, ``t``, ``type``, ``exp``,
   ``course``, ``hardware`` become its payload, so ``data`` and any extra key
   are kept.

Blank lines are skipped. Any other line is a problem (``"<file>: line N:
why"``) and is not imported: not JSON or not an object, a frame that fails
validation (e.g. no ``t``), a dashboard request (not an event), and a frame
whose ``user``, ``exp`` or ``course`` differs from the file name's. The old
service named each file after its frames, so such a line is damage; storing it
under another user would break the one-transaction-per-user import, and the
file itself stays on disk for a person to look at. A frame's own ``hardware``
is kept even when it differs from the file name's: it is what the UI sent.

Problems in a line or a row never stop anything; a file that cannot be used as
a whole (unreadable, not UTF-8 where text is required, an adjacency matrix
that does not fit the course) raises ``LegacyFileError``.

Parsing uses orjson and the stdlib ``csv`` module: this also runs inside the
serving process (a cold legacy user), where ``import pandas`` costs 32 MB.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt
import orjson

from courses import Course, CourseError, read_graph_csv
from messages import (
    DecodeError,
    Event,
    IdLimitError,
    Request,
    check_course,
    check_exp,
    check_hardware,
    check_t,
    check_user,
    decode,
)

ADJACENCY_SUFFIX: Final = "-adjacency.csv"
FEEDBACK_SUFFIX: Final = "-feedback.csv"
LOG_SUFFIX: Final = ".json"
# The envelope keys of a frame; in a flat line every other key is payload.
ENVELOPE_KEYS: Final = frozenset({"user", "t", "exp", "course", "hardware"})
_FLAT_NOT_PAYLOAD: Final = ENVELOPE_KEYS | {"type"}
# A value echoed in a problem line is cut to this length.
_ECHO_MAX_CHARS: Final = 40


class LegacyFileError(Exception):
    """A legacy file (or the directory) cannot be used as a whole.

    The message starts with the path and says why. The importer reports the
    user as failed and writes nothing for it, so fixing or removing the file
    and running the import again is enough.
    """


class FileKind(StrEnum):
    LOG = "log"
    ADJACENCY = "adjacency"
    FEEDBACK = "feedback"


@attrs.frozen
class LegacyFile:
    """One legacy file and what its name says. ``hardware`` is ``None`` except for logs."""

    path: Path
    kind: FileKind
    user: str
    exp: str
    course: str
    hardware: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


@attrs.frozen
class CourseFiles:
    """The files of one user on one ``(exp, course)``; ``logs`` sorted by name."""

    exp: str
    course: str
    logs: tuple[LegacyFile, ...] = ()
    adjacency: LegacyFile | None = None
    feedback: LegacyFile | None = None

    @property
    def files(self) -> tuple[LegacyFile, ...]:
        extra = (self.adjacency, self.feedback)
        return self.logs + tuple(file for file in extra if file is not None)


@attrs.frozen
class UserFiles:
    """Every legacy file of one user, per course, courses sorted by ``(exp, course)``."""

    user: str
    courses: tuple[CourseFiles, ...]

    @property
    def files(self) -> tuple[LegacyFile, ...]:
        return tuple(file for course in self.courses for file in course.files)


@attrs.frozen
class LegacyIndex:
    """What ``scan_legacy`` found: users sorted by id, and the names it ignored (with why)."""

    directory: Path
    users: tuple[UserFiles, ...]
    ignored: tuple[str, ...] = ()


def parse_legacy_name(path: Path) -> LegacyFile | None:
    """The legacy file ``path`` names, or ``None`` if it is not a ``.json``/``.csv`` file.

    Raises ``ValueError`` (with the reason) for a ``.json``/``.csv`` name that
    does not fit the layout or whose ids break the wire's limits.
    """
    name = path.name
    if name.endswith((ADJACENCY_SUFFIX, FEEDBACK_SUFFIX)):
        kind = FileKind.ADJACENCY if name.endswith(ADJACENCY_SUFFIX) else FileKind.FEEDBACK
        parts = name[: -len(f"-{kind}.csv")].rsplit("-", 2)
        if len(parts) != 3:
            raise ValueError(f"expected '{{user}}-{{exp}}-{{course}}-{kind}.csv'")
        user, exp, course = parts
        hardware = None
    elif name.endswith(LOG_SUFFIX):
        kind = FileKind.LOG
        parts = name[: -len(LOG_SUFFIX)].rsplit("-", 3)
        if len(parts) != 4:
            raise ValueError("expected '{user}-{hardware}-{exp}-{course}.json'")
        user, hardware, exp, course = parts
    elif name.endswith(".csv"):
        raise ValueError("a CSV that is neither '*-adjacency.csv' nor '*-feedback.csv'")
    else:
        return None
    try:
        check_user(user)
        check_exp(exp)
        check_course(course)
        if hardware is not None:
            check_hardware(hardware)
    except IdLimitError as exc:
        raise ValueError(f"an id in the name is not valid: {exc}") from None
    return LegacyFile(path, kind, user, exp, course, hardware)


def has_legacy_files(directory: Path) -> bool:
    """Whether ``directory`` holds at least one legacy file; stops at the first one.

    Cheap enough for the service's start-up hint. A directory that does not
    exist or cannot be listed holds none (no exception).
    """
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if parse_legacy_name(Path(entry.path)) is not None and entry.is_file():
                        return True
                except ValueError:
                    continue
    except OSError:
        return False
    return False


def scan_legacy(directory: Path) -> LegacyIndex:
    """Find every legacy file of ``directory`` (not its subdirectories) and group them.

    Raises ``LegacyFileError`` if the directory cannot be listed.
    """
    directory = Path(directory)
    found: dict[str, dict[tuple[str, str], list[LegacyFile]]] = {}
    ignored: list[str] = []
    try:
        with os.scandir(directory) as entries:
            paths = sorted(Path(entry.path) for entry in entries if entry.is_file())
    except OSError as exc:
        raise LegacyFileError(f"{directory}: cannot list the directory: {exc}") from exc
    for path in paths:
        try:
            file = parse_legacy_name(path)
        except ValueError as exc:
            ignored.append(f"{path.name}: {exc}")
            continue
        if file is not None:
            found.setdefault(file.user, {}).setdefault((file.exp, file.course), []).append(file)
    users = tuple(
        UserFiles(user, tuple(_course_files(key, files) for key, files in sorted(courses.items())))
        for user, courses in sorted(found.items())
    )
    return LegacyIndex(directory, users, tuple(ignored))


def _course_files(key: tuple[str, str], files: list[LegacyFile]) -> CourseFiles:
    """Group one course's files; ``files`` come sorted by name, so the logs are too."""
    by_kind = {file.kind: file for file in files if file.kind is not FileKind.LOG}
    return CourseFiles(
        *key,
        logs=tuple(file for file in files if file.kind is FileKind.LOG),
        adjacency=by_kind.get(FileKind.ADJACENCY),
        feedback=by_kind.get(FileKind.FEEDBACK),
    )


# --- Reading one file ------------------------------------------------------------


@attrs.frozen
class LogRead:
    """The events of one log file in line order, its problems, and its import detail."""

    events: tuple[Event, ...]
    problems: tuple[str, ...]
    detail: str


@attrs.frozen
class FeedbackRow:
    """One row of a feedback CSV; ``t`` is 0 when the file gives no (usable) time."""

    t: int
    state: str
    subject: str
    input: str | None = None
    hardware: str | None = None

    def payload(self) -> dict[str, str]:
        payload = {"state": self.state, "subject": self.subject}
        if self.input is not None:
            payload["input"] = self.input
        return payload


@attrs.frozen
class FeedbackRead:
    rows: tuple[FeedbackRow, ...]
    problems: tuple[str, ...]
    detail: str


class _LineError(ValueError):
    """One log line or CSV row that is not imported; the message says why."""


def import_detail(size: int, lines: int, **more: Any) -> str:
    """The ``detail`` recorded with an imported file: JSON with its size and line count."""
    return orjson.dumps({"size": size, "lines": lines, **more}).decode()


def file_detail(file: LegacyFile, **more: Any) -> str:
    """The import detail of a file that is recorded without being parsed."""
    data = _read_bytes(file.path)
    return import_detail(len(data), len(data.splitlines()), **more)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LegacyFileError(f"{path}: cannot read: {exc}") from exc


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _ECHO_MAX_CHARS else text[: _ECHO_MAX_CHARS - 3] + "..."


def read_log(file: LegacyFile) -> LogRead:
    """Every readable line of a log file; raises ``LegacyFileError`` if it cannot be read."""
    data = _read_bytes(file.path)
    # A BOM (an editor's save) would make line 1 unreadable; it is not part of the line.
    lines = data.removeprefix(codecs.BOM_UTF8).splitlines()
    events: list[Event] = []
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(_log_event(line, file))
        except _LineError as exc:
            problems.append(f"{file.name}: line {number}: {exc}")
    return LogRead(tuple(events), tuple(problems), import_detail(len(data), len(lines)))


def _log_event(line: bytes, file: LegacyFile) -> Event:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _LineError(f"not JSON: {exc}") from None
    if type(raw) is not dict:
        raise _LineError("not a JSON object")
    if "payload" not in raw:
        if "log" not in raw:
            raise _LineError("no 'payload' (a UI frame) and no 'log' (a flat log line)")
        payload = {key: value for key, value in raw.items() if key not in _FLAT_NOT_PAYLOAD}
        frame_type = raw.get("type", "analytics")
        raw = {key: raw[key] for key in ENVELOPE_KEYS & raw.keys()}
        raw |= {"type": frame_type, "payload": payload}
    for key, expected in (("user", file.user), ("exp", file.exp), ("course", file.course)):
        value = raw.get(key)
        if value is None:
            raw[key] = expected
        elif value != expected:
            raise _LineError(
                f"the frame's {key} {_shown(value)} is not the file's {_shown(expected)}"
            )
    if raw.get("hardware") is None:
        raw["hardware"] = file.hardware
    try:
        message = decode(orjson.dumps(raw))
    except DecodeError as exc:
        raise _LineError(exc.message) from None
    except orjson.JSONEncodeError as exc:  # an integer orjson reads but cannot write
        raise _LineError(f"not valid JSON for a frame: {exc}") from None
    if isinstance(message, Request):
        raise _LineError("a dashboard request, not an event")
    return message


def read_adjacency(file: LegacyFile, course: Course) -> tuple[npt.NDArray[np.int64], str]:
    """The matrix of an adjacency CSV in ``course.nodes`` order, and its import detail.

    Columns and rows may come in another order (they are matched by name), and
    nodes the file lacks count 0. Raises ``LegacyFileError`` for an unreadable
    file, a node the course does not have, or a count that is not a whole
    number >= 0: any of these would make every later figure wrong.
    """
    data = _read_bytes(file.path)
    try:
        graph = read_graph_csv(file.path)
    except CourseError as exc:
        raise LegacyFileError(str(exc)) from exc
    index = {node: i for i, node in enumerate(course.nodes)}
    unknown = [node for node in graph.nodes if node not in index]
    if unknown:
        raise LegacyFileError(
            f"{file.path}: header: node(s) {unknown} are not nodes of course {course.key} "
            f"{list(course.nodes)}"
        )
    matrix = np.zeros((len(course.nodes), len(course.nodes)), dtype=np.int64)
    for source, row in zip(graph.nodes, graph.rows, strict=True):
        for target, count in zip(graph.nodes, row, strict=True):
            if not count.is_integer():
                raise LegacyFileError(
                    f"{file.path}: row {source!r}, column {target!r}: {count!r} is not a "
                    "whole number of transitions"
                )
            matrix[index[source], index[target]] = int(count)
    return matrix, import_detail(len(data), len(data.splitlines()))


def read_feedback(file: LegacyFile) -> FeedbackRead:
    """Every usable row of a feedback CSV, its problems and its import detail.

    A row with fewer cells than it needs for ``state`` and ``subject`` is a
    problem and is not imported; a bad ``t`` is a problem, and the row is kept
    with ``t = 0`` (unknown). An empty ``input`` cell means no input. Raises
    ``LegacyFileError`` if the file cannot be read, is not UTF-8 CSV, or has
    no ``state`` or ``subject`` column.
    """
    data = _read_bytes(file.path)
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LegacyFileError(f"{file.path}: not a UTF-8 CSV file: {exc}") from exc
    detail = import_detail(len(data), len(data.splitlines()))
    if not rows:
        return FeedbackRead((), (), detail)
    header = [cell.strip().lower() for cell in rows[0][1]]
    columns = {name: header.index(name) for name in reversed(header)}  # first one wins
    if "state" not in columns or "subject" not in columns:
        raise LegacyFileError(
            f"{file.path}: header: needs 'state' and 'subject' columns, found {rows[0][1]}"
        )
    feedback: list[FeedbackRow] = []
    problems: list[str] = []
    for number, row in rows[1:]:
        try:
            entry, warning = _feedback_row(row, columns)
        except _LineError as exc:
            problems.append(f"{file.name}: line {number}: {exc}")
            continue
        feedback.append(entry)
        if warning:
            problems.append(f"{file.name}: line {number}: {warning}")
    return FeedbackRead(tuple(feedback), tuple(problems), detail)


def _feedback_row(row: list[str], columns: dict[str, int]) -> tuple[FeedbackRow, str | None]:
    """One row, and a warning for a problem that keeps the row (a bad ``t``)."""
    needed = max(columns["state"], columns["subject"]) + 1
    if len(row) < needed:
        raise _LineError(f"{len(row)} cell(s), 'state' and 'subject' need {needed}")

    def cell(name: str) -> str:
        i = columns.get(name)
        return row[i] if i is not None and i < len(row) else ""

    t, warning = 0, None
    text = cell("t").strip()
    if text:
        try:
            t = check_t(_whole_number(text))
        except ValueError:
            warning = f"t {_shown(text)} is not a time in ms; stored with t = 0 (unknown)"
    entry = FeedbackRow(
        t,
        row[columns["state"]],
        row[columns["subject"]],
        cell("input") or None,
        cell("hardware").strip() or None,
    )
    return entry, warning


def _whole_number(text: str) -> int:
    """``"17"`` or ``"17.0"`` (pandas writes a column holding blanks as floats)."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
    if not number.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(number)
