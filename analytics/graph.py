"""Drawing data and centres of mass of a transition graph."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

NODE_COLOR = "#97c2fc"
NODE_SIZE = 10


def vis_node(name: str, position: Sequence[float]) -> dict[str, Any]:
    """One node object as the dashboard's vis-network expects it."""
    x, y = position
    return {
        "color": NODE_COLOR,
        "x": x,
        "y": y,
        "physics": False,
        "size": NODE_SIZE,
        "id": name,
        "label": name,
        "shape": "dot",
    }


def vis_graph(
    A: npt.ArrayLike, nodes: Sequence[str], positions: Mapping[str, Sequence[float]]
) -> dict[str, Any]:
    """Drawing data for graph ``A``: ``{"nodes", "edges", "in_centrality"}``.

    Nodes come in the order the edges first meet them (source, then target),
    then the nodes with no edge in ``nodes`` order. Edges are the nonzero
    cells in row-major order. ``in_centrality`` is each node's number of
    distinct incoming edges over (number of nodes - 1), weights ignored.
    """
    # Plain Python: on 6x6 or 9x9 matrices numpy's per-call cost dominates.
    rows = np.asarray(A, dtype=float).tolist()
    edges = []
    order: dict[int, None] = {}
    for i, row in enumerate(rows):
        for j, weight in enumerate(row):
            if weight:
                order.setdefault(i)
                order.setdefault(j)
                edges.append(
                    {
                        "label": str(int(weight)),
                        "width": weight,
                        "from": nodes[i],
                        "to": nodes[j],
                        "arrows": "to",
                    }
                )
    for index in range(len(nodes)):
        order.setdefault(index)
    return {
        "nodes": [vis_node(nodes[i], positions[nodes[i]]) for i in order],
        "edges": edges,
        "in_centrality": _in_centrality(rows, nodes),
    }


def in_centrality(A: npt.ArrayLike, nodes: Sequence[str]) -> dict[str, float]:
    """Distinct incoming edges of each node over (n - 1); a self-loop counts once.

    A one-node graph has no "other" nodes; like networkx we scale by 1 there,
    so the value is always a number, never null.
    """
    return _in_centrality(np.asarray(A, dtype=float).tolist(), nodes)


def _in_centrality(rows: list[list[float]], nodes: Sequence[str]) -> dict[str, float]:
    incoming = [sum(1 for row in rows if row[j]) for j in range(len(nodes))]
    others = len(nodes) - 1 if len(nodes) > 1 else 1
    return {name: count / others for name, count in zip(nodes, incoming, strict=True)}


def centroid(
    A: npt.ArrayLike, nodes: Sequence[str], vertices: Sequence[Mapping[str, Any]]
) -> tuple[float, float]:
    """Centre of mass of ``vertices``, each weighted by its column sum in ``A``.

    A vertex's mass is the total weight of the edges entering its node,
    self-loops included; vertices whose name is not a node are skipped.
    ``(nan, nan)`` when the total mass is zero.
    """
    masses = np.asarray(A, dtype=float).sum(axis=0).tolist()
    index = {name: i for i, name in enumerate(nodes)}
    total = sum_x = sum_y = 0.0
    for vertex in vertices:
        i = index.get(vertex["name"])
        if i is None:
            continue
        mass = masses[i]
        total += mass
        sum_x += mass * vertex["x"]
        sum_y += mass * vertex["y"]
    if total == 0:
        return (math.nan, math.nan)
    return (sum_x / total, sum_y / total)
