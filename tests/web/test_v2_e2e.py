"""The v2 API end to end: statements POSTed to ``lh``, every panel read from ``th``.

Over real sockets against a running service (keep-alive clients, as a
browser), with the golden ``v2_sessions.jsonl`` students: their statements
in their arrival order (overtaking included), then the five reads, whose
replies must equal the reference's. Then a restart: the same replies from
disk. A v1 user of the same course is served beside them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from store import SqliteStore
from tests.actors.conftest import client, event, request, running_service, service_settings
from tests.analytics.test_golden import close
from tests.analytics.test_v2_golden import ENDPOINTS, edges_by_id
from tests.conftest import golden
from tests.web.test_http_e2e import raw_exchange

LH = "/analytics/logging/api/v1"
TH = "/analytics/taskcompare/api/v1"
SESSIONS = golden("v2_sessions")


def who(session: dict[str, Any]) -> str:
    # Not URL-encoded, as the clients send it.
    return (
        f"username={session['username']}&course={session['course']}&hardware={session['hardware']}"
    )


async def post_all(http: httpx.AsyncClient, session: dict[str, Any]) -> None:
    for statement in session["statements"]:
        reply = await http.post(f"{LH}/addLog?{who(session)}", content=json.dumps(statement))
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"stored": True}


async def read_all(http: httpx.AsyncClient, session: dict[str, Any]) -> dict[str, Any]:
    replies = {}
    for endpoint in ENDPOINTS:
        reply = await http.get(f"{TH}/{endpoint}?{who(session)}")
        assert reply.status_code == 200, reply.text
        assert reply.headers["access-control-allow-origin"] == "*"
        replies[endpoint] = reply.json()
    return replies


def assert_reference(actual: dict[str, Any], session: dict[str, Any]) -> None:
    expected = session["expected"]
    graph, want = actual["studentGraph"], expected["studentGraph"]
    assert close(edges_by_id(graph), edges_by_id(want)), session["name"]
    assert graph["ordered_actions"] == want["ordered_actions"], session["name"]
    assert close(graph["node_info"], want["node_info"])
    for endpoint in ENDPOINTS[1:]:
        assert close(actual[endpoint], expected[endpoint]), (session["name"], endpoint)


def settings_for(data):
    return service_settings(data, http_listen="127.0.0.1:0", flush_interval_s=0.01)


async def test_a_v2_dashboard_gets_every_panel_right_before_and_after_a_restart(tmp_path):
    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            async with trio.open_nursery() as students:  # each in order, all at once
                for session in SESSIONS:
                    students.start_soon(post_all, http, session)
            for session in SESSIONS:
                assert_reference(await read_all(http, session), session)
    with SqliteStore(tmp_path) as store:
        assert store.count_events() == sum(len(s["statements"]) for s in SESSIONS)
    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for session in SESSIONS:
                assert_reference(await read_all(http, session), session)


async def test_v1_and_v2_users_of_one_course_side_by_side_and_after_a_restart(tmp_path):
    session = SESSIONS[0]
    assert (session["hardware"], session["course"]) == ("spinner", "ed1")

    async def both(service) -> tuple[dict, dict]:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http, client(service) as dashboard:
            v2 = await read_all(http, session)
            v1 = await dashboard.ask(request("v1-user", "student_graph", course="engdes1"), 1)
        return v2, v1[0]

    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http, client(service) as ui:
            for t, log in enumerate(["voltage", "speed", "voltage"]):
                await ui.send(event("v1-user", log, t, course="engdes1"))
            await post_all(http, session)
        before_v2, before_v1 = await both(service)
    assert_reference(before_v2, session)
    assert {(e["from"], e["to"]) for e in before_v1["edges"]} == {
        ("voltage_step", "speed_step"),
        ("speed_step", "voltage_step"),
    }
    async with running_service(settings_for(tmp_path)) as service:
        after_v2, after_v1 = await both(service)
    assert after_v2 == before_v2
    assert after_v1 == before_v1


async def test_feedback_round_trip_and_the_no_actions_object(tmp_path):
    query = "username=ana&course=ed1&hardware=spinner"
    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            empty = (await http.get(f"{TH}/taskCompletion?{query}")).json()
            assert empty == {"task_dissimilarity": {}, "task_completion": {}, "task_decision": {}}
            for body in [
                {"user_difficulty": {"spinner-ed1-1-core": 4, "spinner-ed1-2": 2}},
                {"user_difficulty": {"spinner-ed1-1-core": "NA", "spinner-ed1-2": 3}},
                {"user_completion": {"spinner-ed1-2": True}},
                {"affective_state": {"state": "Curious", "subject": "Hardware"}},
            ]:
                reply = await http.post(
                    f"{TH}/submitUserFeedback?{query}",
                    content=json.dumps(body),
                    headers={"Authorization": "", "Content-Type": "application/json"},
                )
                assert reply.status_code == 200, reply.text
            got = (await http.get(f"{TH}/getUserFeedback?{query}")).json()
            assert got == {
                "feedback": {
                    "difficulty": {"spinner-ed1-2": 3},
                    "completion": {"spinner-ed1-2": True},
                }
            }
            # An affective state joins the one tally v1's enjoyment reads (same key).
            reply = await http.post(
                f"{TH}/submitUserFeedback?username=ana&course=engdes1&hardware=spinner",
                content=json.dumps({"affective_state": {"state": "Curious", "subject": "UI"}}),
            )
            assert reply.status_code == 200
        async with client(service) as dashboard:
            (indicators,) = await dashboard.ask(request("ana", "indicators", course="engdes1"), 1)
    assert indicators["indicators"]["enjoyment"] == 1


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"{TH}/studentGraph?username=ana&course=ed9&hardware=spinner", 404, "unknown_course"),
        (f"{TH}/comparisonGraph?taskcode=spinner-ed1-9&username=ana&course=ed1&hardware=spinner",
         404, "unknown_graph"),
        (f"{TH}/studentGraph?course=ed1&hardware=spinner", 400, "invalid_message"),
    ],
)  # fmt: skip
async def test_unknown_things_are_errors_with_an_error_object(tmp_path, path, status, code):
    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            reply = await http.get(path)
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


async def test_hostile_bodies_are_refused_and_the_service_keeps_answering(tmp_path):
    query = "username=ana&course=ed1&hardware=spinner"
    good = SESSIONS[0]["statements"][1]
    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for body, status in [
                (b"not json", 400),
                (b"[1, 2]", 400),
                (b"{" + b'"a":[' * 10_000 + b"]" * 10_000 + b"}", 400),
                (json.dumps({**good, "timestamp": "yesterday"}).encode(), 400),
                (json.dumps({**good, "verb": 7}).encode(), 400),
            ]:
                reply = await http.post(f"{LH}/addLog?{query}", content=body)
                assert reply.status_code == status, body[:40]
                assert "error" in reply.json()
            # 1 MB: refused from its header alone, before a byte of it is read
            # (sent raw: the server closes at once, and httpx would warn about
            # the body it could not finish sending).
            head = (
                f"POST {LH}/addLog?{query} HTTP/1.1\r\nHost: t\r\n"
                f"Content-Length: 1000000\r\nContent-Type: application/json\r\n\r\n"
            )
            answer = await raw_exchange(service.http_port, head.encode())
            assert answer.startswith(b"HTTP/1.1 413")
            reply = await http.post(f"{LH}/addLog?{query}", content=json.dumps(good))
            assert reply.status_code == 200
    with SqliteStore(tmp_path) as store:
        assert len(store.events_of("ana")) == 1


async def test_the_null_user_is_stored_and_never_given_a_graph(tmp_path):
    query = "username=null&course=ed1&hardware=spinner"
    statements = SESSIONS[0]["statements"][:6]
    async with running_service(settings_for(tmp_path)) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for statement in statements:
                reply = await http.post(f"{LH}/addLog?{query}", content=json.dumps(statement))
                assert reply.status_code == 200
            graph = (await http.get(f"{TH}/studentGraph?{query}")).json()
    assert graph["edges"] == []
    assert graph["ordered_actions"] == []
    with SqliteStore(tmp_path) as store:
        assert len(store.events_of("null")) == len(statements)
