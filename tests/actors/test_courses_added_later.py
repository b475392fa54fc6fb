"""Issue 16.4 and its "also": each course replays from its own snapshot, so a course
defined after its events were stored gets all of them, and a course that is not
defined is marked, so a load does not replay events that cannot count."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from actors import session as sessions
from store import is_marker
from tests.actors.conftest import client, running_service, service_settings
from tests.actors.test_robustness_reference import (
    CATALOG,
    Reference,
    assert_replies,
    request_frame,
    script,
    stored,
)

BUNDLED = Path(__file__).resolve().parents[2] / "comparison_graphs"
SPINNER = CATALOG.courses[("spinner", "cie3")]
PENDULUM = CATALOG.courses[("pendulum", "engdes1")]


def spinner_only(tmp_path: Path) -> Path:
    """The bundled courses without pendulum-engdes1 (as before a course file is added)."""
    courses = tmp_path / "courses"
    courses.mkdir()
    for name in ("spinner-cie3.json", "spinner-engdes1.json"):
        shutil.copy(BUNDLED / name, courses / name)
    return courses


def events_only(frames: list[dict]) -> list[dict]:
    return [frame for frame in frames if frame["type"] != "log"]


async def test_a_course_added_later_replays_all_of_its_stored_events(tmp_path) -> None:
    """A user who used spinner (snapshotted) and pendulum while pendulum was not
    defined: once it is, their pendulum state is a full replay of its events.
    (Before: the replay started after the newest snapshot of any course, so the
    pendulum events before it were never counted: 0 edges instead of 3.)"""
    rng = random.Random(16)
    pendulum = events_only(script(rng, "ann", PENDULUM, 30))
    spinner = events_only(script(rng, "ann", SPINNER, 30))
    data = tmp_path / "data"
    before = service_settings(
        data,
        comparison_graphs=spinner_only(tmp_path),
        flush_interval_s=0.01,
        snapshot_interval_s=0.02,
    )
    async with running_service(before) as service, client(service) as ws:
        for frame in pendulum + spinner:  # pendulum first: below spinner's snapshot
            await ws.send(frame)
        await ws.ask(request_frame("ann", SPINNER, "indicators"), 1)
    with stored(data) as store:
        rows, _ = store.load_snapshots("ann")
        assert rows[("spinner", "cie3")].seq == len(pendulum + spinner)
        assert is_marker(rows[("pendulum", "engdes1")].record)
    reference = Reference()
    reference.record(pendulum + spinner)
    after = service_settings(data)  # the bundled courses: pendulum is defined now
    async with running_service(after) as service, client(service) as ws:
        for course in (PENDULUM, SPINNER):
            ask = request_frame("ann", course, "student_graph")
            assert_replies(await ws.ask(ask, 1), reference.answer(ask))


async def test_a_user_of_an_unknown_course_only_is_not_replayed_on_every_load(
    tmp_path, monkeypatch
) -> None:
    """Events all on a course the catalog does not define: a marker snapshot, so the
    next load reads none of them (before: no snapshot ever, the whole history was
    replayed at every load)."""
    frames = [
        {
            "user": "zed",
            "t": number,
            "type": "analytics",
            "exp": "spinner",
            "course": "nope",
            "payload": {"log": "voltage_step"},
        }
        for number in range(50)
    ]
    settings = service_settings(tmp_path, flush_interval_s=0.01, snapshot_interval_s=0.02)
    async with running_service(settings) as service, client(service) as ws:
        for frame in frames:
            await ws.send(frame)
        [reply] = await ws.ask({**request_frame("zed", SPINNER, "indicators")}, 1)
        assert reply["type"] == "response"
    replayed: list[int] = []
    replay = sessions._replay

    def counting(session, event):
        replayed.append(event.seq)
        return replay(session, event)

    monkeypatch.setattr(sessions, "_replay", counting)
    async with running_service(settings) as service, client(service) as ws:
        await ws.ask(request_frame("zed", SPINNER, "indicators"), 1)
        await ws.send({**frames[0], "t": 99})
        await ws.ask(request_frame("zed", SPINNER, "indicators"), 1)
        assert service.sessions == 1
    assert replayed == []
    with stored(tmp_path) as store:
        assert store.count_events() == 51
