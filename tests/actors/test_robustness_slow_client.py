"""A dashboard that asks and never reads is cut off; nobody else waits for it."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import pytest
import trio
from trio_websocket import CloseReason, ConnectionClosed

from actors import loading as sessions
from tests.actors.conftest import Client, client, running_service, service_settings
from tests.actors.test_robustness_reference import (
    COURSES,
    Reference,
    assert_replies,
    check_independently,
    request_frame,
    script,
    task_graph,
    wait_until,
)
from websocket.server import ServerWebSocket
from websocket.transport import SendNow

FLOOD = 2000  # all_feedback requests: 5 replies of a few KB each, never read


async def read_until_closed(ws: Client) -> tuple[list[dict], CloseReason]:
    """Everything still readable on ``ws``, then why it closed (bounded)."""
    frames = []
    with trio.fail_after(10):
        while True:
            try:
                frames.append(json.loads(await ws.ws.get_message()))
            except ConnectionClosed as closed:
                return frames, closed.reason


async def flood(ws: Client, frame: dict, sent: list[int]) -> None:
    """Send ``FLOOD`` requests without reading; stops quietly once cut off."""
    try:
        for _ in range(FLOOD):
            await ws.send(frame)
            sent[0] += 1
    except ConnectionClosed:
        pass


async def send_while_reading(ws: Client, frames: list[Any], replies: int) -> list[dict]:
    """Send ``frames`` as fast as it can while reading every reply as it comes; returns
    the replies read by the time ``replies`` are in, ``ws`` is closed or 5 s have passed."""
    got: list[dict] = []

    async def read_everything() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                got.append(json.loads(await ws.ws.get_message()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_everything)
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await ws.send(frame)
        with trio.move_on_after(5):
            while len(got) < replies and ws.ws.closed is None:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    return got


async def test_a_dashboard_that_never_reads_is_cut_off_and_the_other_is_not(tmp_path) -> None:
    rng = random.Random(12)
    course = COURSES[0]
    reference = Reference()
    hog_frames = script(rng, "hog", course, 60)
    good_frames = script(rng, "good", course, 60)
    reference.record(hog_frames + good_frames)
    greedy = request_frame("hog", course, "all_feedback", graph=task_graph(course))
    # 5: the least. No rate limit: the good dashboard asks as fast as it is answered.
    settings = service_settings(tmp_path, outbound_size=5, send_timeout_s=0.5, reply_rate_per_s=0)
    async with running_service(settings) as service:
        hub = service.hub
        async with client(service, "/hog") as hog, client(service, "/good") as good:
            for frame in hog_frames:
                await hog.send(frame)
            for frame in good_frames:
                await good.send(frame)
            await wait_until(lambda: len(hub.connections) == 2)
            sent = [0]
            answered = 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood, hog, greedy, sent)
                with trio.fail_after(20):
                    # The other dashboard keeps getting every reply, until and after the cut.
                    while len(hub.connections) == 2 or answered < 20:
                        number = answered
                        ask = request_frame(
                            "good", course, "all_feedback", id=number, graph=task_graph(course)
                        )
                        replies = await good.ask(ask, 5)
                        assert_replies(replies, reference.answer(ask))
                        answered += 1
                    assert len(hub.connections) == 1
                nursery.cancel_scope.cancel()
            assert sent[0] > 0
            # The hog's socket was closed by the server: reading ends in ConnectionClosed.
            leftovers, reason = await read_until_closed(hog)
            assert {reply["user"] for reply in leftovers} <= {"hog"}
            # 1008 when the close frame got through; 1006 when a reply was being
            # written to the full socket at the cut (nothing may follow half a frame).
            assert reason.code in (1006, 1008), reason
            check_independently(course, good_frames, [replies[0], *replies[2:]])
            # The good dashboard is still served normally.
            last = request_frame("good", course, "indicators", id="last")
            assert_replies(await good.ask(last, 1), reference.answer(last))


async def test_a_dashboard_that_stops_reading_is_cut_off_once_its_socket_is_full(tmp_path) -> None:
    """No burst this time: one request at a time, never read, until the TCP buffers
    and the outbox are full. The server notices (send deadline or full outbox)."""
    course = COURSES[1]
    reference = Reference()
    greedy = request_frame("hog", course, "all_feedback", graph=task_graph(course))
    # No rate limit: at 100 replies/s the hog would take ~20 s to fill the TCP buffers.
    settings = service_settings(tmp_path, send_timeout_s=0.5, reply_rate_per_s=0)
    async with running_service(settings) as service:
        hub = service.hub
        async with client(service, "/hog") as hog, client(service, "/good") as good:
            await wait_until(lambda: len(hub.connections) == 2)
            sent = 0
            with trio.fail_after(20):
                try:
                    while len(hub.connections) == 2:
                        await hog.send(greedy)
                        sent += 1
                        await trio.sleep(0.0005)  # paced: the writer keeps up while it can
                except ConnectionClosed:
                    pass
                await wait_until(lambda: len(hub.connections) == 1)
            assert sent > 10  # it was served for a while before being cut
            # What the hog can still read is its own replies, then the close.
            leftovers, reason = await read_until_closed(hog)
            assert {reply["user"] for reply in leftovers} == {"hog"}
            # 1008 if the close frame got through, 1006 if the full socket was dropped
            # (never 1007: after a write cut off mid-frame nothing more is sent).
            assert reason.code in (1006, 1008), reason
            for number in range(3):
                ask = request_frame(
                    "good", course, "all_feedback", id=number, graph=task_graph(course)
                )
                assert_replies(await good.ask(ask, 5), reference.answer(ask))


async def test_a_dashboard_that_reads_everything_is_not_cut_off_for_a_burst(tmp_path) -> None:
    """Pipelining is not "not reading": the client is slowed down, never cut off.

    (Failed before commit 1025b07: the pool put replies faster than the writer
    sent them and the first full outbox closed the connection with 1008.)
    Replies to different requests may come in any order (two workers; ``id``
    correlates them), but each request's five replies come together, in order."""
    course = COURSES[0]
    burst = 40  # 200 replies, and the client reads them all as fast as they come
    reference = Reference()
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        asks = [
            request_frame("u", course, "all_feedback", id=number, graph=task_graph(course))
            for number in range(burst)
        ]
        got = await send_while_reading(ws, asks, 5 * burst)
        assert ws.ws.closed is None, ws.ws.closed
        assert len(got) == 5 * burst
        groups = [got[start : start + 5] for start in range(0, len(got), 5)]
        assert sorted(group[0]["id"] for group in groups) == list(range(burst))
        for group in groups:
            ask = request_frame(
                "u", course, "all_feedback", id=group[0]["id"], graph=task_graph(course)
            )
            assert_replies(group, reference.answer(ask))


