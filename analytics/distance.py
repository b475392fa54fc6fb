"""Dissimilarities between a student's transition graph and a comparison graph.

Every function takes matrices as anything ``numpy.asarray`` accepts, rows
"from" and columns "to", and returns ``math.nan`` where the golden README says
the value is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
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
    """``task_distance`` of one student graph against a stack ``Bs`` of shape (k, n, n)."""
    weights = DistanceWeights(a, b, loop_factor, upper_max, lower_max)
    return DistanceTable(Bs, [weights] * len(np.asarray(Bs)))(A)


@attrs.frozen
class DistanceWeights:
    """The parameters of ``task_distance`` (golden README: a, b, loopFactor, upperMax, lowerMax)."""

    a: float = 10
    b: float = 1
    loop_factor: float = 2
    upper_max: float = 2
    lower_max: float = -1


class DistanceTable:
    """``task_distance`` against a fixed stack of graphs, each with its own weights.

    Everything that depends only on the stack is computed once, so that a
    request (one student graph against all of a course's task graphs, plus
    the exploration indicator) is a handful of numpy operations. Per cell:

    - missing edge (A = 0, B != 0): ``a``, times ``loop_factor`` on the diagonal;
    - additional edge (A != 0, B = 0): ``b``, times ``loop_factor`` on the diagonal;
    - both nonzero and different: a penalty from r = (A - B) / B, and the
      penalties of these cells are *averaged*, then added once.
    """

    def __init__(self, Bs: ArrayLike, weights: Sequence[DistanceWeights]) -> None:
        tasks = np.asarray(Bs, dtype=float)
        k, n, _ = tasks.shape
        if len(weights) != k:
            raise ValueError(f"{len(weights)} weights for {k} graphs")

        def column(name: str) -> npt.NDArray[np.float64]:
            return np.array([getattr(w, name) for w in weights], dtype=float).reshape(k, 1)

        a, b = column("a"), column("b")
        loop_weight = np.where(np.eye(n, dtype=bool), column("loop_factor")[:, :, None], 1.0)
        self._tasks = tasks.reshape(k, n * n)
        self._task_has = self._tasks != 0
        # What each cell adds when the student lacks it, and when the student has it.
        self._if_lacking = (a * (loop_weight.reshape(k, n * n) * self._task_has)).T
        self._if_having = (b * (loop_weight.reshape(k, n * n) * ~self._task_has)).T
        with np.errstate(divide="ignore"):
            self._inverse = np.where(
                self._task_has, 1 / np.where(self._task_has, self._tasks, 1), 0
            )
        self._a, self._b = a, b
        self._upper, self._lower = column("upper_max"), np.abs(column("lower_max"))
        self._lower_signed = column("lower_max")

    def __call__(self, A: ArrayLike) -> npt.NDArray[np.float64]:
        """Distances of student graph ``A`` to every graph of the stack (nan if A is empty)."""
        student = np.asarray(A, dtype=float).reshape(-1)
        has = student != 0
        if not has.any():
            return np.full(self._tasks.shape[0], math.nan)
        total = (~has) @ self._if_lacking + has @ self._if_having
        both = has & self._task_has & (student != self._tasks)
        r = (student - self._tasks) * self._inverse
        with np.errstate(divide="ignore", invalid="ignore"):
            # The golden README's order: the first condition that holds decides.
            penalty = np.where(
                (r >= 0) & (r <= self._upper),
                self._b * r / self._upper,
                np.where(
                    r > self._upper,
                    self._b,
                    np.where(r >= self._lower_signed, self._a * -r / self._lower, self._a),
                ),
            )
        counts = both.sum(axis=1)
        sums = np.where(both, penalty, 0.0).sum(axis=1)
        return total + np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


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
