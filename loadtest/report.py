"""The result of a run: figures for machines (``to_json``) and words for people.

``format_report`` says what was run, what was achieved and what went wrong,
in that order. Every failure the ledger counted appears under "Problems";
a run with none says so in one line, so silence never means "not checked".
"""

from __future__ import annotations

from typing import Any

import attrs

from loadtest.stats import LATENCY_METHOD

# Below this share of the target rate the report says the target was missed.
RATE_SHORTFALL = 0.95


@attrs.frozen(kw_only=True)
class ServiceInfo:
    """The service the load tester started itself (``--spawn``), and how it ended."""

    how: str  # "subprocess" or "in-process"
    command: str
    data_path: str
    events_stored: int | None = None
    exit_code: int | None = None
    cpu_s: float | None = None  # the service's CPU time during the load (subprocess only)
    cpus: list[int] | None = None  # the CPUs it was pinned to (the load tester had the others)
    # v2 rows in the store (with --http-listen); events_stored counts the v1 ones.
    statements_stored: int | None = None
    user_feedback_stored: int | None = None


@attrs.frozen(kw_only=True)
class LoadReport:
    """Everything one run measured. Counts are exact; latencies are in ``latency_ms``."""

    urls: tuple[str, ...]
    mode: str
    users: int
    dashboards: int
    duration_s: float
    target_rate: float | None
    think_time_s: tuple[float, float]
    request_interval_s: float
    reply_timeout_s: float
    seed: int
    started_at: str
    events_sent: int
    events_by_kind: dict[str, int]
    events_per_s: float
    schedule_slips: int
    requests: int
    requests_by_content: dict[str, int]
    answered: int
    replies_missing: int
    reply_frames_missing: int
    missing_by_reason: dict[str, int]
    reply_frames: int
    errors_by_code: dict[str, int]
    wrong_shape: int
    wrong_shape_kinds: dict[str, int]
    late_replies: int
    unreadable_frames: int
    event_errors_by_code: dict[str, int]
    connect_failures: int
    connections_lost: int
    connection_problems: dict[str, int]
    stuck_sends: int
    latency_ms: dict[str, float | None]
    latency_by_content: dict[str, dict[str, float | None]]
    latency_samples: int
    timeline: list[dict[str, Any]]
    client_cpu_s: float
    hard_stopped: bool = False
    service: ServiceInfo | None = None

    @property
    def errors(self) -> int:
        return sum(self.errors_by_code.values())

    @property
    def events_stored(self) -> int | None:
        return None if self.service is None else self.service.events_stored

    def problems(self) -> list[str]:
        """What went wrong, one line each; empty when the run was clean."""
        found = []
        if self.replies_missing:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.missing_by_reason.items()))
            found.append(
                f"{self.replies_missing} of {self.requests} requests were not fully answered "
                f"({self.reply_frames_missing} reply frames never came: {reasons})"
            )
        if self.errors:
            found.append(f"{self.errors} error replies to requests: {_counts(self.errors_by_code)}")
        if self.wrong_shape:
            found.append(f"{self.wrong_shape} replies of the wrong shape:")
            found += [f"    {n} x {kind}" for kind, n in self.wrong_shape_kinds.items()]
        if self.unreadable_frames:
            found.append(f"{self.unreadable_frames} frames received that were not JSON objects")
        if self.event_errors_by_code:
            found.append(f"error replies to events: {_counts(self.event_errors_by_code)}")
        if self.connect_failures or self.connections_lost:
            found.append(
                f"{self.connect_failures} connections failed to open, "
                f"{self.connections_lost} were dropped:"
            )
            found += [f"    {n} x {kind}" for kind, n in self.connection_problems.items()]
        if self.stuck_sends:
            found.append(
                f"{self.stuck_sends} students were still blocked in a send at the end "
                "(whether their last event arrived is unknown)"
            )
        stored = self.events_stored
        if stored is not None and stored != self.events_sent:
            found.append(f"the store holds {stored} events, but {self.events_sent} were sent")
        if self.service is not None and self.service.exit_code not in (0, None):
            found.append(f"the service exited with code {self.service.exit_code}")
        if self.hard_stopped:
            found.append("the run hit its hard time limit and was cut short")
        return found

    def warnings(self) -> list[str]:
        """Worth knowing, but not a failure of the service."""
        found = []
        if self.dashboards and not self.requests:
            found.append("no request was sent (the run was shorter than the first poll)")
        target = self.target_rate
        if target is not None and self.events_per_s < RATE_SHORTFALL * target:
            found.append(
                f"the target rate was not reached: {self.events_per_s:.0f} of {target:.0f} "
                f"events/s ({self.schedule_slips} scheduled sends were skipped, more than 1 s late)"
            )
        if self.late_replies:
            found.append(f"{self.late_replies} replies arrived after their request was given up")
        found += client_cpu_warning(self.client_cpu_s, self.duration_s)
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_json(self) -> dict[str, Any]:
        figures = attrs.asdict(self)
        return figures | {
            "errors": self.errors,
            "events_stored": self.events_stored,
            "latency_method": LATENCY_METHOD,
            "problems": self.problems(),
            "warnings": self.warnings(),
            "ok": self.ok,
        }


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counter.items()))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _latency_line(
    label: str, figures: dict[str, float | None], samples: int, width: int = 14
) -> str:
    cells = "  ".join(f"{name} {_ms(figures[name])}" for name in ("p50", "p90", "p99", "p999"))
    return f"  {label:{width}s} {cells}  max {_ms(figures['max'])} ms  (n={samples})"


