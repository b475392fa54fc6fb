"""A node sequence that walks a task graph: the ``ordered_actions`` of ``comparisonGraph``.

The dashboard's step view replays ``ordered_actions`` pair by pair, so every
consecutive pair must be an edge, and ideally the pairs give exactly the matrix: an
Euler trail of the multigraph whose edge (i, j) appears ``matrix[i][j]`` times. One
exists when the edges form one connected piece and at most one node has one more
edge out than in (the start) and one node one more in than out (the end).

When no trail exists (a graph in two pieces, or too unbalanced), a sequence giving
exactly the matrix is impossible, and joining pieces would put a non-edge pair on the
page, which breaks it. So the edges are split into the fewest trails (the classic
construction: join each surplus end to a surplus start with a virtual edge, take an
Euler circuit, cut it at the virtual edges) and the longest trail is returned: every
pair is an edge, and no pair is used more often than its weight.

Deterministic: ties go to the lowest node index, so a course file always gives the
same sequence. Weights are rounded to whole traversals, a fractional weight (a mean
graph) counting at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

_REAL: Final = 0
_VIRTUAL: Final = 1


def multiplicities(matrix: npt.ArrayLike) -> list[list[int]]:
    """Whole traversals per edge: weights rounded half up, at least 1 where nonzero."""
    weights = np.asarray(matrix, dtype=float)
    rounded = np.floor(weights + 0.5).astype(np.int64)
    return np.where(weights > 0, np.maximum(rounded, 1), 0).tolist()


def euler_trail(matrix: npt.ArrayLike) -> list[int]:
    """Node indices of an Euler trail of ``matrix``, or of its longest piece if none exists.

    An empty graph gives ``[]``; a graph of one edge ``[i, j]``.
    """
    counts = multiplicities(matrix)
    pieces = [piece for nodes in _components(counts) for piece in _trails_of(counts, nodes)]
    return max(pieces, key=len, default=[])  # max keeps the first of equally long ones


def _components(counts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Weakly connected groups of nodes that have edges, each sorted, by lowest node."""
    n = len(counts)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if counts[i][j]:
                neighbours[i].add(j)
                neighbours[j].add(i)
    seen: set[int] = set()
    components = []
    for first in range(n):
        if first in seen or not neighbours[first]:
            continue
        component, stack = [], [first]
        seen.add(first)
        while stack:
            node = stack.pop()
            component.append(node)
            for other in neighbours[node] - seen:
                seen.add(other)
                stack.append(other)
        components.append(sorted(component))
    return components


def _trails_of(counts: Sequence[Sequence[int]], nodes: list[int]) -> list[list[int]]:
    """The fewest trails covering every edge of one connected component."""
    surplus = {v: sum(counts[v]) - sum(row[v] for row in counts) for v in nodes}
    starts = [v for v in nodes for _ in range(max(surplus[v], 0))]
    ends = [v for v in nodes for _ in range(max(-surplus[v], 0))]
    # edges[v]: [target, real count, virtual count] in target order.
    edges = {v: [[j, counts[v][j], 0] for j in range(len(counts)) if counts[v][j]] for v in nodes}
    for end, start in zip(ends, starts, strict=True):
        entry = next((e for e in edges[end] if e[0] == start), None)
        if entry is None:
            entry = [start, 0, 0]
            edges[end].append(entry)
            edges[end].sort()
        entry[2] += 1
    circuit = _circuit(edges, starts[0] if starts else nodes[0])
    ring = [node for node, _ in circuit[:-1]]  # closed: the last node is the first
    kinds = [via for _, via in circuit[1:]]  # kinds[i]: the edge ring[i] -> ring[i + 1]
    if _VIRTUAL not in kinds:
        return [[*ring, ring[0]]]  # balanced: one Euler circuit
    # Go round from just after a virtual edge, and cut at every virtual edge.
    first = kinds.index(_VIRTUAL) + 1
    size = len(ring)
    pieces = [[ring[first % size]]]
    for step in range(1, size):
        node = ring[(first + step) % size]
        if kinds[(first + step - 1) % size] == _VIRTUAL:
            pieces.append([node])
        else:
            pieces[-1].append(node)
    return pieces


def _circuit(edges: dict[int, list[list[int]]], start: int) -> list[tuple[int, int]]:
    """Hierholzer's circuit from ``start``: (node, how it was reached), real edges first.

    The circuit closes at ``start``; its first element was reached by nothing (``_REAL``
    stands in) and its last by the edge that closes it.
    """
    position = dict.fromkeys(edges, 0)
    stack: list[tuple[int, int]] = [(start, _REAL)]
    reversed_circuit: list[tuple[int, int]] = []
    while stack:
        node, _ = stack[-1]
        out = edges[node]
        while position[node] < len(out) and out[position[node]][1] + out[position[node]][2] == 0:
            position[node] += 1
        if position[node] == len(out):
            reversed_circuit.append(stack.pop())
            continue
        entry = out[position[node]]
        if entry[1]:
            entry[1] -= 1
            stack.append((entry[0], _REAL))
        else:
            entry[2] -= 1
            stack.append((entry[0], _VIRTUAL))
    return reversed_circuit[::-1]
