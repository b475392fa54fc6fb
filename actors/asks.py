"""What the HTTP side hands the router, and what it gets back (used by ``actors.v2backend``).

A v2 statement or feedback body travels as a ``StatementEvent`` /
``UserFeedbackEvent`` through the same ``Router.deliver`` as a v1 frame, so
the same line keeps a user's order whichever protocol it came by. A read
travels as a ``V2Read``. Each carries a ``Receipt`` on its ``Delivery``: the
router settles it once the event has its sequence number (the HTTP task then
waits for that number to be committed: ``200`` only when durable) or once the
read's user is in memory (the HTTP task then computes the reply from an
immutable snapshot in its own task). Each HTTP request is its own
``HttpClient``: the router's unit of fairness and backpressure.
"""

from __future__ import annotations

import attrs
import trio

from analytics.v2_session import V2Snapshot


class HttpClient:
    """The router's key for one HTTP request (where a WebSocket has its outbox)."""

    __slots__ = ()
    name = "http"


@attrs.frozen
class V2Read:
    """A v2 dashboard's read of ``(user, exp, course)``: the router answers with a snapshot."""

    user: str
    exp: str
    course: str
    hardware: None = None  # a read names no kit (``Delivery.hardware`` stays the stream's)


@attrs.define(eq=False)
class Receipt:
    """Settled once by the router: a sequence number, a snapshot, or a failure."""

    done: trio.Event = attrs.field(factory=trio.Event)
    seq: int | None = None
    snapshot: V2Snapshot | None = None  # for a read: None when the user has nothing there
    failure: str | None = None

    def stored(self, seq: int) -> None:
        self.seq = seq
        self.done.set()

    def read(self, snapshot: V2Snapshot | None) -> None:
        self.snapshot = snapshot
        self.done.set()

    def failed(self, why: str) -> None:
        self.failure = why
        self.done.set()
