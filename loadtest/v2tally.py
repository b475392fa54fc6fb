"""The ledger of a v2 run: every statement and request, and what became of it.

Every statement POSTed ends in exactly one place: stored (``200
{"stored": true}``), refused (a 4xx: the service says it did not keep it),
or unknown (any other status, a timeout, a lost connection: it may or may
not have been kept). Every dashboard request likewise: answered (``200``,
then checked), an error reply (its status and code), or missing. Nothing
is dropped silently; kinds of problems are counted by text, bounded.
"""

from __future__ import annotations

from collections import Counter

import attrs

from loadtest.stats import Timeline
from loadtest.tally import _bounded_count

MAX_EXAMPLES = 10


@attrs.define
class V2Tally:
    """Counters for one v2 run. Owned by the runner; mutated only from its trio tasks."""

    timeline: Timeline
    statements_sent: int = 0
    statements_by_verb: Counter[str] = attrs.field(factory=Counter)
    statements_stored: int = 0
    statements_refused: Counter[str] = attrs.field(factory=Counter)
    statements_unknown: Counter[str] = attrs.field(factory=Counter)
    overtaking_steps: int = 0
    requests: Counter[str] = attrs.field(factory=Counter)  # by endpoint, preflights included
    answered: Counter[str] = attrs.field(factory=Counter)
    errors: Counter[str] = attrs.field(factory=Counter)  # "endpoint: status code"
    missing: Counter[str] = attrs.field(factory=Counter)  # "endpoint: why"
    wrong: Counter[str] = attrs.field(factory=Counter)
    wrong_examples: list[str] = attrs.field(factory=list)
    checked_exact: int = 0
    checked_shape_only: int = 0
    students_uncertain: int = 0  # a statement or feedback neither 200 nor refused
    no_cors: int = 0
    connect_failures: Counter[str] = attrs.field(factory=Counter)
    connections_lost: Counter[str] = attrs.field(factory=Counter)
    connections_opened: int = 0
    retried: int = 0
    stuck_sends: int = 0
    in_flight: int = 0
    latencies_s: dict[str, list[float]] = attrs.field(factory=dict)

    # --- statements --------------------------------------------------------------

    def statement_sent(self, verb: str, now: float) -> None:
        self.statements_sent += 1
        self.statements_by_verb[verb] += 1
        self.timeline.at(now).events += 1

    def statement_stored(self) -> None:
        self.statements_stored += 1

    def statement_refused(self, why: str) -> None:
        _bounded_count(self.statements_refused, why)

    def statement_unknown(self, why: str) -> None:
        _bounded_count(self.statements_unknown, why)

    # --- requests ----------------------------------------------------------------

    def request_sent(self, endpoint: str, now: float) -> None:
        self.requests[endpoint] += 1
        if endpoint != "preflight":
            self.timeline.at(now).requests += 1

    def replied(self, endpoint: str, sent_at: float, now: float) -> None:
        """A reply came (any status): one latency sample of ``endpoint``."""
        self.latencies_s.setdefault(endpoint, []).append(now - sent_at)
        if endpoint not in ("addLog", "preflight"):
            self.timeline.at(sent_at).latencies_s.append(now - sent_at)

    def error(self, endpoint: str, status: int, code: str) -> None:
        _bounded_count(self.errors, f"{endpoint}: {status} {code}".rstrip())

    def missed(self, endpoint: str, why: str, sent_at: float) -> None:
        _bounded_count(self.missing, f"{endpoint}: {why}")
        if endpoint not in ("addLog", "preflight"):
            self.timeline.at(sent_at).missing += 1

    def wrong_reply(self, problem: str, detail: str | None) -> None:
        _bounded_count(self.wrong, problem)
        if detail is not None and len(self.wrong_examples) < MAX_EXAMPLES:
            self.wrong_examples.append(f"{problem}: {detail}")

    # --- connections -------------------------------------------------------------

    def connect_failed(self, role: str, why: str) -> None:
        _bounded_count(self.connect_failures, f"{role} could not connect: {why[:120]}")

    def connection_lost(self, role: str, why: str) -> None:
        _bounded_count(self.connections_lost, f"{role} connection lost: {why[:120]}")

    @property
    def reads_missing(self) -> int:
        return sum(n for kind, n in self.missing.items() if not kind.startswith("addLog"))

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())
