"""What each connection has waiting in lines, and the limits its reader waits on.

The router's lines (``actors.lines``) hold messages for users who cannot take
them yet. ``Holding`` counts, per connection (its ``Source``) and in all, how
many messages and bytes wait there and how many users the connection waits
for while they load: the router asks it whether a connection may hold one
more (or start one more load), and the connection's reader parks until it
may. It is apart from the router because this bookkeeping is the whole of
the backpressure rule, and reads best on its own; the router decides what
to hold and when, ``Holding`` only keeps the counts true.
"""

from __future__ import annotations

from actors.asks import HttpClient
from actors.lines import Delivery, Held, Line, Source
from actors.outbox import Outbox
from store import JsonText

# What one connection may have waiting in lines before its reader waits: at
# most this many messages and bytes, and this many users being loaded.
MAX_HELD_PER_CONNECTION = 1000
MAX_HELD_BYTES_PER_CONNECTION = 1024 * 1024
MAX_LOADING_PER_CONNECTION = 4
# All connections together; beyond it, a connection that holds nothing may
# still hold one message, so a quiet client is never starved by a loud one.
MAX_HELD_BYTES = 64 * 1024 * 1024


class Holding:
    """Per connection and in all: the messages held in lines and the loads waited for."""

    def __init__(self) -> None:
        self._sources: dict[Outbox | HttpClient, Source] = {}
        self.held_bytes = 0  # all connections together

    def source(self, outbox: Outbox | HttpClient) -> Source:
        """The connection of ``outbox``, counted from now on if it was not."""
        source = self._sources.get(outbox)
        if source is None:
            source = self._sources[outbox] = Source(outbox)
        return source

    def may_hold(self, source: Source, *, stopping: bool) -> bool:
        """Whether ``source`` may hold one more message (always at the stop)."""
        if stopping or not source.held:
            return True
        return (
            source.held < MAX_HELD_PER_CONNECTION
            and source.held_bytes < MAX_HELD_BYTES_PER_CONNECTION
            and self.held_bytes < MAX_HELD_BYTES
        )

    def may_load(self, source: Source, *, stopping: bool) -> bool:
        """Whether ``source`` may wait for one more user's load (always at the stop)."""
        return stopping or source.loading < MAX_LOADING_PER_CONNECTION

    def hold(
        self, line: Line, delivery: Delivery, payload: JsonText | None, source: Source
    ) -> Held:
        """``delivery`` joins ``line``, counted against ``source``."""
        held = Held.of(delivery, payload, source)
        line.held.append(held)
        source.held += 1
        source.held_bytes += held.size
        self.held_bytes += held.size
        return held

    def released(self, held: Held) -> None:
        """``held`` has left its line: its connection's reader may go on."""
        held.done = True
        source = held.source
        source.held -= 1
        source.held_bytes -= held.size
        self.held_bytes -= held.size
        source.lot.unpark_all()
        self._forget_if_idle(source)

    def drop(self, line: Line, failure: str) -> int:
        """Release what ``line`` holds, unhandled and unwritten; returns the events dropped.

        A request's reserved room is given back to its outbox; an HTTP
        request (a v2 statement or read) waiting on one fails with
        ``failure`` (503, nothing kept).
        """
        events = 0
        for held in line.held:
            delivery = held.delivery
            if delivery.receipt is not None:
                delivery.receipt.failed(failure)
            elif held.payload is None:
                assert isinstance(delivery.outbox, Outbox)
                delivery.outbox.release(delivery.reserved)
            if held.payload is not None:
                events += 1
            self.released(held)
        line.held.clear()
        return events

    def wait_for_load(self, line: Line, source: Source) -> bool:
        """``source`` waits for ``line``'s load; False if it already did."""
        if source in line.waiters:
            return False
        line.waiters.add(source)
        source.loading += 1
        return True

    def release_waiters(self, line: Line) -> None:
        """The connections waiting for ``line``'s load wait no more."""
        for source in line.waiters:
            source.loading -= 1
            source.lot.unpark_all()
            self._forget_if_idle(source)
        line.waiters.clear()

    def wake_all(self) -> None:
        """Every reader parked on its connection looks again (the stop has come)."""
        for source in self._sources.values():
            source.lot.unpark_all()

    def _forget_if_idle(self, source: Source) -> None:
        if source.idle and self._sources.get(source.outbox) is source:
            del self._sources[source.outbox]
