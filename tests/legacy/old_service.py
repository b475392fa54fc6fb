"""The old service's writes, made with its own pandas calls: fixtures as it really left them.

Transcribed from the old service (``process.py``: ``AddUserLog``,
``AddUserFeedback``, ``GenerateAdjacencyMatrix``):

- every UI frame is appended to ``{user}-{hardware}-{exp}-{course}.json`` as
  ``json.dumps(message)`` and a newline;
- feedback goes into ``{user}-{exp}-{course}-feedback.csv``:
  ``pd.read_csv(path, index_col=0)`` if it exists, else
  ``pd.DataFrame(np.zeros((8, k)), states, subjects)`` with the old service's
  own subject list (course ``cie3`` adds the spinner cie3 tasks, course
  ``engdes1`` adds ``pendulum-engdes1-1`` and ``-2``, whatever the lab), then
  one ``df[subject][state] += 1`` and ``df.to_csv(path)``; a state or subject
  outside the frame raised ``KeyError``, which it caught and dropped;
- at a dashboard request, one conversion (golden README, ``adjacency_batches``)
  adds the transitions of the logs to ``{user}-{exp}-{course}-adjacency.csv``
  (``pd.read_csv(..., index_col=0)`` or a zero ``DataFrame``, ``+= 1`` per
  transition, ``to_csv``), then, if it counted two commands or more, deletes
  the logs and writes their last line back as a one-line log.

One change is forced by pandas 3: under copy-on-write the chained
``df[column][row] += 1`` no longer writes through (pandas warns, and the
frame stays 0), so the same cell update is spelt ``df.loc[row, column] += 1``,
which is what the chained form did in the pandas the old service ran.
``test_old_files`` checks the bytes this produces against a literal file.

Node and command tables come from the reference figures
(``tests/data/reference/courses.json``), not from the code under test.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from tests.conftest import golden

# The old service's eight states, in its order (the reference figures list them so).
FEEDBACK_STATES = golden("courses")["feedback_states"]
STATES = [*FEEDBACK_STATES["positive"], *FEEDBACK_STATES["negative"]]
BASE_SUBJECTS = ["Workbook", "Remote work", "Hardware", "UI", "LA", "Other"]


def old_subjects(course: str) -> list[str]:
    """The columns ``AddUserFeedback`` gave a new feedback file of ``course``."""
    subjects = list(BASE_SUBJECTS)
    if course == "cie3":
        subjects += ["spinner-cie3-1-2", "spinner-cie3-3", "spinner-cie3-4"]
    elif course == "engdes1":
        subjects += ["pendulum-engdes1-1", "pendulum-engdes1-2"]
    return subjects


def reference_course(exp: str, course: str) -> dict[str, Any]:
    """The course's figures as the reference data gives them."""
    return next(c for c in golden("courses")["courses"] if (c["exp"], c["course"]) == (exp, course))


@attrs.define
class OldService:
    """Writes into ``directory`` exactly what the old service wrote there."""

    directory: Path

    def log_path(self, user: str, hardware: str, exp: str, course: str) -> Path:
        return self.directory / f"{user}-{hardware}-{exp}-{course}.json"

    def logs_of(self, user: str, exp: str, course: str) -> list[Path]:
        """The user's log files of one course, one per hardware (which holds no ``-``)."""
        head, tail = f"{user}-", f"-{exp}-{course}.json"
        return sorted(
            path
            for path in self.directory.glob("*.json")
            if path.name.startswith(head)
            and path.name.endswith(tail)
            and "-" not in path.name[len(head) : -len(tail)]
        )

    def add_log(self, message: dict[str, Any]) -> None:
        path = self.log_path(
            message["user"], message["hardware"], message["exp"], message["course"]
        )
        with path.open("a") as outfile:
            outfile.write(json.dumps(message))
            outfile.write("\n")

    def add_feedback(self, message: dict[str, Any]) -> None:
        user, exp, course = message["user"], message["exp"], message["course"]
        path = self.directory / f"{user}-{exp}-{course}-feedback.csv"
        if path.is_file():
            df = pd.read_csv(path, index_col=0)
        else:
            subjects = old_subjects(course)
            df = pd.DataFrame(np.zeros((len(STATES), len(subjects))), STATES, subjects)
        try:
            # The old code: df[new_subject][new_state] += 1 (see the module docstring).
            df.loc[message["payload"]["state"], message["payload"]["subject"]] += 1
        except KeyError:
            return  # "error adding feedback": the frame was dropped
        df.to_csv(path)

    def convert(self, user: str, exp: str, course: str) -> None:
        """One conversion of every log of the user's course, as at a dashboard request."""
        reference = reference_course(exp, course)
        nodes, command_of = reference["nodes"], reference["log_to_command"]
        logs = self.logs_of(user, exp, course)
        stored = [
            (json.loads(line), line)
            for path in logs
            for line in path.read_text().splitlines(keepends=True)
            if len(line) > 1
        ]
        if len({frame["hardware"] for frame, _ in stored}) > 1:
            stored.sort(key=lambda item: item[0]["t"])
        commands = [
            command_of[frame["payload"]["log"]]
            for frame, _ in stored
            if frame["payload"]["log"] in command_of
        ]
        path = self.directory / f"{user}-{exp}-{course}-adjacency.csv"
        if path.is_file():
            df = pd.read_csv(path, index_col=0)
        else:
            df = pd.DataFrame(np.zeros((len(nodes), len(nodes))), nodes, nodes)
        for source, target in pairwise(commands):
            df.loc[source, target] += 1  # the old code: df[target][source] += 1
        df.to_csv(path)
        if len(commands) >= 2:  # else every line stays for the next conversion
            for log in logs:
                log.unlink()
            last, line = stored[-1]
            with self.log_path(user, last["hardware"], exp, course).open("a") as f:
                f.write(line)


def ui_frame(user: str, exp: str, course: str, event: dict[str, Any]) -> dict[str, Any]:
    """A lab UI's analytics frame for a golden ``{t, hardware, log}`` event."""
    return {
        "user": user,
        "t": event["t"],
        "type": "analytics",
        "exp": exp,
        "course": course,
        "hardware": event["hardware"],
        "payload": {"log": event["log"]},
    }


def feedback_frame(user: str, exp: str, course: str, state: str, subject: str) -> dict[str, Any]:
    return {
        "user": user,
        "t": 1_700_000_000_000,
        "type": "feedback",
        "exp": exp,
        "course": course,
        "hardware": "spin30",
        "payload": {"state": state, "subject": subject},
    }


def reference_enjoyment(entries: list[tuple[str, str]], exp: str, course: str) -> int:
    """golden README, ``enjoyment``, with the course's subjects from the reference figures."""
    figures = golden("courses")
    reference = reference_course(exp, course)
    subjects = set(figures["feedback_common_subjects"]) | set(reference["feedback_task_subjects"])
    positive, negative = (
        figures["feedback_states"]["positive"],
        figures["feedback_states"]["negative"],
    )
    return sum(
        (state in positive) - (state in negative)
        for state, subject in entries
        if subject in subjects
    )
