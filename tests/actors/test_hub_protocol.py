"""PROTOCOL.md over a real WebSocket to a real running service."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from store import SqliteStore
from tests.actors.conftest import client, event, request, running_service, service_settings
from tests.analytics.test_golden import close
from tests.conftest import golden

SESSIONS = golden("wire_sessions")


def stored_events(data) -> int:
    """Events on disk, read by a fresh connection after the service stopped."""
    with SqliteStore(data) as store:
        return store.count_events()


async def play(service, session: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Send a scripted student's frames, then each request; return the replies."""
    answers = []
    async with client(service, f"/{session['id']}") as ws:
        for frame in session["frames"]:
            await ws.send(frame)
        for number, scripted in enumerate(session["requests"]):
            frame = request(
                session["user"],
                exp=session["exp"],
                course=session["course"],
                id=number,
                **scripted["payload"],
            )
            answers.append(await ws.ask(frame, len(scripted["expected"])))
    return answers


def assert_matches(session: dict[str, Any], answers: list[list[dict[str, Any]]]) -> None:
    for number, (scripted, replies) in enumerate(zip(session["requests"], answers, strict=True)):
        for reply, expected in zip(replies, scripted["expected"], strict=True):
            assert reply["type"] == "response", reply
            assert (reply["user"], reply["id"]) == (session["user"], number)
            for key, value in expected.items():
                assert close(reply[key], value), f"{session['id']} {expected['content']} {key}"


async def test_every_scripted_student_before_and_after_a_restart(tmp_path) -> None:
    settings = service_settings(tmp_path)
    async with running_service(settings) as service:
        for session in SESSIONS:
            assert_matches(session, await play(service, session))
    # A new service on the same data: no frames this time, the answers come from disk.
    async with running_service(settings) as service:
        for session in SESSIONS:
            assert_matches(session, await play(service, {**session, "frames": []}))


async def test_the_dashboards_own_log_frames_are_stored_but_never_counted(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        await ws.send(event("u1", "voltage", 1))
        for t, log in enumerate(["voltage", "speed", "position"], start=2):
            await ws.send({**event("u1", log, t), "type": "log"})
        await ws.send(event("u1", "speed", 9))
        [graph] = await ws.ask(request("u1", "student_graph"), 1)
        assert [(e["from"], e["to"]) for e in graph["edges"]] == [("voltage_step", "speed_step")]
    assert stored_events(tmp_path) == 5


@pytest.mark.parametrize(
    ("frame", "code", "user"),
    [
        ("{not json", "bad_json", None),
        ("[1, 2]", "invalid_message", None),
        (
            '{"user": "u1", "type": "nope", "exp": "spinner", "course": "cie3"}',
            "invalid_message",
            "u1",
        ),
        (
            '{"user": "u1", "t": "soon", "type": "analytics", "exp": "spinner", "course": "cie3",'
            ' "payload": {"log": "voltage"}}',
            "invalid_message",
            "u1",
        ),
        (
            '{"user": "u1", "t": 1, "type": "analytics", "exp": "../../etc", "course": "cie3",'
            ' "payload": {"log": "voltage"}}',
            "invalid_message",
            "u1",
        ),
        (
            '{"user": "", "t": 1, "type": "analytics", "exp": "spinner", "course": "cie3",'
            ' "payload": {"log": "voltage"}}',
            "invalid_message",
            None,
        ),
    ],
)
async def test_a_bad_frame_gets_an_error_reply_and_the_connection_stays_open(
    tmp_path, frame: str, code: str, user: str | None
) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        [error] = await ws.ask(frame, 1)
        assert error["type"] == "error"
        assert error["error"]["code"] == code
        assert error["error"]["message"]
        assert error.get("user") == user
        [reply] = await ws.ask(request("u2", "indicators", id="after"), 1)
        assert (reply["content"], reply["id"]) == ("indicators", "after")
    assert stored_events(tmp_path) == 0  # nothing stored for a refused frame


async def test_unknown_course_and_graph_are_answered_with_errors(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        await ws.send(event("u1", "voltage", 1, course=""))
        [error] = await ws.ask(request("u1", "indicators", course="", id=5), 1)
        assert (error["error"]["code"], error["id"], error["user"]) == ("unknown_course", 5, "u1")
        replies = await ws.ask(request("u1", "all_feedback", graph="spinner-cie3-zzz", id=6), 5)
        assert [r["type"] for r in replies] == [
            "response",
            "error",
            "response",
            "response",
            "response",
        ]
        assert replies[1]["error"]["code"] == "unknown_graph"
    # The event of the unknown course was stored all the same: nothing a UI sends is lost.
    assert stored_events(tmp_path) == 1


async def test_a_frame_over_64_KiB_closes_with_1009(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        big = event("u1", "voltage", 1, padding="x" * (64 * 1024))
        await ws.send(big)
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
            await ws.ws.get_message()
        assert closed.value.reason.code == 1009
    assert stored_events(tmp_path) == 0


async def test_a_binary_frame_closes_with_1003(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ws:
        await ws.ws.send_message(b'{"user": "u1"}')
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
            await ws.ws.get_message()
        assert closed.value.reason.code == 1003


async def test_the_path_names_the_hardware_when_a_frame_has_none(tmp_path) -> None:
    settings = service_settings(tmp_path)
    async with running_service(settings) as service, client(service, "/spin42") as ws:
        await ws.send(event("u1", "voltage", 1))
        await ws.send(event("u1", "voltage", 2, hardware="spin07"))
        await ws.ask(request("u1", "indicators"), 1)
    with SqliteStore(tmp_path) as store:
        stored = store.events_of("u1")
    assert [row.hardware for row in stored] == ["spin42", "spin07"]