def format_report(report: LoadReport) -> str:
    """A report a lecturer can read: what ran, what it achieved, what went wrong."""
    pace = (
        f"target {report.target_rate:.0f} events/s shared by all students"
        if report.target_rate is not None
        else "students' own pace (think {:.2f}-{:.2f} s)".format(*report.think_time_s)
    )
    target = (
        f"the hub at {report.urls[0]}"
        if report.mode == "hub"
        else f"{len(report.urls)} stream URL(s): {', '.join(report.urls)}"
    )
    lines = [
        f"Load test of {target}",
        f"  {report.users} students, {report.dashboards} dashboards (one poll every "
        f"{report.request_interval_s:g} s), {report.duration_s:g} s, {pace}, seed {report.seed}",
        f"  started {report.started_at}",
        "",
        "Achieved",
        f"  events sent    {report.events_sent} ({report.events_per_s:.1f}/s"
        + (f" of {report.target_rate:.0f}/s asked" if report.target_rate is not None else "")
        + f"): {_counts(report.events_by_kind) or 'none'}",
    ]
    if report.events_stored is not None:
        lines.append(
            f"  events stored  {report.events_stored} (counted in the store after it stopped)"
        )
    lines.append(
        f"  requests       {report.requests} sent ({_counts(report.requests_by_content) or '-'}), "
        f"{report.answered} fully answered, {report.replies_missing} not"
    )
    lines += [
        "",
        "Round trip, request sent to last reply received (ms; exact percentiles of all samples)",
        _latency_line("all requests", report.latency_ms, report.latency_samples),
    ]
    for content, figures in sorted(report.latency_by_content.items()):
        lines.append(_latency_line(content, figures, int(figures.get("n") or 0)))
    lines += service_lines(report.service, report.client_cpu_s)
    clean = "every request fully answered, every reply of the right shape, no errors"
    lines += closing_lines(report.problems(), report.warnings(), clean)
    return "\n".join(lines)


def client_cpu_warning(client_cpu_s: float, duration_s: float) -> list[str]:
    """The warning (one line, or none) that the load tester may have limited the run."""
    if client_cpu_s <= 0.85 * duration_s:
        return []
    return [
        f"the load tester itself used {client_cpu_s:.1f} s of CPU in "
        f"{duration_s:.1f} s: it may be what limited the rate and the latency"
    ]


def service_lines(service: ServiceInfo | None, client_cpu_s: float) -> list[str]:
    """The report's lines on the service it started (if any) and on its own CPU."""
    lines = []
    if service is not None:
        lines += ["", f"Service ({service.how}): {service.command}"]
        if service.cpus is not None:
            cpus = ", ".join(map(str, service.cpus))
            lines.append(f"  pinned to CPU {cpus}; the load tester ran on the others")
        if service.cpu_s is not None:
            lines.append(f"  service CPU during the load: {service.cpu_s:.1f} s")
    shared = service is not None and service.how == "in-process"
    lines.append(
        f"  load tester CPU: {client_cpu_s:.1f} s"
        + (" (the service's included: same process)" if shared else "")
    )
    return lines


def closing_lines(problems: list[str], warnings: list[str], clean: str) -> list[str]:
    """ "Problems" (or none, saying what a ``clean`` run achieved), then "Warnings"."""
    lines = ["", "Problems" if problems else f"Problems: none ({clean})"]
    lines += [f"  {line}" for line in problems]
    if warnings:
        lines += ["", "Warnings"] + [f"  {line}" for line in warnings]
    return lines
