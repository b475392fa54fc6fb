"""Counting command-to-command transitions from a stream of UI events.

This is the old service's log-to-graph conversion, made incremental: the
golden ``adjacency_batches`` cases define it. ``convert`` may be called per
batch (as the old service did per request) or per event (as our session
actors do); for one hardware stream both give the whole-log result.

Memory (issue 13.3): a counter lives in every active user's state, so it
keeps only what is its own. What a course's counters have in common (which
log is which node, the matrix size) is one ``CommandTable`` shared by all of
them; the counts are a flat ``array`` of 16-bit cells (widened to 64 bits
the first time a cell would overflow or a restored count does not fit); the
numpy matrix is built only when asked for (a snapshot, a record); and the
leftover events keep shared (interned) strings.
"""

from __future__ import annotations

import functools
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any, Final, NamedTuple

import attrs
import numpy as np
import numpy.typing as npt

# Typecodes of the counts: 16-bit unsigned cells, and what they widen to
# (numpy's int64, the matrix's own range).
NARROW: Final = "H"
WIDE: Final = "q"


class UiEvent(NamedTuple):
    """The three fields of a UI event that the conversion looks at."""

    t: int | float
    hardware: str | None
    log: str | None

    @classmethod
    def of(cls, event: Mapping[str, Any] | UiEvent) -> UiEvent:
        if isinstance(event, UiEvent):
            return event
        return cls(event.get("t", 0), event.get("hardware"), event.get("log"))


@attrs.frozen(eq=False)  # one per course, compared by identity (it holds a dict)
class CommandTable:
    """What every counter of one course shares: the matrix size and which log is which node.

    ``zeros`` is the empty count array each new counter copies.
    """

    size: int
    node_of_log: Mapping[str, int]
    zeros: array[int] = attrs.field(eq=False)


@functools.lru_cache(maxsize=256)
def command_table(nodes: tuple[str, ...], commands: tuple[tuple[str, str], ...]) -> CommandTable:
    """The one table of these ``nodes`` and ``(log, node)`` commands (a course's; cached).

    Raises ``KeyError`` when a command names no node.
    """
    index = {name: i for i, name in enumerate(nodes)}
    node_of_log = {sys.intern(log): index[node] for log, node in commands}
    return CommandTable(len(nodes), node_of_log, array(NARROW, bytes(2 * len(nodes) ** 2)))


def _shared(value: Any) -> Any:
    """One copy of a string for every user that keeps it (``sys.intern``: freed when unused)."""
    return sys.intern(value) if type(value) is str else value


def _kept(event: UiEvent) -> UiEvent:
    """``event`` with shared strings, to be held on to as a leftover."""
    hardware, log = _shared(event.hardware), _shared(event.log)
    if hardware is event.hardware and log is event.log:
        return event
    return UiEvent(event.t, hardware, log)


def packed_counts(values: Iterable[int]) -> array[int]:
    """``values`` in 16-bit cells if they all fit, else in 64-bit ones."""
    values = list(values)
    try:
        return array(NARROW, values)
    except OverflowError:
        return array(WIDE, values)


def count_once_more(counts: array[int], cell: int) -> array[int]:
    """``counts`` with one more in ``cell``: the same array, or a 64-bit copy of it
    when that 16-bit cell is full (every cell then gets 64 bits)."""
    try:
        counts[cell] += 1
    except OverflowError:
        counts = array(WIDE, counts)
        counts[cell] += 1
    return counts


class TransitionCounter:
    """Cumulative transition counts of one user's commands on one course.

    ``nodes`` gives the matrix order; ``command_of`` maps a UI ``log`` value to
    its node, and any other value is not a command.

    One conversion takes the leftover events plus the new ones, orders them
    (arrival order on one hardware, by ``t`` across several), counts the
    transitions between consecutive commands, then keeps only the very last
    event if there were at least two commands, else keeps everything.
    """

    __slots__ = ("_counts", "_pending", "_table")

    def __init__(self, nodes: Sequence[str], command_of: Mapping[str, str]) -> None:
        self._table = command_table(tuple(nodes), tuple(command_of.items()))
        # Row-major (cell from * n + to); the course's shared zeros until the first
        # count, copied then: a user with v2 statements only never counts here.
        self._counts = self._table.zeros
        self._pending: tuple[UiEvent, ...] = ()

    @property
    def matrix(self) -> npt.NDArray[np.int64]:
        """A copy of the cumulative counts (rows "from", columns "to"), as int64."""
        n = self._table.size
        return np.array(self._counts, dtype=np.int64).reshape(n, n)  # buffer protocol: one copy

    @property
    def counts_shared(self) -> bool:
        """Whether the counts are still the course's shared zeros (nothing counted yet)."""
        return self._counts is self._table.zeros

    @property
    def pending(self) -> tuple[UiEvent, ...]:
        """The leftover events the next conversion starts from."""
        return self._pending

    def restore(self, matrix: npt.ArrayLike, pending: Iterable[UiEvent]) -> None:
        """Continue from a saved ``matrix`` and ``pending``, as after a restart."""
        counts = np.asarray(matrix, dtype=np.int64)
        n = self._table.size
        if counts.shape != (n, n):
            raise ValueError(f"matrix shape {counts.shape}, expected {(n, n)}")
        # Nothing counted yet (a user of v2 statements only): the shared zeros again.
        self._counts = packed_counts(counts.ravel().tolist()) if counts.any() else self._table.zeros
        self._pending = tuple(_kept(UiEvent.of(event)) for event in pending)

    def convert(self, events: Iterable[Mapping[str, Any] | UiEvent]) -> None:
        """Run one conversion over the leftovers plus ``events``."""
        stored = [*self._pending, *map(UiEvent.of, events)]
        if len({event.hardware for event in stored}) > 1:
            ordered = sorted(stored, key=lambda event: event.t)
        else:
            ordered = stored
        node_of_log = self._table.node_of_log
        commands = [node_of_log[event.log] for event in ordered if event.log in node_of_log]
        if len(commands) >= 2:
            self._count(commands)
            self._pending = (_kept(ordered[-1]),)
        else:
            self._pending = tuple(map(_kept, self._compact(stored)))

    def _count(self, commands: list[int]) -> None:
        n = self._table.size
        counts = self._counts
        for source, target in pairwise(commands):
            if counts is self._table.zeros:
                counts = counts.__copy__()
            counts = count_once_more(counts, source * n + target)
        self._counts = counts

    def _compact(self, stored: list[UiEvent]) -> list[UiEvent]:
        """Drop leftover events that cannot change any later conversion.

        With fewer than two commands everything is kept, so a long run of
        non-commands would grow without bound. A non-command can only matter
        through its hardware value (sort or not), or by being the event that
        ends up last (last to arrive, or latest ``t`` with the latest arrival
        winning ties as a stable sort does). Keeping the commands, those two
        candidates and the first event of each hardware value, in arrival
        order, gives every later conversion the same result.
        """
        if len(stored) <= 3:
            return stored
        node_of_log = self._table.node_of_log
        latest = max(range(len(stored)), key=lambda i: (stored[i].t, i))
        keep = {len(stored) - 1, latest}
        seen_hardware: set[str | None] = set()
        for i, event in enumerate(stored):
            if event.log in node_of_log:
                keep.add(i)
            if event.hardware not in seen_hardware:
                seen_hardware.add(event.hardware)
                keep.add(i)
        return [stored[i] for i in sorted(keep)]