async def test_a_burst_of_bad_frames_from_a_reading_client_is_answered_not_cut_off(
    tmp_path,
) -> None:
    """(Failed before commit 86bdf2d: error replies to bad frames reserved no room, and
    ~130 of them in a burst overflowed the outbox of a client that reads them all.)"""
    bad = 300
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        got = await send_while_reading(ws, ["{not json"] * bad, bad)
        assert ws.ws.closed is None, ws.ws.closed
        assert [reply["error"]["code"] for reply in got] == ["bad_json"] * bad


@pytest.mark.parametrize("size", [1, 3, 4, 5])
async def test_all_feedback_is_answered_whatever_outbound_size_is_accepted(
    tmp_path, size: int
) -> None:
    """An outbound_size that cannot hold all_feedback's five replies is refused up-front;
    any accepted one answers a reading client's pipelined all_feedback requests.

    (Failed before commit 86bdf2d: sizes 1-4 were accepted, and the reservation was
    capped at the capacity, so the client was cut off with no reply.)"""
    course = COURSES[0]
    reference = Reference()
    if size < 5:
        with pytest.raises(ValueError, match="outbound_size"):
            service_settings(tmp_path, outbound_size=size)
        return
    settings = service_settings(tmp_path, outbound_size=size)
    async with running_service(settings) as service, client(service) as ws:
        asks = [
            request_frame("u", course, "all_feedback", id=number, graph=task_graph(course))
            for number in range(3)
        ]
        for ask in asks:
            await ws.send(ask)
        try:
            replies = await ws.receive_n(15)
        except ConnectionClosed as closed:
            raise AssertionError(f"cut off: {closed.reason}") from None
        groups = {group[0]["id"]: group for group in (replies[i : i + 5] for i in range(0, 15, 5))}
        for ask in asks:
            assert_replies(groups[ask["id"]], reference.answer(ask))


async def test_a_client_cut_off_for_not_reading_is_told_so_with_1008(tmp_path, monkeypatch) -> None:
    """(Failed before commit 86bdf2d: the reader gave up and cancelled the writer,
    and the transport closed with its default 1000.)

    Made deterministic: the server's sends to the client never complete (a full
    socket, without filling one, so a close frame can still get through), and the
    first request's replies come 0.1 s late (a slow cold load), so the reader is
    already waiting for outbox room when the writer starts its doomed send."""

    async def never_completes(ws: ServerWebSocket, texts: Sequence[str]) -> None:
        await trio.sleep_forever()

    load = sessions.load_session

    def slow_load(*args: object) -> object:
        time.sleep(0.1)  # in the loader's worker thread, not the event loop
        return load(*args)

    monkeypatch.setattr(ServerWebSocket, "send_messages", never_completes)
    monkeypatch.setattr(ServerWebSocket, "send_now", lambda ws, texts: SendNow.NOT_NOW)
    monkeypatch.setattr(sessions, "load_session", slow_load)
    course = COURSES[0]
    settings = service_settings(tmp_path, outbound_size=5, send_timeout_s=0.3)
    async with running_service(settings) as service, client(service) as hog:
        for number in range(2):  # the second waits for room the first one holds
            await hog.send(
                request_frame("hog", course, "all_feedback", id=number, graph=task_graph(course))
            )
        leftovers, reason = await read_until_closed(hog)
        assert leftovers == []
        await wait_until(lambda: not service.hub.connections)
    assert reason.code == 1008, reason
