"""Forgetting a user while the service runs (issue 15, phase 2): memory first, then the store.

On the router and writer without sockets (mock clock, a disk slowed or
failing at will) for each place the user's data can be when the forget
comes: a session and committed rows, a batch being written, a batch the
disk refused and kept, messages waiting for a load; a load that starts
while the erase runs. Then end to end with ``POST /admin/forget/<user>``.
The reference for every reply is counted by hand: ``voltage, speed,
voltage`` is two transitions, a single event none.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from actors.forget import forget_user
from actors.pool import Job
from actors.session import load_session
from analytics.replies import Replier
from messages import encode
from tests.access.jwts import access_settings, person_token
from tests.actors.conftest import connect, event, request, running_service, wait_until
from tests.actors.routing import CATALOG, Rig, delivery, inline, running_router
from tests.actors.test_access_hub import booked
from tests.actors.test_relay import http_call
from tests.actors.writing import Disk, ask, message
from tests.cli.test_rights import rows_of

LOGS = ("voltage", "speed", "voltage")


def rows_about(database, user: str) -> dict[str, int]:
    """Rows naming ``user`` in every table of the store at ``database``."""
    return rows_of(database.parent, user)


async def send_events(rig: Rig, user: str, outbox: Any, logs=LOGS, start: int = 0) -> None:
    for t, log in enumerate(logs, start=start):
        await rig.router.deliver(delivery(message(user, t, log=log), outbox))


def slow_loads(rig: Rig, user: str) -> trio.Event:
    """From now on loads of ``user`` wait until the event returned is set."""
    loading = trio.Event()

    async def slow_read(function: Any, *args: Any, limiter: Any = None) -> Any:
        if function is load_session and args[2] == user:
            await loading.wait()
        return await inline(function, *args)

    rig.router.loader._run_sync = slow_read
    return loading


async def edges_of(rig: Rig, user: str, outbox: Any) -> int:
    """How many transitions a student_graph for ``user`` shows now."""
    await outbox.reserve(1, 1.0)
    await rig.router.deliver(delivery(ask(user), outbox, reserved=1))
    job: Job = await rig.jobs.receive()
    while job.request.user != user:
        job = await rig.jobs.receive()
    [reply] = Replier(CATALOG).answer(job.request, job.snapshot)
    return len(orjson.loads(encode(reply))["edges"])


async def test_a_resident_user_is_erased_and_nothing_comes_back(tmp_path, autojump_clock) -> None:
    async with running_router(tmp_path) as rig:
        lab, other = rig.connection("lab"), rig.connection("other")
        await send_events(rig, "ana", lab)
        await send_events(rig, "bob", other)
        await trio.sleep(0.1)  # committed, snapshots too
        await send_events(rig, "ana", lab, ("speed",), start=3)  # buffered now
        assert rows_about(rig.store.path, "ana")["progress"] == 1
        report = await forget_user(rig.router, rig.writer, "ana")
        assert report.session_dropped
        assert report.erased.total_events + report.buffered_events == 4
        assert report.erased.progress == 1
        assert "ana" not in rig.router.sessions
        await trio.sleep(0.5)  # later flushes, later snapshots
        assert rows_about(rig.store.path, "ana") == {"events": 0, "progress": 0, "imports": 0}
        assert await edges_of(rig, "ana", lab) == 0  # from an empty store
        assert await edges_of(rig, "bob", other) == 2
        assert rig.writer.committed_seq == rig.writer.appended_seq
        assert [row.payload["log"] for row in rig.store.events_of("bob")] == list(LOGS)


@pytest.mark.parametrize("refused", [False, True])
async def test_a_batch_in_flight_is_committed_or_put_back_before_the_erase(
    tmp_path, autojump_clock, refused
) -> None:
    """The forget waits for the write in flight: committed, its rows are erased; refused
    and put back in the buffer, they are dropped there. Either way none survives."""
    async with running_router(tmp_path) as rig:
        disk = Disk(rig.store)
        rig.store.write_batch = disk.write_batch  # type: ignore[method-assign]
        writing = trio.Event()

        async def slow_write(function: Any, *args: Any, limiter: Any = None) -> Any:
            if function == rig.store.write_batch:
                await writing.wait()  # the erase itself is not held up
            return await inline(function, *args)

        rig.writer._run_sync = slow_write
        lab = rig.connection("lab")
        await send_events(rig, "ana", lab)
        await trio.sleep(0.05)  # a write of ana's rows has begun and waits for the disk
        assert rig.writer.buffered == 3
        disk.full = refused
        report = None

        async def forget() -> None:
            nonlocal report
            report = await forget_user(rig.router, rig.writer, "ana")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(forget)
            await trio.sleep(0.5)
            assert report is None  # waits for the write in flight
            writing.set()
        assert report is not None
        erased, dropped = (0, 3) if refused else (3, 0)
        assert (report.erased.total_events, report.buffered_events) == (erased, dropped)
        disk.full = False
        await trio.sleep(6.0)  # past any retry's backoff
        assert rows_about(rig.store.path, "ana")["events"] == 0


async def test_a_batch_the_disk_refused_is_not_put_back_after_the_erase(tmp_path, autojump_clock):
    async with running_router(tmp_path) as rig:
        disk = Disk(rig.store)
        rig.store.write_batch = disk.write_batch  # type: ignore[method-assign]
        disk.full = True
        lab, other = rig.connection("lab"), rig.connection("other")
        await send_events(rig, "ana", lab)
        await send_events(rig, "bob", other)
        await trio.sleep(0.2)
        assert disk.refused  # kept in the buffer for a retry
        report = await forget_user(rig.router, rig.writer, "ana")
        assert (report.erased.total_events, report.buffered_events) == (0, 3)
        assert rig.writer.buffered == 3  # bob's
        disk.full = False
        await trio.sleep(6.0)  # past the retry backoff
        assert rows_about(rig.store.path, "ana") == {"events": 0, "progress": 0, "imports": 0}
        assert len(rig.store.events_of("bob")) == 3


async def test_messages_waiting_for_a_load_are_dropped_and_the_load_discarded(
    tmp_path, autojump_clock
) -> None:
    async with running_router(tmp_path) as rig:
        lab = rig.connection("lab")
        await send_events(rig, "ana", lab)
        await trio.sleep(0.1)
        rig.router.residents.evict("ana", rig.router.sessions["ana"])  # cold: loaded next time
        resident_bytes = rig.router.residents.bytes
        loading = slow_loads(rig, "ana")
        await send_events(rig, "ana", lab, ("speed", "current"), start=3)  # held: ana loads
        await lab.reserve(1, 1.0)
        await rig.router.deliver(delivery(ask("ana"), lab, reserved=1))
        assert lab.reserved == 1
        report = await forget_user(rig.router, rig.writer, "ana")
        assert report.session_dropped
        assert (report.erased.total_events, report.buffered_events) == (3, 2)
        assert lab.reserved == 0  # the held request's room is given back, unanswered
        assert rig.router.held_bytes == 0
        loading.set()  # the load of before the forget comes back: discarded
        await trio.sleep(0.1)
        assert "ana" not in rig.router.sessions
        assert rig.router.residents.bytes == resident_bytes
        assert rows_about(rig.store.path, "ana")["events"] == 0
        await send_events(rig, "ana", lab, ("voltage",), start=10)  # new data: kept
        assert await edges_of(rig, "ana", lab) == 0
        await trio.sleep(0.1)
        assert [row.t for row in rig.store.events_of("ana")] == [10]


async def test_a_load_that_starts_during_the_erase_reads_after_it(tmp_path, autojump_clock):
    async with running_router(tmp_path) as rig:
        lab = rig.connection("lab")
        await send_events(rig, "ana", lab)
        await trio.sleep(0.1)
        erasing = trio.Event()
        reads: list[str] = []

        async def slow_erase(function: Any, *args: Any, limiter: Any = None) -> Any:
            if function == rig.store.run_writing:
                await erasing.wait()
            return await inline(function, *args)

        async def reading(function: Any, *args: Any, limiter: Any = None) -> Any:
            if function is load_session:
                reads.append(args[2])
            return await inline(function, *args)

        rig.writer._run_sync = slow_erase
        rig.router.loader._run_sync = reading
        async with trio.open_nursery() as nursery:
            nursery.start_soon(forget_user, rig.router, rig.writer, "ana")
            await trio.testing.wait_all_tasks_blocked()
            await send_events(rig, "ana", lab, ("speed",), start=5)  # new: loads ana again
            await trio.sleep(0.5)
            assert reads == []  # the load waits for the erase
            erasing.set()
        assert await edges_of(rig, "ana", lab) == 0  # only the new "speed"
        assert reads == ["ana"]


async def test_forget_over_http_while_the_user_is_active(tmp_path) -> None:
    settings = access_settings(tmp_path)
    admin = {"Authorization": "Bearer " + person_token("root", role="admin")}
    async with (
        running_service(settings) as service,
        connect(await booked(service)) as ana,
        connect(await booked(service)) as bob,
    ):
        for t, log in enumerate(LOGS):
            await ana.send(event("ana", log, t))
            await bob.send(event("bob", log, t))
        [bob_before] = await bob.ask(request("bob", "student_graph", id=1), 1)
        [ana_before] = await ana.ask(request("ana", "student_graph", id=1), 1)
        status, _, body = await trio.to_thread.run_sync(
            http_call, service.http_port, "POST", "/admin/forget/ana", admin
        )
        assert status == 200, body
        report = json.loads(body)
        assert report["user"] == "ana"
        assert report["events"] + report["buffered_events_dropped"] == 3
        assert report["session_dropped"] is True
        database = service.writer.store.path
        assert rows_about(database, "ana") == {"events": 0, "progress": 0, "imports": 0}
        [bob_after] = await bob.ask(request("bob", "student_graph", id=2), 1)
        [ana_after] = await ana.ask(request("ana", "student_graph", id=2), 1)
        await ana.send(event("ana", "current", 9))  # still active: new data
        await wait_until(lambda: service.writer.committed_seq == service.writer.appended_seq)
    assert len(ana_before["edges"]) == 2
    assert ana_after["edges"] == []
    assert {**bob_after, "id": 1} == bob_before
    assert "ana" not in json.dumps([bob_before, bob_after])
    # After the stop's final flush: only what came after the forget.
    assert rows_about(database, "ana")["events"] == 1
