"""A router with its store writer, without sockets: for tests that drive it directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from actors.lines import Delivery
from actors.outbox import Outbox, open_outbox
from actors.pool import Job
from actors.router import Router
from actors.writer import StoreWriter, WriterLimits
from courses import bundled_catalog
from messages import InboundMessage
from store import SqliteStore
from telemetry.metrics import Metrics

CATALOG = bundled_catalog()


@attrs.define
class Rig:
    """A running router and writer, the jobs they send, and how to connect to them."""

    router: Router
    writer: StoreWriter
    store: SqliteStore
    jobs: trio.MemoryReceiveChannel[Job]
    outboxes: list[trio.MemoryReceiveChannel[str]] = attrs.field(factory=list)

    def connection(self, name: str, size: int = 64) -> Outbox:
        outbox, outgoing = open_outbox(size, name)
        self.outboxes.append(outgoing)
        return outbox


async def inline(function: Any, *args: Any, limiter: Any = None) -> Any:
    await trio.lowlevel.checkpoint()
    return function(*args)


def delivery(message: InboundMessage, outbox: Outbox, *, reserved: int = 0) -> Delivery:
    return Delivery(message, outbox, 0, trio.current_time(), reserved, None)


@asynccontextmanager
async def running_router(
    data: Path,
    *,
    writer_limits: dict[str, Any] | None = None,
    jobs_size: int = 1000,
    **router: Any,
) -> AsyncIterator[Rig]:
    """A router and a writer on a store in ``data``; on the way out: close, stop, flush.

    The writer writes and the loaders read on the event loop (no thread):
    under trio's mock clocks a thread would let time run ahead while it works.
    """
    with SqliteStore(data) as store:
        limits = {"max_buffered_events": 10_000, **(writer_limits or {})}
        writer = StoreWriter(
            store,
            flush_interval_s=0.01,
            snapshot_interval_s=0.02,
            max_buffered_events=limits["max_buffered_events"],
            limits=WriterLimits(**limits),
            flush_timeout_s=1.0,
            run_sync=inline,
        )
        jobs_send, jobs_receive = trio.open_memory_channel[Job](jobs_size)
        async with trio.open_nursery() as root:
            await root.start(writer.run)
            instance = Router(
                catalog=CATALOG,
                writer=writer,
                jobs=jobs_send,
                idle_timeout_s=600,
                metrics=Metrics(),
                run_sync=inline,
                **router,
            )
            async with trio.open_nursery() as sessions:
                await sessions.start(instance.run)
                try:
                    yield Rig(instance, writer, store, jobs_receive)
                finally:
                    instance.close()
            writer.stop()
