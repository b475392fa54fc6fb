"""The HTTP side: the ops port (health, readiness, metrics, the access handshake).

Owns the HTTP listener and its routes. It reaches the running service only
through the small view the wiring hands it (``web.endpoints.ServiceView``),
so it never imports ``actors``; it may import ``config``, ``telemetry``,
``store``, ``messages``, ``analytics`` and ``courses``.
"""
