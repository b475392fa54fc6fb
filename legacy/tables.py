"""Reading the old service's CSV tables line by line; the adjacency matrix.

The old service wrote its tables with pandas ``DataFrame.to_csv``: a header
row whose first cell is empty (the unnamed index) followed by the column
names, then one row per index label, counts written as floats (``2.0``).

Parsing uses the stdlib ``csv`` module over ``legacy.files.read_lines``, not
pandas: this also runs inside the serving process (a cold legacy user), where
``import pandas`` costs 32 MB, and a table is never held whole.
"""

from __future__ import annotations

import codecs
import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import attrs
import numpy as np
import numpy.typing as npt

from courses import Course
from legacy.directory import LegacyFile
from legacy.files import (
    LINE_MAX_BYTES,
    LegacyFileError,
    file_size,
    import_detail,
    open_legacy,
    read_lines,
    shown,
    shown_path,
)

# Counts are floats in the files; beyond 2**53 a float no longer holds every
# whole number, so no count the old service wrote can be larger.
COUNT_MAX: Final = 2**53


@attrs.define
class TableReader:
    """The non-blank rows of one CSV file, read line by line; counts the lines it read."""

    path: Path
    lines: int = 0

    def rows(self, handle: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
        """``(line number, cells)`` of every row with a non-blank cell.

        Raises ``LegacyFileError`` for a file that is not UTF-8 CSV or has a
        line longer than ``LINE_MAX_BYTES`` (no table the old service wrote).
        """
        reader = csv.reader(self._text(handle))
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
        except csv.Error as exc:
            raise LegacyFileError(f"{shown_path(self.path)}: not a CSV file: {exc}") from exc

    def _text(self, handle: IO[bytes]) -> Iterator[str]:
        for number, line in read_lines(handle, self.path):
            self.lines = number
            if line is None:
                raise LegacyFileError(
                    f"{shown_path(self.path)}: line {number}: longer than {LINE_MAX_BYTES} "
                    "bytes: not a table the old service wrote"
                )
            try:
                text = line.removeprefix(codecs.BOM_UTF8 if number == 1 else b"").decode()
            except UnicodeDecodeError as exc:
                raise LegacyFileError(
                    f"{shown_path(self.path)}: line {number}: not UTF-8: {exc.reason}"
                ) from None
            yield text + "\n"


def count_of(cell: str) -> int:
    """A count as pandas wrote it (``"2.0"``, ``"2"``; blank is 0); ``ValueError`` says why not."""
    text = cell.strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{shown(text)} is not a finite count >= 0")
    if not value.is_integer():
        raise ValueError(f"{shown(text)} is not a whole number")
    if value > COUNT_MAX:
        raise ValueError(f"{shown(text)} is larger than any count the old service wrote")
    return int(value)


def read_adjacency(file: LegacyFile, course: Course) -> tuple[npt.NDArray[np.int64], str]:
    """The matrix of an adjacency CSV in ``course.nodes`` order, and its import detail.

    Rows and columns are matched by name, so they may come in any order, and
    nodes the file lacks count 0 (the old service's pendulum had no
    ``record``). Raises ``LegacyFileError`` for an unreadable file, a node the
    course does not have, a repeated row or column, a row of the wrong length,
    or a count that is not a whole number >= 0 (naming the line, row and
    column): any of these would make every later figure wrong.
    """
    where = shown_path(file.path)
    index = {node: i for i, node in enumerate(course.nodes)}
    matrix = np.zeros((len(course.nodes), len(course.nodes)), dtype=np.int64)
    table = TableReader(file.path)
    with open_legacy(file.path) as handle:
        rows = table.rows(handle)
        first = next(rows, None)
        if first is None:
            raise LegacyFileError(f"{where}: header: the file is empty")
        columns = [cell.strip() for cell in first[1][1:]]
        _check_nodes(where, "header", columns, course)
        seen: list[str] = []
        for line, row in rows:
            source = row[0].strip()
            _check_nodes(where, f"line {line}", [*seen, source], course)
            seen.append(source)
            if len(row) != len(columns) + 1:
                raise LegacyFileError(
                    f"{where}: line {line}: row {source!r} has {len(row) - 1} values, "
                    f"the header names {len(columns)} nodes"
                )
            for target, cell in zip(columns, row[1:], strict=True):
                try:
                    matrix[index[source], index[target]] = count_of(cell)
                except ValueError as exc:
                    raise LegacyFileError(
                        f"{where}: line {line}, row {source!r}, column {target!r}: {exc} "
                        "of transitions"
                    ) from None
        size = file_size(handle)
    return matrix, import_detail(size, table.lines)


def _check_nodes(where: str, what: str, names: list[str], course: Course) -> None:
    unknown = [name for name in names if name not in course.nodes]
    if unknown:
        raise LegacyFileError(
            f"{where}: {what}: node(s) {[shown(n) for n in unknown]} are not nodes of course "
            f"{course.key} {list(course.nodes)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise LegacyFileError(f"{where}: {what}: node(s) {repeated} are repeated")
