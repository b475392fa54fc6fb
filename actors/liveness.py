"""The idle rule: which quiet hub connections are pinged, and which are closed.

The rule (docs/DECISIONS.md, SECURITY.md):

- a connection whose client has sent nothing at all (no message, no pong,
  not a byte) for ``ping_interval_s`` is pinged; every browser answers a
  ping by itself, so a dashboard left open, waiting legitimately, stays;
- one that has sent nothing at all for ``idle_close_s`` (it did not answer
  the ping either) is closed with 1001: the peer is gone or is no client of
  ours;
- a message (or a frame) that has begun must end within
  ``message_timeout_s``, else the connection is closed with 1008: a client
  that trickles a frame a byte at a time holds no reader for long.

Only a connection whose reader is waiting for bytes, with no request in
flight, is judged: a quiet spell that is ours (the reader held by
backpressure, replies still being computed) is never the client's fault.
The hub applies the verdicts from one sweep task; this module only decides.
"""

from __future__ import annotations

import enum
from typing import Protocol

import attrs

CLOSE_IDLE = 1001  # going away: nothing wrong, the connection was just unused
CLOSE_SLOW_MESSAGE = 1008  # policy: a message must not take forever to arrive
# The sweep runs this many times per shortest period (bounds: see ``tick_s``).
SWEEPS_PER_PERIOD = 4


class Watched(Protocol):
    """What the rule reads of a connection (``websocket.server.ServerWebSocket``)."""

    @property
    def last_heard(self) -> float: ...
    @property
    def waiting(self) -> bool: ...
    @property
    def message_since(self) -> float | None: ...
    @property
    def pinged(self) -> bool: ...


class Verdict(enum.Enum):
    KEEP = enum.auto()
    PING = enum.auto()
    IDLE = enum.auto()  # close 1001
    SLOW_MESSAGE = enum.auto()  # close 1008


@attrs.frozen
class Liveness:
    """The periods of the idle rule (settings ``ping_interval_s``, ``idle_close_s``,
    ``message_timeout_s``)."""

    ping_interval_s: float = 20.0
    idle_close_s: float = 60.0
    message_timeout_s: float = 30.0

    @property
    def tick_s(self) -> float:
        """How often the hub sweeps: a few times per shortest period, between 10 ms and 5 s.

        A verdict is then late by at most a quarter of its period, and the
        sweep (one pass over every connection) costs little even with 20,000.
        """
        shortest = min(self.ping_interval_s, self.idle_close_s, self.message_timeout_s)
        return min(5.0, max(0.01, shortest / SWEEPS_PER_PERIOD))

    def verdict(self, connection: Watched, now: float, *, busy: bool = False) -> Verdict:
        """What to do with ``connection`` at ``now``; ``busy``: a request of it is in flight
        (the caller may find that out only when the verdict is not ``KEEP``: it costs more)."""
        if busy or not connection.waiting:
            return Verdict.KEEP
        since = connection.message_since
        if since is not None and now - since >= self.message_timeout_s:
            return Verdict.SLOW_MESSAGE
        quiet = now - connection.last_heard
        if quiet >= self.idle_close_s:
            return Verdict.IDLE
        if quiet >= self.ping_interval_s and not connection.pinged:
            return Verdict.PING
        return Verdict.KEEP
