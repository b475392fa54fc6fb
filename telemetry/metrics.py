"""Service metrics, kept with prometheus-client and rendered in Prometheus text.

One registry per service (tests run many services in one process). Counters
and histograms are updated where things happen; gauges that describe state
(sessions, connections, relay streams) are read from the service when
``/metrics`` is scraped. Labels never hold a user id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from messages import EVENT_CLASSES, REQUEST_PAYLOAD_CLASSES, V2_EVENT_CLASSES, ErrorCode


class StreamView(Protocol):
    """What the metrics read of one relay stream."""

    @property
    def url(self) -> str: ...
    @property
    def connected(self) -> bool: ...
    @property
    def failures(self) -> int: ...


class ServiceView(Protocol):
    """What the metrics read of the running service when they are scraped."""

    @property
    def sessions(self) -> int: ...
    @property
    def store_healthy(self) -> bool: ...
    @property
    def buffered_events(self) -> int: ...
    @property
    def hub_connections(self) -> int: ...
    @property
    def relays(self) -> Sequence[StreamView]: ...


# Sub-millisecond resolution: the target is p50 <= 1 ms, p99 <= 5 ms.
LATENCY_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1.0,
)
COMMIT_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000)


class Metrics:
    """Every metric of one service, on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("la_events", "Events received, by type", ["type"], registry=r)
        self.requests = Counter(
            "la_requests", "Requests received, by content", ["content"], registry=r
        )
        self.request_latency = Histogram(
            "la_request_latency_seconds",
            "From reading a request to its replies being queued, by content",
            ["content"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.error_replies = Counter(
            "la_error_replies", "Error replies sent, by error code", ["code"], registry=r
        )
        self.slow_clients = Counter(
            "la_slow_client_disconnects", "Clients cut off because they stopped reading", registry=r
        )
        self.session_crashes = Counter(
            "la_session_crashes", "Sessions rebuilt from disk after an error", registry=r
        )
        self.commit_latency = Histogram(
            "la_store_commit_seconds",
            "Time to write one commit window",
            buckets=COMMIT_BUCKETS_S,
            registry=r,
        )
        self.batch_events = Histogram(
            "la_store_batch_events", "Events per commit window", buckets=BATCH_BUCKETS, registry=r
        )
        self.store_healthy = Gauge(
            "la_store_healthy", "1 when the last write succeeded", registry=r
        )
        self.buffered_events = Gauge(
            "la_store_buffered_events", "Events waiting for the next commit", registry=r
        )
        self.full_gc_pause = Histogram(
            "la_gc_full_pause_seconds",
            "Pause of each scheduled full garbage collection (the loop stops meanwhile)",
            buckets=COMMIT_BUCKETS_S,
            registry=r,
        )
        self.sessions = Gauge("la_active_sessions", "Users whose state is in memory", registry=r)
        self.connections = Gauge(
            "la_connections", "Open WebSocket connections, by mode", ["mode"], registry=r
        )
        self.relay_connected = Gauge(
            "la_relay_connected", "1 when the relay stream is connected", ["stream"], registry=r
        )
        self.relay_failures = Gauge(
            "la_relay_failures",
            "Consecutive failed attempts of a relay stream",
            ["stream"],
            registry=r,
        )

        # Label children made once: ``labels()`` per event costs a dict of tuples.
        contents = {cls: cls.CONTENT for cls in REQUEST_PAYLOAD_CLASSES}
        self.event = {
            cls.TYPE: self.events.labels(cls.TYPE) for cls in (*EVENT_CLASSES, *V2_EVENT_CLASSES)
        }
        self.request = {cls: self.requests.labels(name) for cls, name in contents.items()}
        self.latency = {cls: self.request_latency.labels(name) for cls, name in contents.items()}
        self.error_reply = {code: self.error_replies.labels(code.value) for code in ErrorCode}

    def record_commit(self, events: int, snapshots: int, seconds: float) -> None:
        del snapshots  # counted in the batch's time, not a metric of its own
        self.commit_latency.observe(seconds)
        self.batch_events.observe(events)

    def render(self, service: ServiceView) -> bytes:
        """Prometheus text exposition, with the state gauges read now."""
        self.sessions.set(service.sessions)
        self.store_healthy.set(1 if service.store_healthy else 0)
        self.buffered_events.set(service.buffered_events)
        self.connections.labels("hub").set(service.hub_connections)
        self.connections.labels("relay").set(sum(s.connected for s in service.relays))
        for state in service.relays:
            self.relay_connected.labels(state.url).set(1 if state.connected else 0)
            self.relay_failures.labels(state.url).set(state.failures)
        return generate_latest(self.registry)
