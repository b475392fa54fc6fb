"""The v2 action timeline of one session key, and its transition counts (PROTOCOL-V2.md).

The lab UIs POST one statement per action, and the browser's requests overtake each
other, so actions are kept in ``timestamp`` order (equal timestamps: arrival order)
and a late one is inserted in its place. Only the transitions around it are recounted:
the counts never need a replay, so an insertion costs the same whatever the history.

The slider rule: a slider logs ``clicked`` and then ``changed`` with the same graph
node. A ``changed`` whose *immediate predecessor in the timeline* is a ``clicked`` on
the same ``object.id`` (both present) with the same node, at most
``SLIDER_WINDOW_MS`` earlier, is the same action: it stays in the timeline but is not
counted. The rule looks one entry back only, so an insertion changes whether at most
two entries are counted (itself and the one after it), which keeps recounting local.
Actions on nodes the course does not know never enter the timeline (the caller skips
them), so the transition runs from the action before to the action after.

Memory: per entry one byte of node index, eight of timestamp and two of slider data
(kind and an interned object id); the counts are four bytes a cell. At most
``RETAINED_ENTRIES`` are kept; older ones are dropped in chunks, their transitions
staying in the counts, and a statement older than every kept entry is then too late
to place and does not enter the graph.
"""

from __future__ import annotations

import base64
import sys
from array import array
from bisect import bisect_right
from collections.abc import Mapping
from itertools import pairwise
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from analytics.transitions import NARROW, count_once_more, packed_counts

SLIDER_WINDOW_MS: Final = 2_000
# The step view of the dashboard gets at most this many actions: the latest ones.
ORDERED_ACTIONS_MAX: Final = 10_000
# No two merged entries are neighbours, so this many entries hold at least
# ORDERED_ACTIONS_MAX counted actions.
RETAINED_ENTRIES: Final = 2 * ORDERED_ACTIONS_MAX
TRIM_CHUNK: Final = 4_096
RECORD_FORMAT: Final = 1

# Slider data of an entry: kind in the low two bits, interned object id above (0: none).
OTHER, CLICKED, CHANGED = 0, 1, 2
SLIDER_KINDS: Final = {"clicked": CLICKED, "changed": CHANGED}
_KIND_BITS: Final = 2
_KIND_MASK: Final = 0b11
# array('H') holds 2**14 - 1 object ids beside the kind; past that it widens to 'I'.
_NARROW_IDS: Final = 2 ** (16 - _KIND_BITS) - 1


def ascending_to_deltas(times: array[int]) -> list[int]:
    """Ascending timestamps as the first one and the steps between: short in JSON."""
    return times[:1].tolist() + [later - earlier for earlier, later in pairwise(times)]


def deltas_to_ascending(deltas: list[Any]) -> array[int]:
    """The inverse of ``ascending_to_deltas``; ``TypeError`` for a non-integer."""
    times = array("q")
    total = 0
    for delta in deltas:
        if type(delta) is not int:
            raise TypeError(f"a time step must be an integer, got {delta!r}")
        total += delta
        times.append(total)
    return times


