"""Dissimilarities between a student's transition graph and a comparison graph.

Every function takes matrices as anything ``numpy.asarray`` accepts, rows
"from" and columns "to", and returns ``math.nan`` where the golden README says
the value is undefined.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


def task_distance(
    A: ArrayLike,
    B: ArrayLike,
    *,
    a: float = 10,
    b: float = 1,
    loop_factor: float = 2,
    upper_max: float = 2,
    lower_max: float = -1,
) -> float:
    """Task-identification dissimilarity of ``A`` (student) against ``B`` (task).

    ``a`` weighs what the student misses, ``b`` what the student adds; see
    ``task_distances`` for the rule. Undefined (nan) when ``A`` is all zero.
    """
    distances = task_distances(
        A,
        np.asarray(B, dtype=float)[np.newaxis],
        a=a,
        b=b,
        loop_factor=loop_factor,
        upper_max=upper_max,
        lower_max=lower_max,
    )
    return float(distances[0])


def task_distances(
    A: ArrayLike,
    Bs: ArrayLike,
    *,
    a: float = 10,
    b: float = 1,
    loop_factor: float = 2,
    upper_max: float = 2,
    lower_max: float = -1,
) -> npt.NDArray[np.float64]:
    """``task_distance`` of one student graph against a stack ``Bs`` of shape (k, n, n).

    Vectorised across the stack because a course compares every request with
    all of its task graphs at once. Per cell:

    - missing edge (A = 0, B != 0): ``a``, times ``loop_factor`` on the diagonal;
    - additional edge (A != 0, B = 0): ``b``, times ``loop_factor`` on the diagonal;
    - both nonzero and different: a penalty from r = (A - B) / B, and the
      penalties of these cells are *averaged*, then added once.
    """
    student = np.asarray(A, dtype=float)
    tasks = np.asarray(Bs, dtype=float)
    if not student.any():
        return np.full(tasks.shape[0], math.nan)
    n = student.shape[0]
    loop_weight = np.where(np.eye(n, dtype=bool), float(loop_factor), 1.0)

    student_has = student != 0
    task_has = tasks != 0
    missing = ~student_has & task_has
    additional = student_has & ~task_has
    both = student_has & task_has & (student != tasks)

    total = a * (missing * loop_weight).sum(axis=(1, 2))
    total += b * (additional * loop_weight).sum(axis=(1, 2))

    with np.errstate(divide="ignore", invalid="ignore"):
        r = (student - tasks) / tasks
        # np.select picks the first true condition, in the golden README's order.
        penalty = np.select(
            [(r >= 0) & (r <= upper_max), r > upper_max, (r >= lower_max) & (r < 0)],
            [b * r / upper_max, np.full_like(r, b), a * np.abs(r) / abs(lower_max)],
            default=a,
        )
    counts = both.sum(axis=(1, 2))
    sums = np.where(both, penalty, 0.0).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        total += np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return total


def ged(A: ArrayLike, B: ArrayLike) -> float:
    """Graph edit distance on weights: the sum of |A - B| over every cell."""
    return float(np.abs(np.asarray(A, dtype=float) - np.asarray(B, dtype=float)).sum())


def total_edges(A: ArrayLike, B: ArrayLike) -> float:
    """Share of ``B``'s transitions the student has made: 100 * sum(A) / sum(B).

    Undefined (nan) for an empty ``B``, which no course file allows.
    """
    expected = float(np.asarray(B, dtype=float).sum())
    if expected == 0:
        return math.nan
    return 100.0 * float(np.asarray(A, dtype=float).sum()) / expected
