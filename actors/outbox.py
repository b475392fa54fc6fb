"""The bounded queue of encoded frames going out to one client."""

from __future__ import annotations

import logging

import trio

log = logging.getLogger(__name__)


class Outbox:
    """Where replies to one connection are put; never blocks whoever puts.

    A full queue means the client stopped reading: the outbox closes itself,
    the connection's writer sees ``overflowed`` and cuts the client off, and
    nobody else ever waits for it. Puts after that are dropped silently (the
    client is gone).
    """

    def __init__(self, send: trio.MemorySendChannel[str], name: str) -> None:
        self._send = send
        self.name = name
        self.overflowed = False
        self.sent = 0

    def put(self, text: str) -> bool:
        """Queue ``text``; False if the client is gone or was just cut off."""
        try:
            self._send.send_nowait(text)
        except trio.WouldBlock:
            self.overflowed = True
            log.warning("connection.slow_client", extra={"connection": self.name})
            self._send.close()
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self._send.close()


def open_outbox(size: int, name: str) -> tuple[Outbox, trio.MemoryReceiveChannel[str]]:
    """An outbox holding at most ``size`` frames, and the receiving end for the writer."""
    send, receive = trio.open_memory_channel[str](size)
    return Outbox(send, name), receive
