"""The HTTP side: one Starlette app on Hypercorn's trio worker (``--http-listen``).

It serves the ops routes (health, readiness, metrics, the access handshake)
and the v2 API of PROTOCOL-V2.md. It reaches the running service only
through small views the wiring hands it (``web.ops.OpsView``,
``web.v2.V2Backend``), so it never imports ``actors``; it may import
``config``, ``telemetry``, ``store``, ``messages``, ``analytics`` and
``courses``.

    app.py        build_app: routes, error handlers, the edge
    edge.py       CORS on every reply, preflights, the last-resort 500
    server.py     serve_web: Hypercorn in our nursery, its limits
    ops.py        /healthz /readyz /metrics POST /session/<stream>
    v2.py         the v2 routes and the backend they call
    auth.py       the UIs' credential and the researchers'
    query.py      lenient query parsing, the identity of a request
    replies.py    JSON replies, error objects, bodies read within limits
    zipstream.py  download-logs: a zip streamed as it is made
"""
