"""What the fake v2 dashboards ask: sans-io, seeded, no sockets.

The v2 student dashboard reads seven endpoints of ``th`` and posts the
student's own feedback (PROTOCOL-V2.md "Reading"). A ``V2DashboardScript``
picks the next request by a weighted mix, builds its target as the page
does (``taskcode`` first for ``comparisonGraph``, the query not
URL-encoded) and, for ``submitUserFeedback``, one of the three bodies: an
affective state, or the whole completion or difficulty map (``"NA"`` for
an unset difficulty).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Final

import attrs

from loadtest.script import STATES
from loadtest.v2script import V2Persona

READS: Final = (
    "studentGraph",
    "comparisonGraph",
    "taskCompletion",
    "otherIndicators",
    "taskExploration",
    "usageStats",
    "getUserFeedback",
)
FEEDBACK: Final = "submitUserFeedback"


@attrs.frozen
class DashboardAsk:
    """One request of a v2 dashboard: the endpoint, its path and query, a body for a POST."""

    endpoint: str
    target: str
    body: dict[str, Any] | None = None
    taskcode: str | None = None


class V2DashboardScript:
    """What one v2 dashboard asks, seeded: reads by ``mix``, and sometimes feedback.

    ``mix`` weighs the endpoints (``READS`` and ``FEEDBACK``). A course with no
    task graphs is never asked ``comparisonGraph`` (it has no task code) and
    only gets affective states as feedback.
    """

    def __init__(
        self, persona: V2Persona, seed: int, th: str, mix: Sequence[tuple[str, float]]
    ) -> None:
        self.persona = persona
        self.rng = random.Random(f"v2-dashboard-{seed}-{persona.index}")
        self.th = th
        self._kinds = [kind for kind, _ in mix]
        self._weights = [weight for _, weight in mix]
        self._codes = [persona.task_code(task) for task in persona.course.tasks]

    def next_ask(self) -> DashboardAsk:
        endpoint = self.rng.choices(self._kinds, self._weights)[0]
        query = self.persona.query
        if endpoint == "comparisonGraph":
            if not self._codes:
                endpoint = "studentGraph"
            else:  # the dashboard puts taskcode first
                code = self.rng.choice(self._codes)
                target = f"{self.th}/comparisonGraph?taskcode={code}&{query}"
                return DashboardAsk(endpoint, target, taskcode=code)
        target = f"{self.th}/{endpoint}?{query}"
        if endpoint == FEEDBACK:
            return DashboardAsk(endpoint, target, body=self._feedback())
        return DashboardAsk(endpoint, target)

    def _feedback(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choice(("affective_state", "user_completion", "user_difficulty"))
        if kind == "user_completion" and self._codes:
            return {kind: {code: rng.random() < 0.5 for code in self._codes}}
        if kind == "user_difficulty" and self._codes:  # the whole map, "NA" for unset
            return {kind: {code: rng.choice((1, 2, 3, 4, 5, "NA")) for code in self._codes}}
        subject = rng.choice(sorted(self.persona.course.feedback_subjects))
        state: dict[str, Any] = {"state": rng.choice(STATES), "subject": subject}
        if subject == "Other":
            state["input"] = "typed by a fake student of the load tester"
        return {"affective_state": state}
