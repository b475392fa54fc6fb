"""The service's front: the hub's listener, the relay followers and the HTTP app, and their stop.

``serve_front`` starts what clients reach (the HTTP app first, then the
hub's listener and the relay followers), reports the service started, and
runs until the stop; then it stops accepting, lets every connection read
what its client already sent and close (1001) within ``grace_s``, and cuts
whatever is left. It is apart from ``actors.service`` because the wiring
there is about the order of the whole (writer, workers, router, front) and
this is about the one part that faces clients. It reads and records what it
starts on the running service through ``RunningService``: the service
module imports this one, so this one cannot import it back.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

import attrs
import trio

from access.audit import RefusalAudit
from actors.connection import ConnectionRules
from actors.hub import Hub, HubLimits
from actors.relay import Backoff, StreamState, follow_stream
from actors.router import Router
from actors.v2backend import V2Backend
from actors.writer import StoreWriter
from analytics.v2_replies import V2Replier
from config.settings import Settings
from courses import Catalog
from telemetry.metrics import Metrics
from web.access import AccessKit
from web.admin import Forgetter
from web.app import build_app
from web.ops import OpsView
from web.server import serve_web

log = logging.getLogger("actors.service")  # operators filter the service's start and stop on it


class RunningService(OpsView, Forgetter, Protocol):
    """What the front reads of the running service (``actors.service.Service``), and sets.

    It sets ``hub``, ``hub_port`` and ``http_port`` and adds to ``relays``
    as they start; the HTTP app reads the service as its ``OpsView`` and
    ``Forgetter``.
    """

    settings: Settings
    catalog: Catalog
    writer: StoreWriter
    router: Router
    hub: Hub | None
    hub_port: int | None
    relays: list[StreamState]
    metrics: Metrics
    http_port: int | None
    access: AccessKit | None
    refusals: RefusalAudit


# The service's own class: ``serve``'s caller is handed the ``Service`` it started.
Running = TypeVar("Running", bound=RunningService)


async def serve_front(
    service: Running, router: Router, stop: trio.Event, task_status: trio.TaskStatus[Running]
) -> None:
    """Accept connections until ``stop`` is set, then drain them within the grace time.

    Hub connections run in ``connections``, relay followers in ``relays``;
    the listeners are cancelled first (no new clients), then every
    connection reads what its client already sent and closes (1001). At
    the end of the grace, the router stops waiting for room first, so a
    connection cut then has handed on every frame it read.
    """
    settings = service.settings
    rules = ConnectionRules(settings.outbound_size, settings.send_timeout_s, service.metrics)
    # The HTTP app closes itself gracefully on stop, beside the hub's drain.
    async with trio.open_nursery() as web:
        await _start_web(service, stop, web)
        await _serve_connections(service, router, rules, stop, task_status)


async def _serve_connections(
    service: Running,
    router: Router,
    rules: ConnectionRules,
    stop: trio.Event,
    task_status: trio.TaskStatus[Running],
) -> None:
    settings = service.settings
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as relays:
            async with trio.open_nursery() as listeners:
                await _start_listeners(service, router, rules, listeners, connections)
                _start_relays(service, router, rules, relays)
                task_status.started(service)
                log.info("service.started", extra={"courses": len(service.catalog.courses)})
                await stop.wait()
                log.info("service.stopping")
                listeners.cancel_scope.cancel()  # stop accepting
            rules.drain.start()
            deadline = trio.current_time() + settings.grace_s
            cut = (relays.cancel_scope, connections.cancel_scope)
            connections.start_soon(_cut_at, deadline, service, router, cut)
            if service.hub is not None:
                await service.hub.drain()
        # Everything accepted is closed; handshakes still pending are dropped.
        connections.cancel_scope.cancel()


async def _cut_at(
    deadline: float, service: RunningService, router: Router, scopes: tuple[trio.CancelScope, ...]
) -> None:
    """At the end of the grace: take what is read without waiting, then cut the rest."""
    await trio.sleep_until(deadline)
    router.stop_waiting()
    cut = service.hub_connections + sum(1 for stream in service.relays if stream.connected)
    # They were still sending (or still waiting for room): what they had not
    # sent yet, or we had not read, is not ours to store.
    log.warning("service.grace_over", extra={"connections_cut": cut})
    for scope in scopes:
        scope.cancel()


async def _start_listeners(
    service: RunningService,
    router: Router,
    rules: ConnectionRules,
    listeners: trio.Nursery,
    connections: trio.Nursery,
) -> None:
    settings = service.settings
    if settings.listen_address is not None:
        host, port = settings.listen_address
        service.hub = Hub(
            router,
            rules,
            host=host,
            port=port,
            max_frame_bytes=settings.max_frame_bytes,
            limits=HubLimits.of(settings),
            codes=None if service.access is None else service.access.codes,
            refusals=service.refusals,
        )
        service.hub_port = await listeners.start(service.hub.run, connections)


async def _start_web(service: RunningService, stop: trio.Event, nursery: trio.Nursery) -> None:
    settings = service.settings
    if settings.http_listen is not None:
        replier = V2Replier(
            service.catalog,
            tz=ZoneInfo(settings.time_zone),
            threshold=settings.completion_threshold,
        )
        backend = V2Backend(service.router, service.writer, replier, settings.data_path)
        app = build_app(
            service,
            settings,
            backend,
            access=service.access,
            forgetter=service,
            refusals=service.refusals,
        )
        service.http_port = await nursery.start(
            partial(
                serve_web,
                app,
                settings.http_listen,
                grace_s=settings.grace_s,
                shutdown_trigger=stop.wait,
            )
        )


def _start_relays(
    service: RunningService, router: Router, rules: ConnectionRules, relays: trio.Nursery
) -> None:
    settings = service.settings
    backoff = Backoff(settings.relay_backoff_first_s, settings.relay_backoff_max_s)
    for url in settings.connect:
        state = StreamState(url)
        service.relays.append(state)
        relays.start_soon(
            partial(
                follow_stream,
                state,
                router=router,
                rules=attrs.evolve(
                    rules,
                    answer_event_errors=False,
                    answer_requests=not settings.answer_on_hub_only,
                ),
                backoff=backoff,
                max_frame_bytes=settings.max_frame_bytes,
            )
        )
