"""The replies a v2 student's dashboard must get, computed by the load tester itself.

Independent of the service's code: PROTOCOL-V2.md's rules and definitions
written out again the plain way, over the course files' data (nodes, task
graphs; read through ``courses``, which is data, not analytics). The
golden ``v2_sessions.jsonl`` checks this reference (``tests/loadtest``),
and this reference checks the service under load.

``V2Expected`` takes one session key's statements in timestamp order (the
student script knows it: its clock is strictly increasing, whatever order
the requests arrive in) and its feedback bodies, and answers what each
read must reply. Everything is kept incrementally, so a check costs the
same whatever the history: counts per edge, the last ``ORDERED_ACTIONS_MAX``
actions, counts per verb, session starts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, Final

import attrs

from courses import Course

# PROTOCOL-V2.md's figures, restated here rather than imported from the service.
GRAPH_VERBS: Final = frozenset({"clicked", "changed", "pressed-hotkey"})
SLIDER_WINDOW_MS: Final = 2_000
SESSION_GAP_MS: Final = 30 * 60_000
ORDERED_ACTIONS_MAX: Final = 10_000
# The v1 ``tasks`` TaskDistance parameters (golden README, ``task_identification``).
DISTANCE_A, DISTANCE_B, LOOP_FACTOR, UPPER_MAX, LOWER_MAX = 10.0, 1.0, 2.0, 2.0, -1.0

Matrix = list[list[float]]


@attrs.frozen
class CourseFacts:
    """What the reference reads of a course: plain lists, task graphs in file order."""

    exp: str
    nodes: tuple[str, ...]
    tasks: dict[str, Matrix]
    full: Matrix | None

    @classmethod
    def of(cls, course: Course) -> CourseFacts:
        tasks = {task: matrix.tolist() for task, matrix in course.tasks.items()}
        full = tasks[course.full_task] if course.full_task is not None else None
        return cls(course.exp, tuple(course.nodes), tasks, full)


def task_distance(student: Matrix, task: Matrix) -> float | None:
    """TaskDistance(student, task) as the golden README defines it; None if no transition."""
    if not any(any(row) for row in student):
        return None
    total = 0.0
    penalties = []
    for i, (row_a, row_b) in enumerate(zip(student, task, strict=True)):
        for j, (a, b) in enumerate(zip(row_a, row_b, strict=True)):
            loop = LOOP_FACTOR if i == j else 1.0
            if a == 0 and b != 0:
                total += loop * DISTANCE_A
            elif a != 0 and b == 0:
                total += loop * DISTANCE_B
            elif a != b:
                r = (a - b) / b
                if 0 <= r <= UPPER_MAX:
                    penalties.append(DISTANCE_B * r / UPPER_MAX)
                elif r > UPPER_MAX:
                    penalties.append(DISTANCE_B)
                elif LOWER_MAX <= r < 0:
                    penalties.append(DISTANCE_A * abs(r) / abs(LOWER_MAX))
                else:
                    penalties.append(DISTANCE_A)
    return total + (sum(penalties) / len(penalties) if penalties else 0.0)


def in_centrality(nodes: tuple[str, ...], matrix: Matrix) -> dict[str, float]:
    """Distinct predecessors of each node, a self-loop included, over n - 1."""
    n = len(nodes)
    return {
        node: sum(1 for i in range(n) if matrix[i][j]) / max(n - 1, 1)
        for j, node in enumerate(nodes)
    }


def graph_edges(nodes: tuple[str, ...], matrix: Matrix) -> dict[str, dict[str, Any]]:
    """``edges`` by id as a graph reply draws them."""
    return {
        f"{a}->{b}": {"from": a, "to": b, "weight": w, "arrows": "to"}
        for a, row in zip(nodes, matrix, strict=True)
        for b, w in zip(nodes, row, strict=True)
        if w
    }


class V2Expected:
    """One session key as the dashboard must see it.

    ``add_statement`` in timestamp order (ties: the order given), each only once
    it was answered ``200``; ``add_feedback`` likewise. An ``anonymous`` key (the
    ``null`` user) keeps nothing: it is answered as a student with no statements.
    ``version`` grows with every change (callers cache by it).
    """

    def __init__(
        self,
        facts: CourseFacts,
        code: str,
        *,
        anonymous: bool = False,
        tz: dt.tzinfo = dt.UTC,
        threshold: float = 0.8,
    ) -> None:
        self.facts = facts
        self.code = code
        self.anonymous = anonymous
        self.tz = tz
        self.threshold = threshold
        self.version = 0
        n = len(facts.nodes)
        self._index = {node: i for i, node in enumerate(facts.nodes)}
        self.counts: Matrix = [[0] * n for _ in range(n)]
        self.transitions = 0
        self.recent: deque[int] = deque(maxlen=ORDERED_ACTIONS_MAX)
        self.verbs: Counter[str] = Counter()
        self.num_logs = 0
        self.session_starts: list[int] = []
        self._last_t: int | None = None
        # The last statement with a known node (counted or not), for the slider rule.
        self._last_entry: tuple[int, int, str, str | None] | None = None
        self.difficulty: dict[str, int] = {}
        self.completion: dict[str, bool] = {}

    # --- what the student did ------------------------------------------------------

    def add_statement(self, statement: Mapping[str, Any]) -> None:
        if self.anonymous:
            return
        self.version += 1
        verb = statement["verb"]["name"]
        t = statement["timestamp"]
        self.verbs[verb] += 1
        self.num_logs += 1
        if verb == "session-started" or self._last_t is None or t - self._last_t > SESSION_GAP_MS:
            self.session_starts.append(t)
        self._last_t = t
        node = (statement.get("context") or {}).get("graph_node") if verb in GRAPH_VERBS else None
        index = self._index.get(node) if isinstance(node, str) else None
        if index is None:
            return  # no node, or one the course does not know: stored, not an action
        element = (statement.get("object") or {}).get("id")
        last = self._last_entry
        self._last_entry = (index, t, verb, element)
        if (
            verb == "changed"
            and last is not None
            and last[2] == "clicked"
            and element is not None
            and last[3] == element
            and last[0] == index
            and t - last[1] <= SLIDER_WINDOW_MS
        ):
            return  # a slider's changed after its clicked: the same action
        if self.recent:
            self.counts[self.recent[-1]][index] += 1
            self.transitions += 1
        self.recent.append(index)

    def add_feedback(self, body: Mapping[str, Any]) -> None:
        if self.anonymous:
            return
        self.version += 1
        for code, value in (body.get("user_difficulty") or {}).items():
            if value == "NA":
                self.difficulty.pop(code, None)
            else:
                self.difficulty[code] = value
        self.completion.update(body.get("user_completion") or {})

    # --- what the dashboard must get -----------------------------------------------

    def task_name(self, task: str) -> str:
        return f"{self.facts.exp}-{self.code}-{task}"

    def reply(self, endpoint: str, taskcode: str | None = None) -> dict[str, Any]:
        """The exact reply of ``endpoint`` now (``comparisonGraph``: of ``taskcode``).

        Raises ``KeyError`` for an endpoint or task code it does not know.
        """
        return _REPLIES[endpoint](self, taskcode)

    def _graph(self, matrix: Matrix) -> dict[str, Any]:
        nodes = self.facts.nodes
        return {
            "hardware": self.facts.exp,
            "nodes": [{"id": node, "label": node} for node in nodes],
            "edges": graph_edges(nodes, matrix),
            "node_info": {"in_centrality": in_centrality(nodes, matrix)},
        }

    def student_graph(self) -> dict[str, Any]:
        reply = self._graph(self.counts)
        reply["ordered_actions"] = [self.facts.nodes[i] for i in self.recent]
        return reply

    def comparison_graph(self, taskcode: str) -> dict[str, Any]:
        prefix = f"{self.facts.exp}-{self.code}-"
        if not taskcode.startswith(prefix):
            raise KeyError(taskcode)
        return self._graph(self.facts.tasks[taskcode[len(prefix) :]])

    def task_completion(self) -> dict[str, Any]:
        if not self.transitions:
            return {"task_dissimilarity": {}, "task_completion": {}, "task_decision": {}}
        dissimilarity, completion, decision = {}, {}, {}
        for task, matrix in self.facts.tasks.items():
            name = self.task_name(task)
            dissimilarity[name] = task_distance(self.counts, matrix)
            expected = sum(map(sum, matrix))
            done = sum(
                min(a, b)
                for row_a, row_b in zip(self.counts, matrix, strict=True)
                for a, b in zip(row_a, row_b, strict=True)
            )
            completion[name] = done / expected if expected else 0.0
            decision[name] = completion[name] >= self.threshold
        return {
            "task_dissimilarity": dissimilarity,
            "task_completion": completion,
            "task_decision": decision,
        }

    def other_indicators(self) -> dict[str, Any]:
        full = self.facts.full
        total = sum(map(sum, full)) if full is not None else 0
        return {"indicators": {"total_edges": 100.0 * self.transitions / total if total else 0.0}}

    def task_exploration(self) -> dict[str, Any]:
        full = self.facts.full
        outside = sum(
            count
            for i, row in enumerate(self.counts)
            for j, count in enumerate(row)
            if full is None or not full[i][j]
        )
        share = 100.0 * outside / self.transitions if self.transitions else 0.0
        return {"task_exploration": share}

    def usage_stats(self) -> dict[str, Any]:
        moments = [dt.datetime.fromtimestamp(t // 1000, self.tz) for t in self.session_starts]
        return {
            "interactionCounts": dict(self.verbs),
            "numLogs": self.num_logs,
            "session_dates": sorted({moment.strftime("%Y-%m-%d") for moment in moments}),
            "session_times": [moment.strftime("%H:%M:%S") for moment in moments],
        }

    def user_feedback(self) -> dict[str, Any]:
        return {
            "feedback": {"difficulty": dict(self.difficulty), "completion": dict(self.completion)}
        }


_REPLIES = {
    "studentGraph": lambda e, _: e.student_graph(),
    "comparisonGraph": lambda e, taskcode: e.comparison_graph(taskcode),
    "taskCompletion": lambda e, _: e.task_completion(),
    "otherIndicators": lambda e, _: e.other_indicators(),
    "taskExploration": lambda e, _: e.task_exploration(),
    "usageStats": lambda e, _: e.usage_stats(),
    "getUserFeedback": lambda e, _: e.user_feedback(),
}
