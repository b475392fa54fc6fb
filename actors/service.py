"""The service wiring: every actor under one root nursery, and how it stops.

Start order: store writer, analytics pool, the session router, then the
front (``actors.front``: the HTTP app, the hub, the relay followers).
Stop order is the reverse, so nothing is dropped on the way out: stop
accepting, let every connection read what its client sent (until it has been
quiet for 0.1 s, within ``grace_s``) and close it (1001), let users being
loaded get their held messages (within the router's bound), let the workers
finish their jobs, then the writer's final flush (within ``final_flush_s``).
Each step is bounded; ``serve`` returns how many events the stop could not
store.
"""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import attrs
import trio

from access.audit import RefusalAudit
from actors.collector import collect_fully_every
from actors.forget import forget_user
from actors.front import serve_front
from actors.hub import Hub
from actors.pool import Job, run_worker
from actors.relay import StreamState
from actors.retention import Retention
from actors.router import Router
from actors.writer import StoreWriter, WriterLimits
from analytics.replies import Replier
from config.settings import Settings
from courses import Catalog, load_catalog
from legacy import LegacyFileError, has_legacy_files, scan_legacy
from store import SqliteStore
from telemetry.metrics import Metrics
from web.access import AccessKit, open_access
from web.admin import ForgetReport

log = logging.getLogger(__name__)

MB = 1024 * 1024


@attrs.define
class Service:
    """A running service, as ``serve`` hands it to whoever started it."""

    settings: Settings
    catalog: Catalog
    writer: StoreWriter
    router: Router
    hub: Hub | None = None
    hub_port: int | None = None
    relays: list[StreamState] = attrs.field(factory=list)
    metrics: Metrics = attrs.field(factory=Metrics)
    http_port: int | None = None
    # None: access control is off (web.access.open_access); the hub redeems its codes.
    access: AccessKit | None = None
    # The audit lines of refused credentials, hub and HTTP together (bounded).
    refusals: RefusalAudit = attrs.field(factory=RefusalAudit)
    _stop: trio.Event = attrs.field(factory=trio.Event)

    def stop(self) -> None:
        """Begin a graceful stop; ``serve`` returns once everything is flushed."""
        self._stop.set()

    # What the ops port and the metrics read (web.ops.OpsView).

    @property
    def sessions(self) -> int:
        return len(self.router.sessions)

    @property
    def store_healthy(self) -> bool:
        return self.writer.healthy

    @property
    def store_problem(self) -> str | None:
        return None if self.writer.healthy else str(self.writer.last_error)

    @property
    def buffered_events(self) -> int:
        return self.writer.buffered

    @property
    def hub_connections(self) -> int:
        return len(self.hub.connections) if self.hub else 0

    def render_metrics(self) -> bytes:
        return self.metrics.render(self)

    async def forget(self, user: str) -> ForgetReport:
        """``web.admin.Forgetter``: ``user`` out of memory and the store (``actors.forget``)."""
        return await forget_user(self.router, self.writer, user)


