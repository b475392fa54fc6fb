"""The booking system's flow over real sockets, against a running service with access control on.

POST the stream token to ``/session/<stream>``, open the ``uri`` of the
answer, send events and ask for replies. Phase 1: the hub does not redeem
the code yet (the connection limits work owns the hub); phase 2 adds the
refusals of an upgrade without a valid code here.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import trio

from tests.access.jwts import access_settings, booking_token
from tests.actors.conftest import connect, event, request, running_service
from tests.actors.test_relay import http_call


async def test_post_the_token_open_the_uri_get_replies(tmp_path) -> None:
    public = "http://127.0.0.1:1"  # the aud; the hub's real port is only known once it listens
    settings = access_settings(tmp_path, public_url=public)
    async with running_service(settings) as service:
        assert service.access is not None
        status, _, body = await trio.to_thread.run_sync(
            http_call,
            service.http_port,
            "POST",
            "/session/spin30-log",
            {"Authorization": booking_token(aud=public), "Origin": "https://dashboard.example"},
        )
        assert status == 200
        uri = urlsplit(json.loads(body)["uri"])
        assert (uri.scheme, uri.path) == ("ws", "/spin30-log")
        assert uri.query.startswith("code=")
        refused, _, refusal = await trio.to_thread.run_sync(
            http_call,
            service.http_port,
            "POST",
            "/session/spin30-log",
            {"Authorization": booking_token(aud=public, topic="spin31-log")},
        )
        assert refused == 401
        assert json.loads(refusal)["error"]["code"] == "forbidden"
        # The URI's host is the configured public URL's; the test's hub is on its own port.
        async with connect(f"ws://127.0.0.1:{service.hub_port}{uri.path}?{uri.query}") as ws:
            for t, log in enumerate(["voltage", "speed", "voltage"]):
                await ws.send(event("ana", log, t))
            [reply] = await ws.ask(request("ana", "indicators", id=7), 1)
    assert reply["id"] == 7
    assert reply["content"] == "indicators"
