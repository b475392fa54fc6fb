"""What a connection actor needs of a WebSocket, whoever implements it.

The hub's side is our own thin server (``websocket/server.py``); a relay
stream is a trio-websocket client (``websocket/client.py``). Both hand the
connection actor every message that came with one read and take several
replies in one write: the per-frame cost of a hub connection is most of the
service's cost per event (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol


class TransportClosed(Exception):
    """The WebSocket is closed (by the peer, by us, or lost: code 1006)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed ({code}): {reason}" if reason else f"closed ({code})")
        self.code = code
        self.reason = reason


class SendNow(enum.Enum):
    """What ``Transport.send_now`` did."""

    NOT_NOW = enum.auto()  # nothing written: queue the frames for the writer task
    SENT = enum.auto()  # all written
    PARTIAL = enum.auto()  # the rest waits in the transport: the writer task must flush it


class Transport(Protocol):
    """One open WebSocket, as the connection actor uses it."""

    @property
    def closed(self) -> bool:
        """Whether the connection is over (nothing can be sent or received any more)."""
        ...

    async def receive_messages(self) -> Sequence[str | bytes]:
        """The next messages (at least one); raises ``TransportClosed`` once closed."""
        ...

    async def send_messages(self, texts: Sequence[str]) -> None:
        """Send text messages in order (after anything ``send_now`` left);
        raises ``TransportClosed`` once closed."""
        ...

    def send_now(self, texts: Sequence[str]) -> SendNow:
        """Write ``texts`` without waiting, if nothing else is being written."""
        ...

    async def close(self, code: int, reason: str, *, timeout_s: float) -> None:
        """Close with ``code``, waiting at most ``timeout_s`` for the peer; just drop the
        TCP connection if a cancelled send left half a frame (nothing may follow it).
        Never raises for a peer that is gone."""
        ...