async def serve(
    settings: Settings,
    *,
    handle_signals: bool = False,
    task_status: trio.TaskStatus[Service] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Run the service until ``Service.stop()`` (or SIGTERM/SIGINT), then stop cleanly.

    Returns the number of events read that the stop could not store (0
    unless the store refused writes for ``final_flush_s``). Raises
    ``CourseError`` or ``StoreError`` at start-up when the courses or the
    store cannot be opened; after that, one user's or one connection's
    failure never ends it.
    """
    access = open_access(settings)  # logs the mode; SettingsError before anything opens
    catalog = load_catalog(settings.comparison_graphs)
    store = await trio.to_thread.run_sync(SqliteStore, settings.data_path)
    await _hint_at_legacy_files(settings.data_path, store)
    # Everything alive now (modules, numpy, courses) lives as long as the
    # process: out of the collector's sight, a full collection scans only
    # what serving created (20 ms -> a few ms under load; docs/BENCHMARKS.md).
    gc.freeze()
    stop = trio.Event()
    # The receiver stays open until the very end: a second SIGTERM (systemd,
    # docker and uv all forward one) must not fall back to the default handler.
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    try:
        with trio.open_signal_receiver(*signals) if signals else nullcontext() as received:
            async with trio.open_nursery() as watcher:
                if received is not None:
                    watcher.start_soon(_stop_on_signals, received, stop)
                lost = await _run(settings, catalog, store, stop, task_status, access=access)
                watcher.cancel_scope.cancel()
    finally:
        store.close()
    return lost


async def _run(
    settings: Settings,
    catalog: Catalog,
    store: SqliteStore,
    stop: trio.Event,
    task_status: trio.TaskStatus[Service],
    *,
    access: AccessKit | None = None,
) -> int:
    replier = Replier(catalog)
    writer = StoreWriter(
        store,
        flush_interval_s=settings.flush_interval_s,
        snapshot_interval_s=settings.snapshot_interval_s,
        max_buffered_events=settings.max_buffered_events,
        limits=WriterLimits(
            max_buffered_events=settings.max_buffered_events,
            max_buffered_bytes=settings.max_buffered_mb * MB,
            window_events=settings.commit_window_events,
            transaction_events=settings.commit_window_events,
        ),
        flush_timeout_s=settings.final_flush_s,
        retention=None if settings.retention_days is None else Retention(settings.retention_days),
    )
    metrics = Metrics()
    writer.on_commit = metrics.record_commit
    async with trio.open_nursery() as root:
        await root.start(writer.run)
        collector = trio.CancelScope()  # cancelled at the end; none with the interval 0
        if settings.full_gc_interval_s > 0:
            collector = await root.start(
                partial(
                    collect_fully_every,
                    settings.full_gc_interval_s,
                    observe=metrics.full_gc_pause.observe,
                )
            )
        jobs_send, jobs_receive = trio.open_memory_channel[Job](settings.jobs_size)
        async with trio.open_nursery() as workers:
            async with jobs_receive:
                for _ in range(settings.workers):
                    workers.start_soon(run_worker, jobs_receive.clone(), replier, metrics)
            router = Router(
                catalog=catalog,
                writer=writer,
                jobs=jobs_send,
                idle_timeout_s=settings.idle_timeout_s,
                metrics=metrics,
                max_resident_bytes=settings.max_resident_mb * MB,
            )
            service = Service(
                settings, catalog, writer, router, stop=stop, metrics=metrics, access=access
            )
            async with trio.open_nursery() as sessions:
                await sessions.start(router.run)
                await serve_front(service, router, stop, task_status)
                service.refusals.flush()
                router.close()  # users being loaded get their held messages
            await jobs_send.aclose()  # workers finish their jobs and return
        writer.stop()  # final flush, then the root nursery is done
        collector.cancel()
    lost = writer.lost or 0
    if lost:
        log.critical("service.stopped_with_loss", extra={"events_lost": lost})
    else:
        log.info("service.stopped", extra={"events_committed": writer.committed_seq})
    return lost


async def _hint_at_legacy_files(data: Path, store: SqliteStore) -> None:
    """Old deployments share DATA_PATH with the old service's files: say so, once."""

    def not_imported() -> int:
        if not has_legacy_files(data):
            return 0
        index = scan_legacy(data)
        return sum(1 for user in index.users for f in user.files if not store.imported(f.name))

    try:
        pending = await trio.to_thread.run_sync(not_imported)
    except (OSError, LegacyFileError) as exc:
        log.warning("legacy.scan_failed", extra={"error": str(exc)})
        return
    if pending:
        log.warning(
            "legacy.files_not_imported",
            extra={
                "files": pending,
                "command": f"learning-analytics import-legacy {data} --data {data}",
                "note": "stop the service first; the import is idempotent",
            },
        )


async def _stop_on_signals(received: AsyncIterator[int], stop: trio.Event) -> None:
    async for signum in received:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.info("service.signal_ignored", extra={"signal": name, "why": "already stopping"})
        else:
            log.info("service.signal", extra={"signal": name})
            stop.set()
