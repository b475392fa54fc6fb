"""The result of a v2 run: figures for machines (``to_json``) and words for people.

Three counts tell whether the statements were kept: sent, answered ``200``
(the service says: committed), and stored (counted in the store after it
stopped, when the load tester started it). A 200 that is not in the store
is the worst failure a run can show; every other failure the ledger counted
appears under "Problems" too, and a clean run says so in one line.
"""

from __future__ import annotations

from typing import Any

import attrs

from loadtest.pacing import Pacer
from loadtest.report import (
    RATE_SHORTFALL,
    ServiceInfo,
    _counts,
    _latency_line,
    client_cpu_warning,
    closing_lines,
    service_lines,
)
from loadtest.stats import LATENCY_METHOD, summarize_ms
from loadtest.v2asks import FEEDBACK
from loadtest.v2options import V2Options
from loadtest.v2tally import V2Tally

NOT_READS = ("addLog", "preflight")
WIDTH = 18  # "submitUserFeedback"


@attrs.frozen(kw_only=True)
class V2Report:
    """Everything one v2 run measured. Counts are exact; latencies in ``latency_by_endpoint``."""

    url: str
    users: int
    dashboards: int
    duration_s: float
    target_rate: float | None
    think_time_s: tuple[float, float]
    request_interval_s: float
    reply_timeout_s: float
    overtake_share: float
    seed: int
    started_at: str
    statements_sent: int
    statements_by_verb: dict[str, int]
    statements_per_s: float
    statements_stored: int  # answered 200
    statements_refused: dict[str, int]
    statements_unknown: dict[str, int]
    overtaking_steps: int
    schedule_slips: int
    requests: dict[str, int]
    answered: dict[str, int]
    errors: dict[str, int]
    missing: dict[str, int]
    wrong: dict[str, int]
    wrong_examples: list[str]
    checked_exact: int
    checked_shape_only: int
    students_uncertain: int
    no_cors: int
    connect_failures: dict[str, int]
    connections_lost: dict[str, int]
    connections_opened: int
    retried: int
    stuck_sends: int
    latency_ms: dict[str, float | None]  # every read, submissions included
    latency_by_endpoint: dict[str, dict[str, float | None]]
    timeline: list[dict[str, Any]]
    client_cpu_s: float
    hard_stopped: bool = False
    service: ServiceInfo | None = None
    protocol: str = "v2"

    @property
    def reads_answered(self) -> int:
        """Replies to dashboards' requests (any status): the latency samples of reads."""
        return sum(
            int(f.get("n") or 0) for k, f in self.latency_by_endpoint.items() if k not in NOT_READS
        )

    @property
    def in_store(self) -> int | None:
        return None if self.service is None else self.service.statements_stored

    def problems(self) -> list[str]:
        """What went wrong, one line each; empty when the run was clean."""
        found = []
        if self.statements_refused:
            found.append(f"statements refused (4xx): {_counts(self.statements_refused)}")
        if self.statements_unknown:
            found.append(f"statements not answered 200: {_counts(self.statements_unknown)}")
        found += self._store_problems()
        for what, counter in (
            ("error replies", self.errors),
            ("requests not answered", self.missing),
        ):
            if counter:
                found.append(f"{sum(counter.values())} {what}: {_counts(counter)}")
        if self.wrong:
            found.append(f"{sum(self.wrong.values())} wrong replies:")
            found += [f"    {n} x {kind}" for kind, n in self.wrong.items()]
            found += [f"    e.g. {example}" for example in self.wrong_examples[:3]]
        if self.no_cors:
            found.append(f"{self.no_cors} replies without Access-Control-Allow-Origin")
        if self.connect_failures or self.connections_lost:
            found.append("connection problems:")
            found += [
                f"    {n} x {k}" for k, n in (self.connect_failures | self.connections_lost).items()
            ]
        if self.stuck_sends:
            found.append(
                f"{self.stuck_sends} students were still waiting on a statement at the end"
            )
        if self.service is not None and self.service.exit_code not in (0, None):
            found.append(f"the service exited with code {self.service.exit_code}")
        if self.hard_stopped:
            found.append("the run hit its hard time limit and was cut short")
        return found

    def _store_problems(self) -> list[str]:
        stored = self.in_store
        if stored is None:
            return []
        feedback = self.service.user_feedback_stored if self.service is not None else None
        submitted = self.answered.get(FEEDBACK, 0)
        if feedback is not None and feedback < submitted:
            return [
                f"DURABILITY: the store holds {feedback} feedback bodies, but "
                f"{submitted} were answered 200"
            ]
        if stored < self.statements_stored:
            return [
                f"DURABILITY: the store holds {stored} statements, but "
                f"{self.statements_stored} were answered 200"
            ]
        refused = sum(self.statements_refused.values())
        if stored > self.statements_sent - refused:
            also = f" and {refused} refused" if refused else ""
            return [
                f"the store holds {stored} statements, but {self.statements_sent} were sent{also}"
            ]
        return []

    def warnings(self) -> list[str]:
        """Worth knowing, but not a failure of the service."""
        found = []
        if self.dashboards and not any(n for k, n in self.requests.items() if k != "preflight"):
            found.append("no dashboard request was sent (the run was shorter than the first poll)")
        target = self.target_rate
        if target is not None and self.statements_per_s < RATE_SHORTFALL * target:
            found.append(
                f"the target rate was not reached: {self.statements_per_s:.0f} of {target:.0f} "
                f"statements/s ({self.schedule_slips} scheduled sends were skipped, more than "
                "1 s late)"
            )
        if self.students_uncertain:
            found.append(
                f"{self.students_uncertain} students had a statement or feedback whose fate is "
                f"unknown: their later replies were checked for shape only "
                f"({self.checked_shape_only} replies)"
            )
        found += client_cpu_warning(self.client_cpu_s, self.duration_s)
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self) | {
            "statements_in_store": self.in_store,
            "latency_method": LATENCY_METHOD,
            "problems": self.problems(),
            "warnings": self.warnings(),
            "ok": self.ok,
        }


