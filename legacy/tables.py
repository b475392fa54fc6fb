"""Reading the old service's CSV files: adjacency matrices and feedback.

Parsing uses the stdlib ``csv`` module, not pandas: this also runs inside the
serving process (a cold legacy user), where ``import pandas`` costs 32 MB.
"""

from __future__ import annotations

import csv
import io

import attrs
import numpy as np
import numpy.typing as npt

from courses import Course, CourseError, read_graph_csv
from legacy.directory import (
    LegacyFile,
    LegacyFileError,
    LineError,
    import_detail,
    read_bytes,
    shown,
)
from messages import check_t


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


def read_adjacency(file: LegacyFile, course: Course) -> tuple[npt.NDArray[np.int64], str]:
    """The matrix of an adjacency CSV in ``course.nodes`` order, and its import detail.

    Columns and rows may come in another order (they are matched by name), and
    nodes the file lacks count 0. Raises ``LegacyFileError`` for an unreadable
    file, a node the course does not have, or a count that is not a whole
    number >= 0: any of these would make every later figure wrong.
    """
    data = read_bytes(file.path)
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
    data = read_bytes(file.path)
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
        except LineError as exc:
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
        raise LineError(f"{len(row)} cell(s), 'state' and 'subject' need {needed}")

    def cell(name: str) -> str:
        i = columns.get(name)
        return row[i] if i is not None and i < len(row) else ""

    t, warning = 0, None
    text = cell("t").strip()
    if text:
        try:
            t = check_t(_whole_number(text))
        except ValueError:
            warning = f"t {shown(text)} is not a time in ms; stored with t = 0 (unknown)"
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
