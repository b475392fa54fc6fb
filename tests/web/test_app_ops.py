"""The ops routes and the edge of the HTTP app, in memory (no socket)."""

from __future__ import annotations

import logging

import pytest
from starlette.responses import Response
from starlette.routing import Route

from tests.web.conftest import UI_HASH, FakeOps, FakeStream, asgi_client, make_app, web_settings
from web.edge import Edge

PREFLIGHT = {
    "Origin": "https://dashboard.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


async def test_health_readiness_and_metrics() -> None:
    ops = FakeOps(relays=[FakeStream("ws://relay/spin30")])
    async with asgi_client(make_app(ops=ops)) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        ops.store_problem = "disk I/O error"
        ops.relays[0] = FakeStream("ws://relay/spin30", False, 3, False, "refused")
        not_ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert (health.status_code, health.json()) == (200, {"alive": True})
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "problems": [],
        "relays": [{"url": "ws://relay/spin30", "connected": True, "failures": 0}],
    }
    assert not_ready.status_code == 503
    assert not_ready.json()["problems"] == [
        "store: disk I/O error",
        "relay ws://relay/spin30: refused",
    ]
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    assert metrics.text == "la_active_sessions 0.0\n"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"public_url": "https://la.example.org"}, "wss://la.example.org/spin30"),
        ({"public_url": "http://lab.example.org:8080/analytics/"}, "ws://lab.example.org:8080/analytics/spin30"),
        ({"public_ws_url": "wss://old.example.org/ws"}, "wss://old.example.org/ws/spin30"),
        (
            {"public_url": "https://new.example.org", "public_ws_url": "wss://old.example.org"},
            "wss://new.example.org/spin30",
        ),
        ({}, "ws://127.0.0.1:8123/spin30"),
        ({"listen": "0.0.0.0:8000"}, "ws://127.0.0.1:8123/spin30"),
        ({"listen": "[::1]:8000"}, "ws://[::1]:8123/spin30"),
        ({"listen": "10.1.2.3:8000"}, "ws://10.1.2.3:8123/spin30"),
    ],
)  # fmt: skip
async def test_the_access_handshake_never_takes_the_host_header(overrides, expected) -> None:
    app = make_app(web_settings(**overrides), FakeOps(hub_port=8123))
    async with asgi_client(app) as http:
        for host in ("evil.example.com/x?y=", "evil.example.com:1", "127.0.0.1:9000"):
            reply = await http.post("/session/spin30", headers={"Host": host})
            assert reply.status_code == 200
            assert reply.json() == {"uri": expected}
            assert "evil" not in reply.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/session/..", 404),
        ("POST", "/session/-x", 404),
        ("POST", "/session/spin30/", 404),
        ("POST", "/session/", 404),
        ("GET", "/session/spin30", 405),
        ("GET", "/nope", 404),
        ("POST", "/healthz", 405),
    ],
)
async def test_refusals_are_json_error_objects_with_cors(method, path, status) -> None:
    async with asgi_client(make_app()) as http:
        reply = await http.request(method, path, headers={"Origin": "https://a.example"})
    assert reply.status_code == status
    assert set(reply.json()["error"]) == {"code", "message"}
    assert reply.json()["error"]["code"] == "invalid_message"
    assert reply.headers["access-control-allow-origin"] == "*"
    if status == 405:
        assert "POST" in reply.headers["allow"] or "GET" in reply.headers["allow"]


async def test_no_hub_means_503_not_a_made_up_uri() -> None:
    async with asgi_client(make_app(ops=FakeOps(hub_port=None))) as http:
        reply = await http.post("/session/spin30")
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "internal_error"


@pytest.mark.parametrize(
    "path",
    ["/session/spin30", "/analytics/taskcompare/api/v1/submitUserFeedback", "/anything"],
)
async def test_every_options_is_a_preflight_answered_204(path) -> None:
    async with asgi_client(make_app()) as http:
        reply = await http.options(path, headers=PREFLIGHT)
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert reply.headers["access-control-allow-headers"] == "authorization, content-type"
    assert reply.content == b""


async def test_every_reply_carries_the_origin_header_even_without_origin() -> None:
    async with asgi_client(make_app()) as http:
        replies = [await http.get("/healthz"), await http.get("/nope"), await http.post("/x")]
    assert [r.headers.get("access-control-allow-origin") for r in replies] == ["*"] * 3


async def test_a_list_of_origins_echoes_only_an_allowed_one() -> None:
    allowed = ("https://dashboard.example", "http://localhost:5173")
    async with asgi_client(make_app(web_settings(allowed_origins=allowed))) as http:
        good = await http.get("/healthz", headers={"Origin": "http://localhost:5173"})
        bad = await http.get("/healthz", headers={"Origin": "https://evil.example"})
        none = await http.get("/healthz")
        preflight = await http.options("/x", headers=PREFLIGHT)
    assert good.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-origin" not in bad.headers
    assert "access-control-allow-origin" not in none.headers
    assert preflight.headers["access-control-allow-origin"] == "https://dashboard.example"
    assert all(r.headers["vary"] == "origin" for r in (good, bad, none, preflight))


async def test_a_handler_that_raises_gets_a_json_500_with_cors_and_a_logged_traceback(
    caplog,
) -> None:
    async def broken(_) -> Response:
        raise ZeroDivisionError

    async def half(_) -> Response:
        return Response(b"fine")

    from starlette.applications import Starlette  # noqa: PLC0415

    from web.app import EXCEPTION_HANDLERS  # noqa: PLC0415

    inner = Starlette(
        routes=[Route("/broken", broken), Route("/fine", half)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    caplog.set_level(logging.INFO)
    async with asgi_client(Edge(inner, ("*",))) as http:
        reply = await http.get("/broken")
        after = await http.get("/fine")
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal_error"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert after.status_code == 200  # one request's failure is that request's
    [record] = [r for r in caplog.records if r.getMessage() == "http.handler_failed"]
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


@pytest.mark.parametrize(
    ("overrides", "warnings"),
    [
        ({}, set()),
        ({"http_listen": "0.0.0.0:9000"}, {"http.addlog_open"}),
        ({"http_listen": "0.0.0.0:9000", "ui_credential_hash": UI_HASH}, set()),
        ({"listen": "0.0.0.0:8000"}, {"http.public_url_unset"}),
        ({"listen": "0.0.0.0:8000", "public_url": "https://la.example.org"}, set()),
        ({"public_ws_url": "wss://old.example.org"}, {"settings.deprecated"}),
    ],
)
def test_start_up_warns_about_open_doors_and_old_settings(overrides, warnings, caplog) -> None:
    caplog.set_level(logging.INFO)
    make_app(web_settings(**overrides))
    assert {r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING} == warnings