def report_of(
    options: V2Options,
    tally: V2Tally,
    *,
    pacer: Pacer | None,
    started_at: str,
    cpu_s: float,
    hard_stopped: bool,
) -> V2Report:
    reads = [s for k, samples in tally.latencies_s.items() if k not in NOT_READS for s in samples]
    return V2Report(
        url=options.url,
        **options.report_fields(),
        overtake_share=options.overtake_share,
        started_at=started_at,
        statements_sent=tally.statements_sent,
        statements_by_verb=dict(tally.statements_by_verb),
        statements_per_s=round(tally.statements_sent / options.duration_s, 2),
        statements_stored=tally.statements_stored,
        statements_refused=dict(tally.statements_refused),
        statements_unknown=dict(tally.statements_unknown),
        overtaking_steps=tally.overtaking_steps,
        schedule_slips=pacer.slips if pacer is not None else 0,
        requests=dict(tally.requests),
        answered=dict(tally.answered),
        errors=dict(tally.errors),
        missing=dict(tally.missing),
        wrong=dict(tally.wrong),
        wrong_examples=list(tally.wrong_examples),
        checked_exact=tally.checked_exact,
        checked_shape_only=tally.checked_shape_only,
        students_uncertain=tally.students_uncertain,
        no_cors=tally.no_cors,
        connect_failures=dict(tally.connect_failures),
        connections_lost=dict(tally.connections_lost),
        connections_opened=tally.connections_opened,
        retried=tally.retried,
        stuck_sends=tally.stuck_sends,
        latency_ms=summarize_ms(reads),
        latency_by_endpoint={
            endpoint: summarize_ms(samples) | {"n": len(samples)}
            for endpoint, samples in tally.latencies_s.items()
        },
        timeline=tally.timeline.to_json(),
        client_cpu_s=round(cpu_s, 3),
        hard_stopped=hard_stopped,
    )


def format_v2_report(report: V2Report) -> str:
    """A report a lecturer can read: what ran, what it achieved, what went wrong."""
    pace = (
        f"target {report.target_rate:.0f} statements/s shared by all students"
        if report.target_rate is not None
        else "students' own pace (think {:.2f}-{:.2f} s)".format(*report.think_time_s)
    )
    reads = {k: n for k, n in report.requests.items() if k != "preflight"}
    lines = [
        f"Load test (v2, HTTP) of {report.url}",
        f"  {report.users} students, {report.dashboards} dashboards (one request every "
        f"{report.request_interval_s:g} s), {report.duration_s:g} s, {pace}, seed {report.seed}",
        f"  started {report.started_at}",
        "",
        "Achieved",
        f"  statements sent      {report.statements_sent} ({report.statements_per_s:.1f}/s"
        + (f" of {report.target_rate:.0f}/s asked" if report.target_rate is not None else "")
        + f"; {report.overtaking_steps} pairs overtaking): "
        + (_counts(report.statements_by_verb) or "none"),
        f"  answered 200 stored  {report.statements_stored}",
    ]
    if report.in_store is not None:
        lines.append(
            f"  in the store         {report.in_store} (counted after the service stopped; "
            f"feedback bodies {report.service and report.service.user_feedback_stored})"
        )
    lines += [
        f"  dashboard requests   {sum(reads.values())} sent ({_counts(reads) or '-'}), "
        f"{sum(n for k, n in report.answered.items() if k != 'preflight')} answered 200",
        f"  replies checked      {report.checked_exact} against the reference, "
        f"{report.checked_shape_only} for shape only",
        f"  connections opened   {report.connections_opened} ({report.retried} requests sent "
        "again after the server closed an idle keep-alive connection)",
        "",
        "Round trip, request sent to reply received (ms; exact percentiles of all samples)",
        _latency_line("all reads", report.latency_ms, report.reads_answered, WIDTH),
    ]
    for endpoint, figures in sorted(report.latency_by_endpoint.items()):
        lines.append(_latency_line(endpoint, figures, int(figures.get("n") or 0), WIDTH))
    lines += service_lines(report.service, report.client_cpu_s)
    clean = "every statement answered 200 and kept, every reply right, no errors"
    lines += closing_lines(report.problems(), report.warnings(), clean)
    return "\n".join(lines)
