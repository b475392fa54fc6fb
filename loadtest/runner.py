"""``run_load``: start the students and dashboards, stop them on time, report.

Phases: students connect over the ramp and send until ``duration_s``;
dashboards poll until then too; then nothing new is sent and dashboards
wait at most ``reply_timeout_s`` for the replies still due; then every
connection closes. A hard deadline above all of it (connect and close
timeouts included) bounds the whole run whatever the service does.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import attrs
import trio

from courses import Catalog, bundled_catalog
from loadtest.clients import Closing, Context, RunClock, run_user
from loadtest.options import LoadOptions, check_targets
from loadtest.pacing import Pacer
from loadtest.report import LoadReport
from loadtest.script import cast
from loadtest.stats import Timeline, recent_ms, samples_since, summarize_ms
from loadtest.tally import Tally
from websocket.client import CLOSE_TIMEOUT_S

SWEEP_INTERVAL_S = 0.1
# Room for the sweeper to call a request timed out before the drain ends.
DRAIN_SLACK_S = 0.5


@attrs.frozen
class Progress:
    """Figures so far, for a live display (``on_progress``)."""

    elapsed_s: float
    duration_s: float
    events_sent: int
    events_per_s: float  # over the last interval
    requests: int
    answered: int
    in_flight: int
    missing: int
    errors: int
    wrong_shape: int
    connection_problems: int
    recent_p50_ms: float | None  # requests answered in the last interval
    recent_p99_ms: float | None
    label: str = ""  # which load, when two run together ("v2"); events are its statements


ProgressCallback = Callable[[Progress], None]


async def run_load(
    options: LoadOptions,
    *,
    on_progress: ProgressCallback | None = None,
    progress_interval_s: float = 2.0,
    catalog: Catalog | None = None,
) -> LoadReport:
    """Run the load described by ``options`` and measure it; returns the report.

    Bounded: returns by ``duration_s + reply_timeout_s`` plus the connect and
    close timeouts, whatever the service does. Raises ``LoadTestError`` before
    connecting anything if a target is not loopback (unless ``allow_remote``)
    or a URL is not ws://; every failure after that is counted in the report.
    """
    check_targets(options)
    catalog = catalog if catalog is not None else bundled_catalog()
    personas = cast(catalog, options.urls, options.users, options.seed, hub=options.hub_mode)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    cpu_before = time.process_time()
    start = trio.current_time()
    end = start + options.duration_s
    clock = RunClock(start, end, end + options.reply_timeout_s + DRAIN_SLACK_S)
    tally = Tally(Timeline(start), options.reply_timeout_s)
    pacer = Pacer(options.rate, start) if options.rate is not None else None
    closing = Closing(remaining=options.users + options.dashboard_count)
    ctx = Context(options, tally, clock, pacer, shared_stream=not options.hub_mode, closing=closing)
    hard_deadline = (
        clock.drain_end + options.effective_ramp_s + options.connect_timeout_s + 3 * CLOSE_TIMEOUT_S
    )
    with trio.move_on_at(hard_deadline) as hard:
        async with trio.open_nursery() as background:
            background.start_soon(_sweep, tally)
            if on_progress is not None:
                background.start_soon(_progress, ctx, on_progress, progress_interval_s)
            async with trio.open_nursery() as users:
                for persona in personas:
                    dashboard = persona.index < options.dashboard_count
                    users.start_soon(run_user, ctx, persona, dashboard)
            background.cancel_scope.cancel()
    tally.expire(trio.current_time())
    tally.abandon("run ended")
    return _report(
        options,
        tally=tally,
        pacer=pacer,
        started_at=started_at,
        cpu_s=time.process_time() - cpu_before,
        hard_stopped=hard.cancelled_caught,
    )


async def _sweep(tally: Tally) -> None:
    """Give up requests past their timeout, every ``SWEEP_INTERVAL_S``, until cancelled."""
    while True:
        await trio.sleep(SWEEP_INTERVAL_S)
        tally.expire(trio.current_time())


async def _progress(ctx: Context, on_progress: ProgressCallback, interval_s: float) -> None:
    tally = ctx.tally
    last_events, last_time = 0, ctx.clock.start
    last_samples: dict[str, int] = {}
    while True:
        await trio.sleep(interval_s)
        now = trio.current_time()
        recent = samples_since(tally.latencies_s, last_samples)
        on_progress(
            Progress(
                elapsed_s=now - ctx.clock.start,
                duration_s=ctx.options.duration_s,
                events_sent=tally.events_sent,
                events_per_s=(tally.events_sent - last_events) / max(now - last_time, 1e-9),
                requests=tally.requests,
                answered=tally.answered,
                in_flight=len(tally.pending),
                missing=tally.replies_missing,
                errors=tally.errors,
                wrong_shape=tally.wrong_shape,
                connection_problems=tally.connect_failures + tally.connections_lost,
                recent_p50_ms=recent_ms(recent, 0.5),
                recent_p99_ms=recent_ms(recent, 0.99),
            )
        )
        last_events, last_time = tally.events_sent, now


def _report(
    options: LoadOptions,
    *,
    tally: Tally,
    pacer: Pacer | None,
    started_at: str,
    cpu_s: float,
    hard_stopped: bool,
) -> LoadReport:
    everything = [sample for samples in tally.latencies_s.values() for sample in samples]
    return LoadReport(
        urls=options.urls,
        mode="hub" if options.hub_mode else "streams",
        **options.report_fields(),
        started_at=started_at,
        events_sent=tally.events_sent,
        events_by_kind=dict(tally.events_by_kind),
        events_per_s=round(tally.events_sent / options.duration_s, 2),
        schedule_slips=pacer.slips if pacer is not None else 0,
        requests=tally.requests,
        requests_by_content=dict(tally.requests_by_content),
        answered=tally.answered,
        replies_missing=tally.replies_missing,
        reply_frames_missing=tally.reply_frames_missing,
        missing_by_reason=dict(tally.missing_by_reason),
        reply_frames=tally.reply_frames,
        errors_by_code=dict(tally.errors_by_code),
        wrong_shape=tally.wrong_shape,
        wrong_shape_kinds=dict(tally.wrong_shape_kinds),
        late_replies=tally.late_replies,
        unreadable_frames=tally.unreadable_frames,
        event_errors_by_code=dict(tally.event_errors_by_code),
        connect_failures=tally.connect_failures,
        connections_lost=tally.connections_lost,
        connection_problems=dict(tally.connection_problems),
        stuck_sends=tally.stuck_sends,
        latency_ms=summarize_ms(everything),
        latency_by_content={
            content: summarize_ms(samples) | {"n": len(samples)}
            for content, samples in tally.latencies_s.items()
        },
        latency_samples=len(everything),
        timeline=tally.timeline.to_json(),
        client_cpu_s=round(cpu_s, 3),
        hard_stopped=hard_stopped,
    )
