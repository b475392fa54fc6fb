"""Counting command-to-command transitions from a stream of UI events.

This is the old service's log-to-graph conversion, made incremental: the
golden ``adjacency_batches`` cases define it. ``convert`` may be called per
batch (as the old service did per request) or per event (as our session
actors do); for one hardware stream both give the whole-log result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt


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


class TransitionCounter:
    """Cumulative transition counts of one user's commands on one course.

    ``nodes`` gives the matrix order; ``command_of`` maps a UI ``log`` value to
    its node, and any other value is not a command.

    One conversion takes the leftover events plus the new ones, orders them
    (arrival order on one hardware, by ``t`` across several), counts the
    transitions between consecutive commands, then keeps only the very last
    event if there were at least two commands, else keeps everything.
    """

    def __init__(self, nodes: Sequence[str], command_of: Mapping[str, str]) -> None:
        index = {name: i for i, name in enumerate(nodes)}
        self._node_of_log = {log: index[node] for log, node in command_of.items()}
        self._counts = np.zeros((len(nodes), len(nodes)), dtype=np.int64)
        self._pending: list[UiEvent] = []

    @property
    def matrix(self) -> npt.NDArray[np.int64]:
        """A copy of the cumulative counts (rows "from", columns "to")."""
        return self._counts.copy()

    @property
    def pending(self) -> tuple[UiEvent, ...]:
        """The leftover events the next conversion starts from."""
        return tuple(self._pending)

    def restore(self, matrix: npt.ArrayLike, pending: Iterable[UiEvent]) -> None:
        """Continue from a saved ``matrix`` and ``pending``, as after a restart."""
        counts = np.asarray(matrix, dtype=np.int64)
        if counts.shape != self._counts.shape:
            raise ValueError(f"matrix shape {counts.shape}, expected {self._counts.shape}")
        self._counts = counts.copy()
        self._pending = [UiEvent.of(event) for event in pending]

    def convert(self, events: Iterable[Mapping[str, Any] | UiEvent]) -> None:
        """Run one conversion over the leftovers plus ``events``."""
        stored = self._pending + [UiEvent.of(event) for event in events]
        if len({event.hardware for event in stored}) > 1:
            ordered = sorted(stored, key=lambda event: event.t)
        else:
            ordered = stored
        commands = [
            self._node_of_log[event.log] for event in ordered if event.log in self._node_of_log
        ]
        for source, target in pairwise(commands):
            self._counts[source, target] += 1
        if len(commands) >= 2:
            self._pending = [ordered[-1]]
        else:
            self._pending = self._compact(stored)

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
        latest = max(range(len(stored)), key=lambda i: (stored[i].t, i))
        keep = {len(stored) - 1, latest}
        seen_hardware: set[str | None] = set()
        for i, event in enumerate(stored):
            if event.log in self._node_of_log:
                keep.add(i)
            if event.hardware not in seen_hardware:
                seen_hardware.add(event.hardware)
                keep.add(i)
        return [stored[i] for i in sorted(keep)]
