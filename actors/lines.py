"""Messages waiting for their user, and who waits for them (used by ``actors.router``).

A user whose messages cannot be applied at once has a ``Line``: while their
state loads, or while their events wait for room in the commit buffer. Every
message of that user read meanwhile joins the line behind the others, so a
user's messages are applied in the order they were read, whichever
connection read them. Each connection is a ``Source`` that counts what it
has in lines: that is what it waits on (backpressure to that one client),
and what the fair ``LoadQueue`` takes turns by.
"""

from __future__ import annotations

from collections import deque

import attrs
import trio

from actors.asks import HttpClient, Receipt, V2Read
from actors.outbox import Outbox
from actors.session import UserSession
from messages import InboundMessage, V2Event
from store import ROW_OVERHEAD_BYTES, JsonText

# What a held request costs in memory, about (the message and its delivery).
REQUEST_BYTES = 1024


@attrs.frozen
class Delivery:
    """A decoded message on its way to its user's session, and where replies go."""

    message: InboundMessage | V2Event | V2Read
    outbox: Outbox | HttpClient  # where replies go; who asks, for fairness
    received_ms: int  # wall clock, stored with the event
    received_at: float  # trio clock, for latency
    reserved: int = 0  # outbox places held for a request's replies
    hardware: str | None = None  # the message's, else the stream's (hub path, relay stream)
    receipt: Receipt | None = None  # an HTTP request waiting for its seq or snapshot


@attrs.define(eq=False)
class Source:
    """One connection (its outbox), as the router's lines see it.

    ``held`` messages of ``held_bytes`` wait in lines; ``loading`` users it
    waits for are being loaded. Its reader parks on ``lot`` until what it
    waits for changes.
    """

    outbox: Outbox | HttpClient
    held: int = 0
    held_bytes: int = 0
    loading: int = 0
    lot: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot)

    @property
    def idle(self) -> bool:
        return not (self.held or self.loading or self.lot.statistics().tasks_waiting)


@attrs.define(eq=False)
class Held:
    """One message in a line, and what it costs."""

    delivery: Delivery
    payload: JsonText | None  # an event's encoded payload; None for a request
    source: Source
    size: int
    done: bool = False

    @classmethod
    def of(cls, delivery: Delivery, payload: JsonText | None, source: Source) -> Held:
        size = REQUEST_BYTES if payload is None else ROW_OVERHEAD_BYTES + len(payload)
        return cls(delivery, payload, source, size)


@attrs.define(eq=False)
class Line:
    """A user's messages waiting, in the order they were read.

    ``session`` is None while the user loads; after a load that failed,
    ``available`` is False and the events are stored without being applied.
    """

    user: str
    held: deque[Held] = attrs.field(factory=deque)
    session: UserSession | None = None
    loading: bool = True
    available: bool = True
    started: bool = False  # a loader took it
    waiters: set[Source] = attrs.field(factory=set)  # connections waiting for the load
    forgotten: bool = False  # its user was forgotten: a load still running is discarded


class LoadQueue:
    """Users to load, one lane per connection waiting for them, served in turn.

    A client that sends a thousand new ids has at most a few in its lane
    (the router's per-connection cap), and a student's user, in their own
    connection's lane, is loaded after at most one user of every other lane.
    A user that several connections wait for is in each of their lanes and
    is loaded on its first turn.
    """

    def __init__(self) -> None:
        self._lanes: dict[Source, deque[Line]] = {}
        self._lot = trio.lowlevel.ParkingLot()

    def put(self, source: Source, line: Line) -> None:
        self._lanes.setdefault(source, deque()).append(line)
        self._lot.unpark()

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    async def get(self) -> Line:
        """The next line to load, taking lanes in turn; waits while there is none."""
        while True:
            while self._lanes:
                source = next(iter(self._lanes))
                lane = self._lanes.pop(source)
                line = lane.popleft()
                if lane:
                    self._lanes[source] = lane  # to the back of the round
                if not line.started:
                    line.started = True
                    return line
            await self._lot.park()
