"""What the hub's idle rule reads of a server WebSocket, and the two things it does to one.

``last_heard``, ``waiting`` and ``message_since`` are kept by the reading
task; ``ping_nowait`` and ``expire`` are called from the hub's sweep, which
never waits for a client. Checked over a real loopback socket with a wsproto
client (the independent other side).
"""

from __future__ import annotations

import trio
from wsproto.events import CloseConnection, Ping, TextMessage

from tests.websocket.test_server import accepted, read_until_closed
from websocket.transport import TransportClosed


async def test_the_reader_says_when_it_waits_what_it_heard_and_since_when_a_message_is_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with accepted() as (ws, raw), trio.open_nursery() as nursery:
        got: list = []

        async def read() -> None:
            got.extend(await ws.receive_messages())

        start = trio.current_time()
        nursery.start_soon(read)
        await trio.sleep(5)
        assert ws.waiting
        assert ws.message_since is None
        frame = raw.ws.send(TextMessage(data="hello"))
        await raw.stream.send_all(frame[:3])  # a message begins
        await trio.sleep(1)
        assert ws.last_heard == start + 5.0
        assert ws.message_since == start + 5.0
        assert ws.waiting
        await trio.sleep(4)
        await raw.stream.send_all(frame[3:])
        await trio.sleep(0.01)
        assert got == ["hello"]
        assert ws.last_heard == start + 10.0
        assert ws.message_since is None
        assert not ws.waiting  # nobody reads now


async def test_ping_nowait_sends_a_ping_and_a_reply_clears_it() -> None:
    async with accepted() as (ws, raw), trio.open_nursery() as nursery:
        nursery.start_soon(ws.receive_messages)
        assert ws.ping_nowait()
        assert ws.pinged
        ping = await raw.next_event()
        assert isinstance(ping, Ping)
        await raw.stream.send_all(raw.ws.send(ping.response()))
        with trio.fail_after(5):
            while ws.pinged:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_ping_nowait_never_writes_into_a_send_in_progress() -> None:
    async with accepted() as (ws, _), ws._send_lock:
        assert not ws.ping_nowait()
        assert not ws.pinged


async def test_expire_sends_its_close_frame_hangs_up_and_ends_the_waiting_reader() -> None:
    async with accepted() as (ws, raw):
        ended: list[TransportClosed] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_until_closed, ws, ended)
            await trio.sleep(0.05)
            ws.expire(1001, "idle")  # not async: the sweep never waits
        closing = await raw.next_event()
        assert isinstance(closing, CloseConnection)
        assert (closing.code, closing.reason) == (1001, "idle")
        assert await raw.eof()
        assert [(e.code, e.reason) for e in ended] == [(1001, "idle")]
        assert ws.closed
        ws.expire(1008, "again")  # once closed, nothing more
        assert ws.close_code == 1001
