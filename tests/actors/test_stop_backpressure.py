"""Issue 16 on a real service over loopback: the stop and a full commit buffer.

The disk "fails" by refusing writes (``FailingDisk``) and the commit buffer is
made tiny, so connections wait for room; each test then checks what was read
is stored (counted in the store after the service is gone), who got replies,
and that the stop ends.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from actors.service import Service, serve
from cli.main import EXIT_EVENTS_LOST, EXIT_STARTUP, run_serve
from tests.actors.conftest import Client, client, event, request, service_settings
from tests.actors.test_robustness_reference import (
    COURSES,
    Reference,
    assert_replies,
    request_frame,
    script,
    stored,
    stored_keys,
    wait_until,
)
from tests.actors.test_robustness_store import FailingDisk


async def until_closed(ws: Client) -> None:
    """Read (and drop) whatever comes until the service closes the connection."""
    try:
        while True:
            await ws.ws.get_message()
    except ConnectionClosed:
        return


def frames_of(user: str, n: int) -> list[dict[str, Any]]:
    return [event(user, f"cmd{number % 7}", number) for number in range(n)]


async def test_sigterm_while_connections_wait_for_room_stores_everything_read(
    tmp_path, monkeypatch
) -> None:
    """16.1: the store refuses writes, connections wait for room, SIGTERM comes, and
    the disk returns 1 s later (inside the 5 s grace): every event sent before the stop
    is stored. (Before: waiting for room counted as "quiet", so readers were cancelled
    0.1 s into the stop with their frames; 13,725 of 215,000 lost.)"""
    settings = service_settings(tmp_path, flush_interval_s=0.01, max_buffered_events=50)
    users = ("ann", "ben", "cid")
    sent: dict[str, list[dict[str, Any]]] = {user: frames_of(user, 300) for user in users}
    async with trio.open_nursery() as nursery:
        service: Service = await nursery.start(serve, settings)
        disk = FailingDisk(service.writer.store)
        monkeypatch.setattr(service.writer.store, "write_batch", disk.write_batch)
        disk.full = True
        all_sent = trio.Event()
        done = 0

        async def student(user: str) -> None:
            nonlocal done
            async with client(service) as ws:
                for frame in sent[user]:
                    await ws.send(frame)
                done += 1
                if done == len(users):
                    all_sent.set()
                await until_closed(ws)

        for user in users:
            nursery.start_soon(student, user)
        with trio.fail_after(10):
            await all_sent.wait()
        await wait_until(lambda: not service.writer.has_room)
        service.stop()
        await trio.sleep(1.0)  # well past the 0.1 s of quiet, inside the grace
        disk.full = False
    with stored(tmp_path) as store:
        for user in users:
            assert stored_keys(store, user) == [
                (f["type"], f["user"], f["exp"], f["course"], "spin30", f["t"], f["payload"])
                for f in sent[user]
            ]


async def test_a_tiny_buffer_never_stalls_a_connection_for_good_and_the_stop_ends(
    tmp_path, monkeypatch
) -> None:
    """16.2: eight connections flat out into a 20-event buffer while the disk fails,
    then it works again: every connection gets through and gets its reply (before,
    6 of 8 stalled for good and SIGTERM then hung)."""
    settings = service_settings(tmp_path, flush_interval_s=0.01, max_buffered_events=20)
    async with trio.open_nursery() as nursery:
        service: Service = await nursery.start(serve, settings)
        disk = FailingDisk(service.writer.store)
        monkeypatch.setattr(service.writer.store, "write_batch", disk.write_batch)
        disk.full = True
        answered = []

        async def student(user: str) -> None:
            async with client(service) as ws:
                for frame in frames_of(user, 150):
                    await ws.send(frame)
                reply = await ws.ask(request(user, "indicators"), 1)
                answered.append((user, reply[0]["type"]))

        with trio.fail_after(30):
            async with trio.open_nursery() as students:
                for number in range(8):
                    students.start_soon(student, f"s{number}")
                await wait_until(lambda: disk.refused >= 3)
                disk.full = False
        assert sorted(answered) == [(f"s{number}", "response") for number in range(8)]
        service.stop()
    with stored(tmp_path) as store:
        assert store.count_events() == 8 * 150


async def test_a_full_buffer_keeps_read_your_writes_and_serves_other_requests(
    tmp_path, monkeypatch
) -> None:
    """16.3: an event of ann's, read on one connection while the buffer is full, then
    a request for ann on another: the reply counts that event. A request for another
    user is answered at once, full buffer or not (before: both waited for room, and
    resumed in either order: 3 of 8 replies missed the event)."""
    course = COURSES[0]
    rng_frames = script(__import__("random").Random(5), "ann", course, 40)
    frames = [f for f in rng_frames if f["type"] == "analytics"]
    reference = Reference()
    settings = service_settings(tmp_path, flush_interval_s=0.01, max_buffered_events=10)
    async with trio.open_nursery() as nursery:
        service: Service = await nursery.start(serve, settings)
        async with client(service) as lab, client(service) as dashboard:
            warm = request_frame("ann", course, "indicators")
            await dashboard.ask(warm, 1)
            await dashboard.ask(request_frame("bob", course, "indicators"), 1)
            disk = FailingDisk(service.writer.store)
            monkeypatch.setattr(service.writer.store, "write_batch", disk.write_batch)
            disk.full = True
            before = service.writer.appended_seq
            for frame in frames:
                await lab.send(frame)
            # The buffer fills; ann's next event read waits in her line (and the lab's
            # connection reads no more until it is applied).
            router = service.router
            await wait_until(lambda: "ann" in router._lines and router._lines["ann"].held)
            [waiting] = router._lines["ann"].held
            read = service.writer.appended_seq - before + 1
            assert waiting.delivery.message.t == frames[read - 1]["t"]
            reference.record(frames[:read])
            ask = request_frame("ann", course, "student_graph", id="ann")
            await dashboard.send(ask)
            other = request_frame("bob", course, "indicators", id="bob")
            [bob] = await dashboard.ask(other, 1)  # answered although the buffer is full
            assert bob["id"] == "bob"
            assert not service.writer.has_room
            disk.full = False
            [ann] = await dashboard.receive_n(1, timeout_s=10)
            assert_replies([ann], reference.answer(ask))
        service.stop()


async def test_a_payload_the_store_cannot_write_is_refused_and_nobody_else_notices(
    tmp_path,
) -> None:
    """Issue 12.1: a payload nested 300 deep decodes but cannot be encoded for the store.
    It is refused with ``invalid_message`` before it is applied; the service stays up
    and the other events of the same commit window are stored. (Before: the writer
    died with a TypeError and took the process down.)"""
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"d": deep}
    settings = service_settings(tmp_path, flush_interval_s=0.2)
    async with trio.open_nursery() as nursery:
        service: Service = await nursery.start(serve, settings)
        async with client(service) as other, client(service) as hostile:
            await other.send(event("ann", "cmd1", 1))
            frame = event("eve", "cmd1", 2)
            frame["payload"]["data"] = deep
            await hostile.send(frame)
            [refused] = await hostile.receive_n(1)
            assert refused["type"] == "error"
            assert refused["error"]["code"] == "invalid_message"
            await other.send(event("ann", "cmd2", 3))
            reply = await other.ask(request("ann", "indicators"), 1)
            assert reply[0]["type"] == "response"
        service.stop()
    with stored(tmp_path) as store:
        assert [row.t for row in store.events_of("ann")] == [1, 3]
        assert store.events_of("eve") == []


async def test_a_stop_that_cannot_flush_returns_how_many_events_were_lost(
    tmp_path, monkeypatch, caplog
) -> None:
    """16.5: with the store refusing writes at the stop, ``serve`` returns the number of
    events it could not store (the CLI exits non-zero on it), and says so in the log."""
    caplog.set_level(logging.INFO)
    settings = service_settings(tmp_path, flush_interval_s=0.01, final_flush_s=0.3)
    result: list[int] = []

    async def run(task_status: trio.TaskStatus[Service]) -> None:
        result.append(await serve(settings, task_status=task_status))

    async with trio.open_nursery() as nursery:
        service: Service = await nursery.start(run)
        disk = FailingDisk(service.writer.store)
        monkeypatch.setattr(service.writer.store, "write_batch", disk.write_batch)
        disk.full = True
        async with client(service) as ws:
            for frame in frames_of("ann", 40):
                await ws.send(frame)
            await ws.ask(request("ann", "indicators"), 1)
        service.stop()
    assert result == [40]
    [loss] = [r for r in caplog.records if r.msg == "service.stopped_with_loss"]
    assert loss.events_lost == 40


def test_the_command_line_exits_non_zero_on_a_loss_and_logs_the_traceback_on_a_crash(
    monkeypatch, caplog
) -> None:
    """16.5 and 12.1/12.12: ``serve`` reporting lost events makes ``run_serve`` exit 3;
    a crash logs ``service.failed`` with its traceback (before: the message only)."""
    import actors.service  # noqa: PLC0415

    async def lossy(*_: Any, **__: Any) -> int:
        return 7

    async def crashing(*_: Any, **__: Any) -> int:
        raise RuntimeError("boom")

    settings = service_settings(__import__("pathlib").Path("/nonexistent"))
    monkeypatch.setattr(actors.service, "serve", lossy)
    assert run_serve(settings) == EXIT_EVENTS_LOST
    monkeypatch.setattr(actors.service, "serve", crashing)
    caplog.set_level(logging.CRITICAL)
    assert run_serve(settings) == EXIT_STARTUP
    [failed] = [r for r in caplog.records if r.msg == "service.failed"]
    assert failed.exc_info is not None
    assert "boom" in str(failed.exc_info[1])


@pytest.mark.parametrize("grace_s", [0.5])
async def test_the_stop_is_bounded_when_the_store_never_comes_back(
    tmp_path, monkeypatch, grace_s: float
) -> None:
    """16.2: a client still sending into a full buffer that never empties: the stop
    ends after the grace, the router's bound and ``final_flush_s`` (before: still
    running after 20 s), and reports what it lost."""
    settings = service_settings(
        tmp_path, flush_interval_s=0.01, max_buffered_events=20, grace_s=grace_s, final_flush_s=0.3
    )
    result: list[int] = []

    async def run(task_status: trio.TaskStatus[Service]) -> None:
        result.append(await serve(settings, task_status=task_status))

    with trio.fail_after(20):  # a hang guard, not a measurement
        async with trio.open_nursery() as nursery:
            service: Service = await nursery.start(run)
            disk = FailingDisk(service.writer.store)
            monkeypatch.setattr(service.writer.store, "write_batch", disk.write_batch)
            disk.full = True

            async def flood() -> None:
                async with client(service) as ws:
                    try:
                        for frame in frames_of("ann", 100_000):
                            await ws.send(frame)
                    except ConnectionClosed:
                        return

            nursery.start_soon(flood)
            await wait_until(lambda: not service.writer.has_room)
            service.stop()
    assert result
    assert result[0] >= 20
