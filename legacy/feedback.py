"""Reading the old service's feedback CSV: the matrix it wrote, or a list of entries.

Two layouts are read:

- **the matrix**, what the old service really wrote: ``pd.DataFrame(
  np.zeros((8, k)), states, subjects)``, one ``df[subject][state] += 1`` per
  feedback frame, then ``df.to_csv(path)``. The header is an empty cell then
  the subjects (``Workbook, Remote work, Hardware, UI, LA, Other`` and the
  course's task subjects); each row is a state then float counts (``2.0``).
  A cell counting ``n`` gives ``n`` entries, row by row, left to right, with
  no time (``t = 0``). A count that is not a whole number >= 0 is a problem
  naming the line, state and subject, and that cell is not imported;
- **a list**, one entry per row: a header naming at least ``state`` and
  ``subject`` (any case), optionally ``t``, ``input`` and ``hardware``;
  other columns (pandas' unnamed index, ...) are ignored.

States and subjects the course does not know are kept as they are (the
tally keeps them; they score 0, as on the wire).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from legacy.directory import LegacyFile
from legacy.files import (
    LegacyFileError,
    LineError,
    file_size,
    import_detail,
    open_legacy,
    shown,
    shown_path,
)
from legacy.tables import TableReader, count_of
from messages import check_t

# Entries one matrix file may give. A student sends a few dozen; a file
# counting more was not written by the old service, and each entry becomes
# an event in memory until the user's one transaction.
MATRIX_MAX_ENTRIES: Final = 100_000

# Reads one data row into the entries; returns warnings (problems that keep the row).
RowReader = Callable[[list[str]], list[str]]


@attrs.frozen
class FeedbackRow:
    """One feedback entry; ``t`` is 0 when the file gives no (usable) time."""

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


def read_feedback(file: LegacyFile) -> FeedbackRead:
    """Every usable entry of a feedback CSV (either layout), its problems and import detail.

    Raises ``LegacyFileError`` if the file cannot be read, is not UTF-8 CSV,
    has neither layout's header, or (a matrix) counts more than
    ``MATRIX_MAX_ENTRIES`` entries.
    """
    table = TableReader(file.path)
    entries: list[FeedbackRow] = []
    problems: list[str] = []
    with open_legacy(file.path) as handle:
        rows = table.rows(handle)
        first = next(rows, None)
        if first is not None:
            header = [cell.strip().lower() for cell in first[1]]
            if "state" in header and "subject" in header:
                columns = {name: header.index(name) for name in reversed(header)}  # first wins
                read_row = _list_reader(columns, entries)
            elif not first[1][0].strip():
                read_row = _matrix_reader(file, [cell.strip() for cell in first[1][1:]], entries)
            else:
                raise LegacyFileError(
                    f"{shown_path(file.path)}: header: needs 'state' and 'subject' columns "
                    "(a list), or an empty first cell followed by the subjects (the old "
                    f"service's matrix); found {[shown(cell) for cell in first[1][:8]]}"
                )
            for number, row in rows:
                try:
                    warnings = read_row(row)
                except LineError as exc:
                    problems.append(f"{file.name}: line {number}: {exc}")
                    continue
                problems += [f"{file.name}: line {number}: {warning}" for warning in warnings]
        size = file_size(handle)
    return FeedbackRead(tuple(entries), tuple(problems), import_detail(size, table.lines))


def _list_reader(columns: dict[str, int], entries: list[FeedbackRow]) -> RowReader:
    """One entry per row; a bad ``t`` keeps the row with ``t = 0`` and warns."""
    needed = max(columns["state"], columns["subject"]) + 1

    def read_row(row: list[str]) -> list[str]:
        if len(row) < needed:
            raise LineError(f"{len(row)} cell(s), 'state' and 'subject' need {needed}")

        def cell(name: str) -> str:
            i = columns.get(name)
            return row[i] if i is not None and i < len(row) else ""

        t, warnings = 0, []
        text = cell("t").strip()
        if text:
            try:
                t = check_t(_whole_number(text))
            except ValueError:
                warnings.append(f"t {shown(text)} is not a time in ms; stored with t = 0 (unknown)")
        entries.append(
            FeedbackRow(
                t,
                row[columns["state"]],
                row[columns["subject"]],
                cell("input") or None,
                cell("hardware").strip() or None,
            )
        )
        return warnings

    return read_row


def _matrix_reader(file: LegacyFile, subjects: list[str], entries: list[FeedbackRow]) -> RowReader:
    """One row per state: ``n`` entries per cell counting ``n``; a bad cell warns and is skipped."""

    def read_row(row: list[str]) -> list[str]:
        state = row[0].strip()
        if len(row) != len(subjects) + 1:
            raise LineError(
                f"state {shown(state)} has {len(row) - 1} count(s), the header names "
                f"{len(subjects)} subjects; row not imported"
            )
        if not state:
            raise LineError("no state in the first cell; row not imported")
        warnings = []
        for subject, cell in zip(subjects, row[1:], strict=True):
            try:
                count = count_of(cell)
            except ValueError as exc:
                warnings.append(
                    f"state {shown(state)}, subject {shown(subject)}: {exc}; not imported"
                )
                continue
            if count and not subject:
                warnings.append(
                    f"state {shown(state)}: a count under a column with no subject; not imported"
                )
                continue
            if len(entries) + count > MATRIX_MAX_ENTRIES:
                raise LegacyFileError(
                    f"{shown_path(file.path)}: more than {MATRIX_MAX_ENTRIES} feedback entries: "
                    "not a file the old service wrote"
                )
            entries.extend([FeedbackRow(0, state, subject)] * count)
        return warnings

    return read_row


def _whole_number(text: str) -> int:
    """``"17"`` or ``"17.0"`` (pandas writes a column holding blanks as floats)."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
    if not number.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(number)
