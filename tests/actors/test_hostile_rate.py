"""A request rate per connection (issue 12, finding 10): a looping client slows itself only.

Four dashboards looping ``all_feedback`` once took the others' p99 from 1.1
to 11 ms. Each hub connection now has a token bucket counted in replies
(``all_feedback`` is five): past it a request is answered ``overloaded`` at
once and never reaches the analytics pool, while other connections keep their
own budget. Time is trio's ``autojump_clock`` (or a bucket that does not
refill within the test), never the wall clock.
"""

from __future__ import annotations

import json
import logging

import pytest
import trio
from wsproto.events import TextMessage

from actors.hub import HubLimits
from actors.limits import Throttle, TokenBucket
from store import SqliteStore
from tests.actors.conftest import client, event, request, running_service, service_settings
from tests.actors.hostile import WsClient, running_hub, ws_client

LIMITS = HubLimits(max_connections=10, reply_rate_per_s=10.0, reply_burst=20)


def all_feedback(user: str, number: int) -> str:
    frame = request(user, "all_feedback", id=number, graph="spinner-cie3-3")
    return json.dumps(frame)


async def replies(client: WsClient, count: int) -> list[dict]:
    got = []
    with trio.fail_after(5):
        while len(got) < count:
            event = await client.next_event()
            assert isinstance(event, TextMessage)
            got.append(json.loads(event.data))
    return got


def test_the_bucket_starts_full_refills_at_its_rate_and_saves_at_most_its_burst() -> None:
    bucket = TokenBucket(rate_per_s=20.0, burst=20, now=0.0)
    assert [bucket.take(5, 0.0) for _ in range(5)] == [True, True, True, True, False]
    assert not bucket.take(5, 0.2)  # 4 tokens back
    assert bucket.wait_s(5, 0.2) == pytest.approx(0.05)
    assert bucket.take(5, 0.25)  # 5
    assert bucket.wait_s(5, 0.25) == pytest.approx(0.25)
    assert bucket.wait_s(5, 10.0) == 0
    assert [bucket.take(5, 1000.0) for _ in range(5)] == [True, True, True, True, False]
    assert not bucket.take(1, 1000.0)
    assert bucket.take(1, 999.0) is False  # time never runs backwards into tokens


def test_the_throttle_says_the_first_at_once_then_once_per_interval() -> None:
    throttle = Throttle(10.0)
    assert throttle.note(0.0) == 1
    assert [throttle.note(t) for t in (1.0, 2.0, 9.9)] == [0, 0, 0]
    assert throttle.due(9.99) == 0
    assert throttle.due(10.0) == 3
    assert throttle.due(30.0) == 0  # nothing pending
    assert throttle.note(30.0) == 1


async def test_a_looping_client_gets_overloaded_past_its_rate_and_another_keeps_its_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        running_hub(LIMITS) as (_, router, port),
        ws_client(port) as looper,
        ws_client(port, source="127.0.0.2") as other,
    ):
        start = trio.current_time()
        for number in range(10):
            await looper.send_text(all_feedback("loop", number))
        for number in range(4):  # another connection has its own bucket
            await other.send_text(all_feedback("other", number))
        await trio.sleep(0.01)
        # Burst 20 = four all_feedback at once; the fifth is refused at once, and the
        # looper is read again when a request fits (5 tokens at 10/s: 0.5 s), and so on.
        refused = await replies(looper, 3)
        assert [reply["id"] for reply in refused] == [4, 6, 8]
        assert {reply["error"]["code"] for reply in refused} == {"overloaded"}
        assert all(reply["user"] == "loop" for reply in refused)
        await trio.sleep(1.0)
        loops = [(d.message.id, d.received_at - start) for d in router.deliveries
                 if d.message.user == "loop"]  # fmt: skip
        expected = [(0, 0), (1, 0), (2, 0), (3, 0), (5, 0.5), (7, 1.0), (9, 1.5)]
        assert [number for number, _ in loops] == [number for number, _ in expected]
        assert [at for _, at in loops] == pytest.approx([at for _, at in expected], abs=1e-6)
        others = [d.message.id for d in router.deliveries if d.message.user == "other"]
        assert others == [0, 1, 2, 3]


async def test_the_service_answers_overloaded_past_the_rate_and_serves_the_others(
    tmp_path,
) -> None:
    # Burst 10 (two all_feedback) and no refill to speak of within the test.
    settings = service_settings(tmp_path, reply_rate_per_s=0.001, reply_burst=10)
    async with (
        running_service(settings) as service,
        client(service) as looper,
        client(service) as other,
    ):
        ask = request("ann", "all_feedback", graph="spinner-cie3-3")
        for number in range(2):
            answers = await looper.ask(ask | {"id": number}, 5)
            assert [a["type"] for a in answers] == ["response"] * 5
        refused = await looper.ask(ask | {"id": 2}, 1)
        assert refused[0]["error"]["code"] == "overloaded"
        assert refused[0]["id"] == 2
        answers = await other.ask(ask | {"user": "bob", "id": 3}, 5)
        assert [a["type"] for a in answers] == ["response"] * 5
        # Events are not limited: the looper's connection still takes them.
        await looper.send(event("ann", "voltage", 1))
        refused = await looper.ask(ask | {"id": 4}, 1)
        assert refused[0]["error"]["code"] == "overloaded"
    with SqliteStore(tmp_path) as store:
        assert store.count_events() == 1


async def test_a_flood_of_bad_frames_is_answered_frame_by_frame_but_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with running_hub(LIMITS) as (_, router, port), ws_client(port) as flooder:
        for number in range(100):
            await flooder.send_text(f"not json {number}")
        errors = await replies(flooder, 100)
        assert {reply["error"]["code"] for reply in errors} == {"bad_json"}
        assert router.deliveries == []
    lines = [r for r in caplog.records if r.getMessage() == "frame.rejected"]
    assert len(lines) == 1  # the rest are counted into the next line, a minute on
