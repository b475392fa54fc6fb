"""What the service tells its operator: structured logs and Prometheus metrics.

Owns the log format (``telemetry.logs``: one event per line, JSON off a
terminal) and the metrics registry (``telemetry.metrics``) that the actors
update where things happen. It may import ``messages`` (for label values);
it never imports ``actors`` and runs no task: gauges of live state are
given to ``Metrics.render`` by whoever owns that state.
"""
