"""The ledger of a run: every event sent, every request and what became of it.

Every request ends in exactly one of two ways, and is counted there:
answered (all its replies arrived: one latency sample) or missing (timed
out, its connection was lost, or the run ended first, with the number of
reply frames that never came). A reply that arrives after its request was
given up is counted as late, never as an answer. Nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import trio

from loadtest.shape import Ask, check_reply
from loadtest.stats import Timeline

# Distinct wrong-shape and connection problems kept by text; beyond, "other".
MAX_PROBLEM_KINDS = 20


def _bounded_count(counter: Counter[str], key: str) -> None:
    if key in counter or len(counter) < MAX_PROBLEM_KINDS:
        counter[key] += 1
    else:
        counter["(other problems)"] += 1


@attrs.define
class Pending:
    """A request sent and not yet fully answered."""

    ask: Ask
    owner: int
    sent_at: float
    received: int = 0


@attrs.define
class Tally:
    """Counters for one run. Owned by the runner; mutated only from trio tasks.

    Dashboards are told apart by ``owner`` (an index): on a relay every
    dashboard sees every reply, and only the asker may count one.
    """

    timeline: Timeline
    reply_timeout_s: float
    events_sent: int = 0
    events_by_kind: Counter[str] = attrs.field(factory=Counter)
    requests: int = 0
    requests_by_content: Counter[str] = attrs.field(factory=Counter)
    answered: int = 0
    missing_by_reason: Counter[str] = attrs.field(factory=Counter)
    reply_frames_missing: int = 0
    reply_frames: int = 0
    errors_by_code: Counter[str] = attrs.field(factory=Counter)
    wrong_shape: int = 0
    wrong_shape_kinds: Counter[str] = attrs.field(factory=Counter)
    late_replies: int = 0
    unreadable_frames: int = 0
    event_errors_by_code: Counter[str] = attrs.field(factory=Counter)
    connect_failures: int = 0
    connections_lost: int = 0
    connection_problems: Counter[str] = attrs.field(factory=Counter)
    stuck_sends: int = 0
    latencies_s: dict[str, list[float]] = attrs.field(factory=dict)
    pending: dict[str, Pending] = attrs.field(factory=dict)
    # id -> (owner, "answered" | "missing"): to tell a late reply from a stranger's.
    finished: dict[str, tuple[int, str]] = attrs.field(factory=dict)
    _outstanding: Counter[int] = attrs.field(factory=Counter)
    _idle: dict[int, trio.Event] = attrs.field(factory=dict)

    # --- events ---------------------------------------------------------------

    def event_sent(self, kind: str, now: float) -> None:
        self.events_sent += 1
        self.events_by_kind[kind] += 1
        self.timeline.at(now).events += 1

    def event_error(self, code: str) -> None:
        self.event_errors_by_code[code] += 1

    # --- connections ------------------------------------------------------------

    def connect_failed(self, role: str, why: str) -> None:
        self.connect_failures += 1
        _bounded_count(self.connection_problems, f"{role} could not connect: {why}")

    def connection_lost(self, role: str, why: str) -> None:
        self.connections_lost += 1
        _bounded_count(self.connection_problems, f"{role} connection lost: {why}")

    def unreadable(self) -> None:
        self.unreadable_frames += 1

    # --- requests ---------------------------------------------------------------

    def request_sent(self, ask: Ask, owner: int, now: float) -> None:
        """Register before sending: the reply may arrive before ``send`` returns."""
        self.requests += 1
        self.requests_by_content[ask.content] += 1
        self.timeline.at(now).requests += 1
        self.pending[ask.request_id] = Pending(ask, owner, now)
        self._outstanding[owner] += 1

    def reply(
        self, owner: int, frame: dict[str, Any], parse_problem: str | None, now: float
    ) -> bool:
        """Count ``frame`` if it answers one of ``owner``'s requests; False if not ours."""
        request_id = frame.get("id")
        if not isinstance(request_id, str):
            return False
        pending = self.pending.get(request_id)
        if pending is None:
            return self._after_the_fact(owner, request_id)
        if pending.owner != owner:
            return False
        position = pending.received
        pending.received += 1
        self.reply_frames += 1
        if parse_problem is not None:
            self._wrong(parse_problem)
        else:
            verdict = check_reply(pending.ask, position, frame)
            if verdict.error_code is not None:
                self.errors_by_code[verdict.error_code] += 1
            if verdict.problem is not None:
                self._wrong(verdict.problem)
        if pending.received == len(pending.ask.expected):
            self.latencies_s.setdefault(pending.ask.content, []).append(now - pending.sent_at)
            self.timeline.at(pending.sent_at).latencies_s.append(now - pending.sent_at)
            self.answered += 1
            self._finish(request_id, pending, "answered")
        return True

    def _after_the_fact(self, owner: int, request_id: str) -> bool:
        owner_and_end = self.finished.get(request_id)
        if owner_and_end is None or owner_and_end[0] != owner:
            return False
        if owner_and_end[1] == "missing":
            self.late_replies += 1
        else:
            self._wrong("more replies than the request gets")
        return True

    def _wrong(self, problem: str) -> None:
        self.wrong_shape += 1
        _bounded_count(self.wrong_shape_kinds, problem)

    def _finish(self, request_id: str, pending: Pending, end: str) -> None:
        del self.pending[request_id]
        self.finished[request_id] = (pending.owner, end)
        self._outstanding[pending.owner] -= 1
        if self._outstanding[pending.owner] == 0 and pending.owner in self._idle:
            self._idle.pop(pending.owner).set()

    def give_up(self, request_id: str, reason: str) -> None:
        pending = self.pending[request_id]
        self.missing_by_reason[reason] += 1
        self.reply_frames_missing += len(pending.ask.expected) - pending.received
        self.timeline.at(pending.sent_at).missing += 1
        self._finish(request_id, pending, "missing")

    def expire(self, now: float) -> None:
        """Give up every request older than the reply timeout."""
        deadline = now - self.reply_timeout_s
        for request_id in [i for i, p in self.pending.items() if p.sent_at <= deadline]:
            self.give_up(request_id, "timeout")

    def abandon(self, reason: str, owner: int | None = None) -> None:
        """Give up every open request (of ``owner``): its connection or the run ended."""
        for request_id in [i for i, p in self.pending.items() if owner is None or p.owner == owner]:
            self.give_up(request_id, reason)

    async def wait_idle(self, owner: int) -> None:
        """Return once ``owner`` has no request in flight."""
        if self._outstanding[owner] > 0:
            await self._idle.setdefault(owner, trio.Event()).wait()

    @property
    def replies_missing(self) -> int:
        """Requests not fully answered (each counted once, whatever it lacked)."""
        return sum(self.missing_by_reason.values())

    @property
    def errors(self) -> int:
        return sum(self.errors_by_code.values())