class ActionTimeline:
    """Graph-node actions of one session key in timestamp order, and their transitions.

    ``n_nodes`` is the course's node count (at most 256: a node index is one byte).
    """

    __slots__ = (
        "_counted",
        "_counts",
        "_n",
        "_nodes",
        "_object_ids",
        "_sliders",
        "_times",
        "_trimmed",
    )

    def __init__(self, n_nodes: int) -> None:
        self._n = n_nodes
        self._nodes = bytearray()
        self._times = array("q")
        self._sliders = array("H")
        self._object_ids: dict[str, int] = {}
        # Flat, row-major, 2 bytes a cell (a 9-node course costs 162 bytes), 8
        # once a cell passes 65,535 (``count_once_more``), as the v1 counts.
        self._counts = array(NARROW, bytes(2 * n_nodes * n_nodes))
        self._counted = 0
        self._trimmed = False

    def __len__(self) -> int:
        """Entries kept, counted or merged by the slider rule."""
        return len(self._nodes)

    @property
    def counted_actions(self) -> int:
        """Actions counted over the whole history (slider pairs once)."""
        return self._counted

    @property
    def matrix(self) -> npt.NDArray[np.int64]:
        """A read-only copy of the transition counts (rows "from"), whole history."""
        counts = np.array(self._counts, dtype=np.int64).reshape(self._n, self._n)
        counts.flags.writeable = False
        return counts

    def add(self, timestamp: int, node: int, verb: str, object_id: str | None) -> bool:
        """Place one action of node index ``node``; False if it is too late to place.

        ``verb`` decides the slider kind (``clicked``, ``changed``, anything else).
        """
        if not 0 <= node < self._n:
            raise ValueError(f"node index {node} is not one of the {self._n} nodes")
        at = bisect_right(self._times, timestamp)
        if at == 0 and self._trimmed:
            return False  # older than every kept entry: its neighbours are gone
        lo = max(0, at - 2)
        before = self._counted_in(lo, min(len(self), at + 3))
        slider = self._slider(verb, object_id)  # first: it may widen the array
        self._nodes.insert(at, node)
        self._times.insert(at, timestamp)
        self._sliders.insert(at, slider)
        after = self._counted_in(lo, min(len(self), at + 4))
        # The windows start and end with entries whose status the insertion cannot
        # change (see the module docstring), so the pairs outside them stay as they are.
        for source, target in pairwise(before):
            self._counts[source * self._n + target] -= 1  # counted before: never below 0
        for source, target in pairwise(after):
            self._counts = count_once_more(self._counts, source * self._n + target)
        self._counted += len(after) - len(before)
        if len(self) > RETAINED_ENTRIES + TRIM_CHUNK:
            self._trim()
        return True

    def ordered_actions(self, limit: int = ORDERED_ACTIONS_MAX) -> bytes:
        """The node indices of the last ``limit`` counted actions, oldest first."""
        picked = bytearray()
        k = len(self) - 1
        while k >= 0 and len(picked) < limit:
            if not self._merged(k):
                picked.append(self._nodes[k])
            k -= 1
        picked.reverse()
        return bytes(picked)

    def _slider(self, verb: str, object_id: str | None) -> int:
        kind = SLIDER_KINDS.get(verb, OTHER)
        if kind == OTHER or object_id is None:
            return kind
        return self._object_index(object_id) << _KIND_BITS | kind

    def _object_index(self, object_id: str) -> int:
        """The interned index of ``object_id`` (from 1), widening the array if needed."""
        index = self._object_ids.get(object_id)
        if index is None:
            # The UIs' element ids are the same for every user: one string for all.
            index = self._object_ids[sys.intern(object_id)] = len(self._object_ids) + 1
        if index > _NARROW_IDS and self._sliders.typecode == "H":
            self._sliders = array("I", self._sliders)
        return index

    def _merged(self, k: int) -> bool:
        """Whether entry ``k`` is the ``changed`` half of a slider pair (not counted)."""
        if k == 0:
            return False
        this, previous = self._sliders[k], self._sliders[k - 1]
        return (
            this & _KIND_MASK == CHANGED
            and previous & _KIND_MASK == CLICKED
            and this >> _KIND_BITS == previous >> _KIND_BITS != 0
            and self._nodes[k] == self._nodes[k - 1]
            and self._times[k] - self._times[k - 1] <= SLIDER_WINDOW_MS
        )

    def _counted_in(self, lo: int, hi: int) -> list[int]:
        return [self._nodes[k] for k in range(lo, hi) if not self._merged(k)]

    def _trim(self) -> None:
        """Drop the oldest entries down to ``RETAINED_ENTRIES``; the counts stay whole.

        The first kept entry must be counted: nothing can be inserted before it any
        more, and a merged first entry would lose the ``clicked`` it merges into.
        """
        cut = len(self) - RETAINED_ENTRIES
        if self._merged(cut):
            cut -= 1
        del self._nodes[:cut], self._times[:cut], self._sliders[:cut]
        self._trimmed = True
        # Re-intern the object ids still referenced, so the table stays bounded too.
        old_ids = {index: object_id for object_id, index in self._object_ids.items()}
        kept, self._object_ids, self._sliders = self._sliders, {}, array("H")
        for value in kept:
            index = value >> _KIND_BITS
            if index:
                index = self._object_index(old_ids[index])
            self._sliders.append(index << _KIND_BITS | value & _KIND_MASK)

    # --- Snapshots on disk ----------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record from which ``from_record`` rebuilds this exact timeline.

        Node indices go as base64 (a byte each); timestamps as deltas (they ascend).
        """
        return {
            "format": RECORD_FORMAT,
            "nodes": base64.b64encode(self._nodes).decode("ascii"),
            "times": ascending_to_deltas(self._times),
            "sliders": self._sliders.tolist(),
            "object_ids": list(self._object_ids),
            "counts": self.matrix.tolist(),
            "counted": self._counted,
            "trimmed": self._trimmed,
        }

    @classmethod
    def from_record(cls, n_nodes: int, record: Mapping[str, Any]) -> ActionTimeline:
        """Rebuild from ``to_record()`` output; raises ``ValueError`` on a bad record."""
        timeline = cls(n_nodes)
        try:
            if record["format"] != RECORD_FORMAT:
                raise ValueError(f"record format {record['format']!r}, expected {RECORD_FORMAT}")
            timeline._nodes = bytearray(base64.b64decode(record["nodes"], validate=True))
            timeline._times = deltas_to_ascending(record["times"])
            wide = len(record["object_ids"]) > _NARROW_IDS
            timeline._sliders = array("I" if wide else "H", record["sliders"])
            timeline._object_ids = {
                str(object_id): i for i, object_id in enumerate(record["object_ids"], 1)
            }
            counts = np.asarray(record["counts"], dtype=np.int64)
            if counts.shape != (n_nodes, n_nodes) or (counts < 0).any():
                raise ValueError(f"bad timeline record: counts of shape {counts.shape}")
            timeline._counts = packed_counts(counts.reshape(-1).tolist())
            timeline._counted = int(record["counted"])
            timeline._trimmed = bool(record["trimmed"])
        except (KeyError, TypeError, OverflowError) as exc:
            raise ValueError(f"bad timeline record: {exc!r}") from exc
        sizes = {len(timeline._nodes), len(timeline._times), len(timeline._sliders)}
        if len(sizes) != 1 or any(node >= n_nodes for node in timeline._nodes):
            raise ValueError("bad timeline record: entries disagree or name unknown nodes")
        return timeline
