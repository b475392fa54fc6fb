"""Serving the HTTP app: Hypercorn's trio worker inside our nursery.

``serve_web`` runs ``hypercorn.trio.serve`` with limits of our choosing
and no logging of its own beyond warnings (no access log: we never log a
request's query or headers). Our clean stop drives its graceful close
through ``shutdown_trigger``: it stops accepting, lets requests in flight
finish within ``grace_s``, closes idle keep-alive connections, runs the
app's lifespan shutdown and returns.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

# Hypercorn logs "Running on ..." at INFO in prose; we log http.listening.
_HYPERCORN_LOG = logging.getLogger("web.hypercorn")
_HYPERCORN_LOG.setLevel(logging.WARNING)

# An idle keep-alive connection, or one still sending its request head, is
# closed after this long: what a slow-headers client can hold is bounded in
# time here and in bytes by MAX_HEADER_BYTES. Bodies are bounded by the
# routes that read them (web.replies.read_body).
KEEP_ALIVE_S = 5.0
MAX_HEADER_BYTES = 16 * 1024
# A connection is recycled after this many requests (Hypercorn's default is 1000).
KEEP_ALIVE_MAX_REQUESTS = 10_000
# HTTP/2 (prior knowledge or h2c): streams and header bytes per connection.
H2_MAX_STREAMS = 32


def hypercorn_config(listen: str, grace_s: float) -> Config:
    config = Config()
    config.bind = [listen]
    config.accesslog = None
    config.errorlog = _HYPERCORN_LOG
    config.include_server_header = False
    config.keep_alive_timeout = KEEP_ALIVE_S
    config.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.h2_max_header_list_size = MAX_HEADER_BYTES
    config.h2_max_concurrent_streams = H2_MAX_STREAMS
    config.graceful_timeout = grace_s
    config.shutdown_timeout = grace_s
    config.startup_timeout = grace_s
    return config


async def serve_web(
    app: ASGIApp,
    listen: str,
    *,
    grace_s: float,
    shutdown_trigger: Callable[[], Awaitable[object]],
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``listen`` (HOST:PORT) until ``shutdown_trigger`` returns.

    ``started`` with the bound port. Returns after the graceful close (at
    most ``grace_s`` for requests in flight); raises ``OSError`` if the
    address cannot be bound.
    """
    config = hypercorn_config(listen, grace_s)
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(serve, app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
        )
        port = int(binds[0].rpartition(":")[2])
        log.info("http.listening", extra={"listen": listen, "port": port})
        task_status.started(port)
