"""Forgetting a v2 user while the service runs: their statements, their v2 state, their waits.

A v2 statement or read travels the router like a v1 frame (``actors.v2backend``),
so a forget must also settle the HTTP requests waiting in the user's line (a
``503``, nothing kept) and must not leave one waiting for a sequence number
that was dropped unwritten. Then end to end over HTTP with the golden v2
students: after the forget the user's panels are those of a user with nothing
(the empty replies, as ``tests/web/test_v2_e2e.py`` pins them), the other
student's panels still equal the reference, and no row names the user.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from actors.asks import HttpClient, Receipt, V2Read
from actors.forget import forget_user
from actors.lines import Delivery
from actors.router import FORGOTTEN
from actors.writer import StoreWriter
from messages import StatementEvent, decode_statement
from store import SqliteStore
from tests.access.jwts import access_settings, person_token
from tests.actors.conftest import running_service
from tests.actors.routing import inline, running_router
from tests.actors.test_access_forget import rows_about, slow_loads
from tests.actors.test_relay import http_call
from tests.actors.writing import row_of
from tests.cli.test_rights import rows_of
from tests.web.test_v2_e2e import LH, SESSIONS, assert_reference, read_all, who

EMPTY_COMPLETION = {"task_dissimilarity": {}, "task_completion": {}, "task_decision": {}}


def statement_of(user: str, index: int = 0) -> StatementEvent:
    """The golden student's ``index``-th statement, as ``user``'s (ed1, spinner)."""
    statement = decode_statement(json.dumps(SESSIONS[0]["statements"][index]).encode())
    return StatementEvent(user, "spinner", "ed1", statement, statement.kit)


def http_delivery(message: Any) -> tuple[Delivery, Receipt]:
    receipt = Receipt()
    hardware = getattr(message, "hardware", None)
    return (
        Delivery(message, HttpClient(), 0, trio.current_time(), hardware=hardware, receipt=receipt),
        receipt,
    )


async def test_http_requests_waiting_in_the_line_fail_and_nothing_is_kept(
    tmp_path, autojump_clock
) -> None:
    async with running_router(tmp_path) as rig:
        loading = slow_loads(rig, "ana")
        written, write_receipt = http_delivery(statement_of("ana"))
        read, read_receipt = http_delivery(V2Read("ana", "spinner", "ed1"))
        await rig.router.deliver(written)  # ana loads: both wait in her line
        await rig.router.deliver(read)
        assert not write_receipt.done.is_set()
        report = await forget_user(rig.router, rig.writer, "ana")
        assert report.buffered_events == 1  # the statement, dropped unwritten
        assert write_receipt.done.is_set()
        assert read_receipt.done.is_set()
        assert (write_receipt.seq, write_receipt.failure) == (None, FORGOTTEN)
        assert (read_receipt.snapshot, read_receipt.failure) == (None, FORGOTTEN)
        assert rig.router.held_bytes == 0
        loading.set()
        await trio.sleep(0.5)
        assert rows_about(rig.store.path, "ana")["events"] == 0
        assert rig.writer.appended_seq == 0  # never given a number


async def test_a_dropped_last_event_counts_as_committed_with_the_next_write(
    tmp_path, autojump_clock
) -> None:
    """bob's event is buffered before ana's: once ana's is dropped, the write of bob's
    commits every number given out, so an HTTP task waiting for ana's number (a v2
    statement's ``wait_committed``) is answered then, not when a later event comes."""
    with SqliteStore(tmp_path) as store:
        writer = StoreWriter(
            store,
            flush_interval_s=1.0,
            snapshot_interval_s=1.0,
            max_buffered_events=100,
            run_sync=inline,
        )
        answered: list[float] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            bob = writer.append(row_of("bob"))
            ana = writer.append(row_of("ana"))

            async def http_task() -> None:
                await writer.wait_committed(ana)
                answered.append(trio.current_time())

            nursery.start_soon(http_task)
            async with writer.exclusive():
                assert writer.drop_user("ana") == 1
            assert writer.committed_seq == 0  # bob's is still to be written
            await trio.sleep(1.5)  # one flush interval: bob's row goes
            assert answered == [1.0]
            assert writer.committed_seq == ana
            writer.stop()
        assert [row.seq for row in store.events_of("bob")] == [bob]
        assert store.events_of("ana") == []


async def test_a_v2_student_forgotten_over_http_reads_as_nobody(tmp_path) -> None:
    ana, bob = SESSIONS[0], SESSIONS[2]  # two spinner students of ed1
    admin = {"Authorization": "Bearer " + person_token("root", role="admin")}
    async with running_service(access_settings(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for session in (ana, bob):
                token = {"Authorization": "Bearer " + person_token(session["username"])}
                for statement in session["statements"]:
                    reply = await http.post(
                        f"{LH}/addLog?{who(session)}", content=json.dumps(statement), headers=token
                    )
                    assert reply.status_code == 200, reply.text
            ana_before = await read_all(http, ana)
            status, _, body = await trio.to_thread.run_sync(
                http_call, service.http_port, "POST", f"/admin/forget/{ana['username']}", admin
            )
            assert status == 200, body
            report = json.loads(body)
            ana_after = await read_all(http, ana)
            bob_after = await read_all(http, bob)
        database = service.writer.store.path
    assert_reference(ana_before, ana)  # she was there, as the reference says
    assert report["events"] + report["buffered_events_dropped"] == len(ana["statements"])
    assert report["session_dropped"] is True
    assert ana_after["studentGraph"]["edges"] == []
    assert ana_after["studentGraph"]["ordered_actions"] == []
    assert ana_after["taskCompletion"] == EMPTY_COMPLETION
    assert_reference(bob_after, bob)
    assert rows_of(database.parent, ana["username"]) == {"events": 0, "progress": 0, "imports": 0}
    assert rows_of(database.parent, bob["username"])["events"] == len(bob["statements"])
