"""A saturated analytics pool answers ``overloaded`` at once instead of queueing."""

from __future__ import annotations

import json

import trio

from actors.outbox import open_outbox
from actors.pool import Job
from actors.router import Delivery, Router, UserSession
from actors.writer import StoreWriter
from analytics.progress import StudentProgress
from courses import bundled_catalog
from messages import decode
from store import SqliteStore
from telemetry.metrics import Metrics


def ask(user: str, number: int) -> object:
    return decode(
        json.dumps(
            {
                "user": user,
                "type": "request",
                "exp": "spinner",
                "course": "cie3",
                "id": number,
                "payload": {"content": "all_feedback", "graph": "spinner-cie3-3"},
            }
        )
    )


async def test_a_full_job_channel_means_an_overloaded_reply_and_the_places_come_back(
    tmp_path,
) -> None:
    catalog = bundled_catalog()
    with SqliteStore(tmp_path) as store:
        writer = StoreWriter(
            store, flush_interval_s=1, snapshot_interval_s=1, max_buffered_events=10
        )
        jobs_send, jobs_receive = trio.open_memory_channel[Job](1)  # one job fits, nobody works
        metrics = Metrics()
        router = Router(
            catalog=catalog,
            writer=writer,
            jobs=jobs_send,
            idle_timeout_s=60,
            metrics=metrics,
        )
        session = UserSession("u1", StudentProgress("u1", catalog))
        outbox, outgoing = open_outbox(10, "test")
        for number in (1, 2):
            assert await outbox.reserve(5, timeout_s=1)
            router._handle(session, Delivery(ask("u1", number), outbox, 0, 0.0, 5))

        queued = jobs_receive.receive_nowait()
        assert queued.request.id == 1
        assert queued.reserved == 5
        refused = json.loads(outgoing.receive_nowait())
        assert refused == {
            "type": "error",
            "user": "u1",
            "id": 2,
            "error": {"code": "overloaded", "message": refused["error"]["message"]},
        }
        # The refused request held five places and used one: four came back.
        assert outbox.reserved == 5
        sample = metrics.registry.get_sample_value("la_error_replies_total", {"code": "overloaded"})
        assert sample == 1
