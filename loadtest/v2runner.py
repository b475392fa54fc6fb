"""``run_load_v2``: fake lab UIs POST statements, fake v2 dashboards read, every reply checked.

Each student (``v2students``) is a page with two keep-alive connections;
its dashboard, if it has one (``v2dashboards``), a page with one polling
every ``request_interval_s``. A student and its dashboard take turns
(``v2context.Student``): a read is sent only when none of its student's
statements is in flight, so the reference knows exactly which statements
the reply must include (every one answered ``200``: the service answers
once the statement is committed, and reads see it), and every reply is
checked exactly, not only for its shape.

Phases and bounds as ``run_load``: students start over the ramp and send
until ``duration_s``, requests in flight then get ``reply_timeout_s``, and
a hard deadline bounds the whole run whatever the service does.
"""

from __future__ import annotations

import datetime as dt
import random
import time

import trio

from courses import Catalog, bundled_catalog
from loadtest.clients import RunClock, now_ms
from loadtest.pacing import Pacer
from loadtest.runner import DRAIN_SLACK_S, Progress, ProgressCallback
from loadtest.stats import Timeline, recent_ms, samples_since
from loadtest.v2context import Student, V2Context
from loadtest.v2dashboards import run_dashboard
from loadtest.v2options import V2Options, check_v2_target
from loadtest.v2reference import CourseFacts, V2Expected
from loadtest.v2report import V2Report, report_of
from loadtest.v2script import cast_v2
from loadtest.v2students import run_student
from loadtest.v2tally import V2Tally

CLOSE_SLACK_S = 5.0


async def run_load_v2(
    options: V2Options,
    *,
    on_progress: ProgressCallback | None = None,
    progress_interval_s: float = 2.0,
    catalog: Catalog | None = None,
) -> V2Report:
    """Run the v2 load described by ``options`` and check it; returns the report.

    Bounded like ``run_load``. Raises ``LoadTestError`` before connecting if the
    target is not loopback (unless ``allow_remote``); every failure after that
    is counted in the report.
    """
    check_v2_target(options)
    catalog = catalog if catalog is not None else bundled_catalog()
    facts = {key: CourseFacts.of(course) for key, course in catalog.courses.items()}
    students = [
        Student(
            p,
            facts[(p.hardware, p.course.course)],
            V2Expected(
                facts[(p.hardware, p.course.course)],
                p.code,
                anonymous=p.anonymous,
                tz=options.tz,
                threshold=options.completion_threshold,
            ),
        )
        for p in cast_v2(catalog, options.users, options.seed)
    ]
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    cpu_before = time.process_time()
    start = trio.current_time()
    end = start + options.duration_s
    clock = RunClock(start, end, end + options.reply_timeout_s + DRAIN_SLACK_S)
    tally = V2Tally(Timeline(start))
    pacer = Pacer(options.rate, start) if options.rate is not None else None
    ctx = V2Context(options, tally, clock, pacer, now_ms())
    hard_deadline = (
        clock.drain_end + options.effective_ramp_s + options.connect_timeout_s + CLOSE_SLACK_S
    )
    with trio.move_on_at(hard_deadline) as hard:
        async with trio.open_nursery() as background:
            if on_progress is not None:
                background.start_soon(_progress, ctx, on_progress, progress_interval_s)
            async with trio.open_nursery() as users:
                for student in students:
                    dashboard = student.persona.index < options.dashboard_count
                    users.start_soon(_run_user, ctx, student, dashboard)
            background.cancel_scope.cancel()
    return report_of(
        options,
        tally,
        pacer=pacer,
        started_at=started_at,
        cpu_s=time.process_time() - cpu_before,
        hard_stopped=hard.cancelled_caught,
    )


async def _run_user(ctx: V2Context, student: Student, dashboard: bool) -> None:
    seed, index = ctx.options.seed, student.persona.index
    offset = random.Random(f"v2-ramp-{seed}-{index}").uniform(0, ctx.options.effective_ramp_s)
    await trio.sleep_until(ctx.clock.start + offset)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_student, ctx, student)
        if dashboard:
            nursery.start_soon(run_dashboard, ctx, student)


async def _progress(ctx: V2Context, on_progress: ProgressCallback, interval_s: float) -> None:
    tally = ctx.tally
    last_sent, last_time = 0, ctx.clock.start
    seen: dict[str, int] = {}
    while True:
        await trio.sleep(interval_s)
        now = trio.current_time()
        recent = samples_since(tally.latencies_s, seen, skip=("addLog", "preflight"))
        on_progress(
            Progress(
                elapsed_s=now - ctx.clock.start,
                duration_s=ctx.options.duration_s,
                events_sent=tally.statements_sent,
                events_per_s=(tally.statements_sent - last_sent) / max(now - last_time, 1e-9),
                requests=sum(tally.requests.values()),
                answered=sum(tally.answered.values()),
                in_flight=tally.in_flight,
                missing=tally.reads_missing,
                errors=tally.error_count,
                wrong_shape=sum(tally.wrong.values()),
                connection_problems=sum(tally.connect_failures.values())
                + sum(tally.connections_lost.values()),
                recent_p50_ms=recent_ms(recent, 0.5),
                recent_p99_ms=recent_ms(recent, 0.99),
                label="v2",
            )
        )
        last_sent, last_time = tally.statements_sent, now
