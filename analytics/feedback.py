"""Feedback-derived figures: the enjoyment indicator and per-task advice."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

POSITIVE_STATES = frozenset({"Engaged", "Curious", "Delighted"})
NEGATIVE_STATES = frozenset({"Bored", "Confused", "Frustrated", "Surprised", "Anxious"})


def feedback_score(state: str, subject: str, subjects: Collection[str]) -> int:
    """+1, -1 or 0 for one feedback entry; unknown states and subjects count 0."""
    if subject not in subjects:
        return 0
    if state in POSITIVE_STATES:
        return 1
    if state in NEGATIVE_STATES:
        return -1
    return 0


def enjoyment(feedback: Iterable[Mapping[str, Any]], subjects: Collection[str]) -> int:
    """Sum of ``feedback_score`` over the entries: positive states minus negative ones."""
    return sum(
        feedback_score(entry.get("state"), entry.get("subject"), subjects) for entry in feedback
    )


def task_feedback(A: npt.ArrayLike, B: npt.ArrayLike, nodes: Sequence[str]) -> dict[str, list[str]]:
    """What the student should do more of to match task graph ``B``.

    Cells are visited row by row: an edge of ``B`` the student never used goes
    in ``hardware`` (diagonal: a command never repeated) or ``transition``; one
    used less often than in ``B`` goes in the ``*_freq`` lists.
    """
    student = np.asarray(A, dtype=float).tolist()
    task = np.asarray(B, dtype=float).tolist()
    advice: dict[str, list[str]] = {
        "hardware": [],
        "hardware_freq": [],
        "transition": [],
        "transition_freq": [],
    }
    for i, (student_row, task_row) in enumerate(zip(student, task, strict=True)):
        for j, (used, expected) in enumerate(zip(student_row, task_row, strict=True)):
            if used == 0 and expected != 0:
                kind = "hardware" if i == j else "transition"
            elif used < expected:
                kind = "hardware_freq" if i == j else "transition_freq"
            else:
                continue
            advice[kind].append(nodes[i] if i == j else f"{nodes[i]} to {nodes[j]}")
    return advice
