"""The bounded queue of encoded frames going out to one client."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import trio

from websocket.transport import SendNow

FLUSH = ""  # queued after a ``SendNow.PARTIAL``: the writer sends what the transport kept


class Outbox:
    """Where replies to one connection are put; never blocks whoever puts.

    The connection's reader ``reserve``s room for a request's replies before
    handing the request on, so a client that pipelines requests but reads
    every reply is simply read more slowly (backpressure), while the workers
    that ``put`` replies never wait. A client that stops reading leaves no
    room: ``reserve`` times out, or a put finds the queue full, and the client
    is cut off (``overflowed``) without anyone else waiting for it.
    """

    def __init__(
        self,
        send: trio.MemorySendChannel[str],
        capacity: int,
        name: str,
        send_now: Callable[[Sequence[str]], SendNow] | None = None,
    ) -> None:
        self._send = send
        self._send_now = send_now
        self.capacity = capacity
        self.name = name
        self.overflowed = False
        self.cut_off = False  # the connection has been closed for it
        self._reserved = 0
        self._room = trio.Event()

    def put(self, text: str, *, reserved: bool = False) -> bool:
        """Queue ``text`` (using one reserved place if ``reserved``); False if gone or cut off."""
        if reserved:
            self.release(1)
        try:
            self._send.send_nowait(text)
        except trio.WouldBlock:
            self.overflowed = True
            self._send.close()
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def put_all(self, texts: Sequence[str], *, reserved: int) -> None:
        """The replies of one request, together, in order; ``reserved`` places held for them.

        Written at once when nothing is queued before them and the socket
        takes them (one pass through the scheduler less); else queued.
        """
        if self._send_now is not None and self._queued() == 0 and not self.overflowed:
            outcome = self._send_now(texts)
            if outcome is not SendNow.NOT_NOW:
                if outcome is SendNow.PARTIAL:
                    self.put(FLUSH, reserved=reserved > 0)
                    reserved -= 1
                self.release(reserved)
                return
        for number, text in enumerate(texts):
            self.put(text, reserved=number < reserved)
        self.release(reserved - len(texts))

    async def reserve(self, places: int, timeout_s: float) -> bool:
        """Wait until ``places`` replies fit, then hold them; False if the client is not reading.

        On False the outbox is marked ``overflowed`` and closed.
        """
        places = min(places, self.capacity)
        with trio.move_on_after(timeout_s):
            while self._queued() + self._reserved + places > self.capacity:
                if self.overflowed:
                    return False
                self._room = trio.Event()
                await self._room.wait()
            self._reserved += places
            return True
        self.overflowed = True
        self._send.close()
        return False

    @property
    def busy(self) -> bool:
        """Whether replies are owed (places held) or queued: a request is in flight."""
        return self._reserved > 0 or self._queued() > 0

    @property
    def reserved(self) -> int:
        """Places held for replies still being computed."""
        return self._reserved

    def release(self, places: int) -> None:
        """Give back reserved places a request did not use (an error reply instead of five)."""
        self._reserved = max(0, self._reserved - places)
        self._room.set()

    def taken(self) -> None:
        """The writer sent one frame: there is room again."""
        self._room.set()

    def close(self) -> None:
        self._send.close()
        self._room.set()

    def _queued(self) -> int:
        return self._send.statistics().current_buffer_used


def open_outbox(
    size: int, name: str, send_now: Callable[[Sequence[str]], SendNow] | None = None
) -> tuple[Outbox, trio.MemoryReceiveChannel[str]]:
    """An outbox holding at most ``size`` frames, and the receiving end for the writer.

    ``send_now``: the transport's way to write without waiting, if any.
    """
    send, receive = trio.open_memory_channel[str](size)
    return Outbox(send, size, name, send_now), receive
