"""Relay mode: follow lab streams on a relay, reconnecting forever.

One connection actor per stream URL, all in this process. A relay sends
every frame to everyone else on the stream, so replies are written back into
the stream the request came from, other clients' ``response`` and ``error``
frames are ignored, and only requests are answered with errors
(PROTOCOL.md, "Relay mode" and difference 2).
"""

from __future__ import annotations

import logging
import random

import attrs
import trio

from actors.connection import ConnectionRules, run_connection
from actors.guard import stream_of
from actors.router import Router
from websocket.client import ClientTransport, open_client, split_ws_url

log = logging.getLogger(__name__)

STILL_FAILING_EVERY = 60


@attrs.frozen
class Backoff:
    """Capped exponential backoff with jitter: ``first_s`` doubling up to ``max_s``.

    The delay is drawn between half and all of the step, so a fleet of
    streams that lost one relay does not reconnect in lockstep.
    """

    first_s: float = 0.1
    max_s: float = 1.0

    def delay(self, failures: int, rng: random.Random) -> float:
        step = min(self.max_s, self.first_s * 2 ** min(failures, 32))
        return step * rng.uniform(0.5, 1.0)


@attrs.define
class StreamState:
    """What logs and ``/readyz`` know of one relay stream."""

    url: str
    connected: bool = False
    failures: int = 0  # consecutive attempts that failed since the last success
    connects: int = 0
    last_error: str | None = None
    retry_at: float | None = None  # trio clock time of the next attempt

    @property
    def ready(self) -> bool:
        """Connected, or waiting out a backoff (not stuck)."""
        return self.connected or self.retry_at is not None


async def follow_stream(
    state: StreamState,
    *,
    router: Router,
    rules: ConnectionRules,
    backoff: Backoff,
    max_frame_bytes: int,
    rng: random.Random | None = None,
) -> None:
    """Serve one relay stream, reconnecting after every loss, until the service drains.

    Never raises because the relay vanished, refused us or sent garbage: each
    of those is logged, counted in ``state`` and followed by a backoff.
    """
    rng = rng or random.Random()
    _, _, _, resource = split_ws_url(state.url)
    stream = stream_of(resource)
    while True:
        try:
            async with open_client(state.url, max_message_size=max_frame_bytes) as ws:
                state.connected, state.failures, state.retry_at = True, 0, None
                state.connects += 1
                log.info("relay.connected", extra={"url": state.url, "connects": state.connects})
                await run_connection(
                    ClientTransport(ws), stream=stream, router=router, rules=rules, name=state.url
                )
                reason = _close_reason(ws.closed)
        except Exception as exc:  # any failure of one stream: log it and retry
            reason = f"{type(exc).__name__}: {exc}"
        state.connected = False
        state.last_error = reason
        delay = backoff.delay(state.failures, rng)
        state.failures += 1
        state.retry_at = trio.current_time() + delay
        if rules.drain.started:
            return  # the service is stopping: do not come back
        # The first failure of a streak is news; the next ones only every minute or so.
        if state.failures == 1 or state.failures % STILL_FAILING_EVERY == 0:
            log.warning(
                "relay.disconnected",
                extra={
                    "url": state.url,
                    "error": reason,
                    "failures": state.failures,
                    "retry_in_s": round(delay, 3),
                },
            )
        with rules.drain.watch():  # a stop ends the wait at once
            await trio.sleep(delay)
        if rules.drain.started:
            return


def _close_reason(closed: object) -> str:
    return f"closed: {closed}" if closed is not None else "closed"
