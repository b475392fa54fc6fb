"""Relay mode with ``--answer-on-hub-only`` (issue 15, phase 2): relay streams carry events in.

A relay shows every frame to everyone on the stream, our replies included.
With the option, requests on a relay stream are not answered (nor are
malformed ones), events are stored as before, and the same user's analytics
are answered on the hub, to the connection that asked only.
"""

from __future__ import annotations

import logging

import trio

from tests.actors.conftest import connect, event, request, running_service, service_settings
from tests.actors.test_relay import FAST_BACKOFF, receive_until, start_relay, wait_until


async def test_requests_on_a_relay_stream_are_answered_on_the_hub_only(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        _, port, relay_scope = await start_relay(nursery)
        url = f"ws://127.0.0.1:{port}/spin30"
        settings = service_settings(
            tmp_path, connect=(url,), answer_on_hub_only=True, **FAST_BACKOFF
        )
        async with running_service(settings) as service:
            await wait_until(lambda: all(s.connected for s in service.relays))
            async with connect(url) as ui, connect(url) as dashboard:
                for t, log in enumerate(["voltage", "speed", "voltage"]):
                    await ui.send(event("u1", log, t))
                await dashboard.send(request("u1", "indicators", id="d1"))
                await dashboard.send({"type": "request", "user": "u1", "id": "bad"})
                await wait_until(
                    lambda: any(
                        r.getMessage() == "relay.request_not_answered" for r in caplog.records
                    )
                )
                await wait_until(lambda: service.writer.committed_seq == 3)
                await ui.send(event("u1", "position", 9))  # a mark: what came before is by
                seen = await receive_until(dashboard, lambda f: f.get("t") == 9)
            async with connect(f"ws://127.0.0.1:{service.hub_port}/spin30") as hub_client:
                [graph] = await hub_client.ask(request("u1", "student_graph", id="h1"), 1)
        relay_scope.cancel()
    assert [frame.get("type") for frame in seen] == ["analytics"] * 4  # the UI's events only
    assert graph["type"] == "response"
    assert len(graph["edges"]) == 3  # voltage -> speed -> voltage -> position
