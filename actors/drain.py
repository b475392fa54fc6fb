"""A clean stop for connections: read what each client already sent, then close.

The service ``start``s the ``Drain`` its connection rules share when it
stops; every connection's reader (``actors.connection``) reads under it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import attrs
import trio

from websocket.transport import Transport


class Drain:
    """A clean stop for connections: read what the client already sent, then close.

    Once ``start``ed, a reader that waits more than ``idle_s`` for the next
    frame gives up, so every frame a client sent before the stop is still
    read and stored; the connection is then closed with 1001. Quiet means
    the client sent nothing: time spent handling what was read (waiting for
    room in the commit buffer included) never counts.
    """

    def __init__(self, idle_s: float = 0.1) -> None:
        self.idle_s = idle_s
        self.started = False
        self._waiting: set[trio.CancelScope] = set()

    def start(self) -> None:
        self.started = True
        deadline = trio.current_time() + self.idle_s
        for scope in self._waiting:
            scope.deadline = min(scope.deadline, deadline)

    @contextmanager
    def watch(self) -> Iterator[trio.CancelScope]:
        """A scope for a whole wait (a relay's backoff), cancelled when a drain finds it idle."""
        deadline = trio.current_time() + self.idle_s if self.started else math.inf
        with trio.CancelScope(deadline=deadline) as scope:
            self._waiting.add(scope)
            try:
                yield scope
            finally:
                self._waiting.discard(scope)

    @contextmanager
    def reading(self) -> Iterator[Reading]:
        """One scope for a connection's whole reading loop; only its reads are timed.

        One scope per connection, not per read (a scope per read costs a
        measurable part of a frame); a drain sets its deadline only while it
        waits for the socket.
        """
        with trio.CancelScope() as scope:
            yield Reading(self, scope)


@attrs.frozen
class Reading:
    """A reader's reads under a ``Drain``'s quiet timer (``Drain.reading``)."""

    drain: Drain
    scope: trio.CancelScope

    async def receive(self, ws: Transport) -> Sequence[str | bytes]:
        drain, scope = self.drain, self.scope
        if drain.started:
            scope.deadline = trio.current_time() + drain.idle_s
        drain._waiting.add(scope)
        try:
            return await ws.receive_messages()
        finally:
            drain._waiting.discard(scope)
            if scope.deadline != math.inf:  # set by a drain: handling what was read is not quiet
                scope.deadline = math.inf
