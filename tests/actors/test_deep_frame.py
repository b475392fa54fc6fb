"""One frame nested deeper than the store can write used to stop the service (issue 12, 1).

Over a real socket: the sender gets an ``invalid_message`` error reply and
keeps its connection; the service keeps serving; the other users' events of
the same commit window are stored; the deep frame is not.
"""

from __future__ import annotations

from store import SqliteStore
from tests.actors.conftest import client, event, request, running_service, service_settings


def deep_event(user: str, levels: int) -> str:
    data = "[" * levels + "1" + "]" * levels
    return (
        f'{{"user":"{user}","t":5,"type":"analytics","exp":"spinner","course":"cie3",'
        f'"payload":{{"log":"voltage","data":{data}}}}}'
    )


async def test_a_deep_frame_is_refused_and_nothing_else_is_lost(tmp_path) -> None:
    settings = service_settings(tmp_path, flush_interval_s=0.5)  # one window for everything
    async with (
        running_service(settings) as service,
        client(service) as hostile,
        client(service) as student,
    ):
        for t, log in enumerate(["voltage", "speed", "position"]):
            await student.send(event("student", log, t))
        (reply,) = await hostile.ask(deep_event("hostile", 300), 1)
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "invalid_message"
        assert reply["user"] == "hostile"
        await student.send(event("student", "voltage", 4))
        (indicators,) = await student.ask(request("student", "indicators"), 1)
        assert indicators["indicators"]["edges"] > 0
        (still_open,) = await hostile.ask(request("hostile", "indicators", id=2), 1)
        assert still_open["id"] == 2
    with SqliteStore(tmp_path) as store:
        assert [e.payload["log"] for e in store.events_of("student")] == [
            "voltage",
            "speed",
            "position",
            "voltage",
        ]
        assert store.events_of("hostile") == []
