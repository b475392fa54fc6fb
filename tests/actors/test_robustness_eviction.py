"""Idle sessions leave memory once on disk, and come back from disk unchanged."""

from __future__ import annotations

import random

import trio

from tests.actors.conftest import client, running_service, service_settings
from tests.actors.test_robustness_reference import (
    COURSES,
    Reference,
    assert_replies,
    check_independently,
    event_keys,
    request_frame,
    script,
    stored,
    stored_keys,
    task_graph,
    wait_until,
)

FAST = {"idle_timeout_s": 0.2, "flush_interval_s": 0.01, "snapshot_interval_s": 0.02}


async def test_an_evicted_user_comes_back_from_disk_with_the_same_replies(tmp_path) -> None:
    rng = random.Random(31)
    reference = Reference()
    course = COURSES[1]
    first, later = script(rng, "dora", course, 70), script(rng, "dora", course, 50, t0=1_700_000)
    everything = request_frame("dora", course, "all_feedback", id=1, graph=task_graph(course))
    async with running_service(service_settings(tmp_path, **FAST)) as service:
        async with client(service, "/spin12") as ui:
            for frame in first:
                await ui.send(frame)
            reference.record(first)
            before = await ui.ask(everything, 5)
            assert_replies(before, reference.answer(everything))
            assert service.sessions == 1
            await wait_until(lambda: service.sessions == 0)
            assert not service.router.sessions
            # The socket stays open; the session is gone all the same.
            again = await ui.ask(everything, 5)
            assert again == before  # identical, from the snapshot on disk
            assert service.sessions == 1
        await wait_until(lambda: service.sessions == 0)
        async with client(service, "/spin12") as ui:
            assert await ui.ask(everything, 5) == before  # a new connection: the same
            for frame in later:
                await ui.send(frame)
            reference.record(later)
            after = await ui.ask(everything, 5)
        # The events after the reload add up with those before it.
        assert_replies(after, reference.answer(everything))
        check_independently(course, first + later, [after[0], *after[2:]])
        assert after[0] != before[0] or after[3] != before[3]  # the new events did count
    with stored(tmp_path) as store:
        assert stored_keys(store, "dora") == event_keys(first + later)


async def test_a_user_on_two_courses_and_an_unknown_one_comes_back_whole(tmp_path) -> None:
    rng = random.Random(32)
    spinner, pendulum = COURSES[0], COURSES[2]
    one, two = script(rng, "fay", spinner, 60), script(rng, "fay", pendulum, 60)
    unknown = [{**f, "course": ""} for f in script(rng, "fay", spinner, 10)]
    frames = [f for group in zip(one, two, strict=True) for f in group] + unknown
    reference = Reference()
    reference.record(frames)
    asks = [
        request_frame("fay", course, "all_feedback", graph=task_graph(course))
        for course in (spinner, pendulum)
    ]
    async with running_service(service_settings(tmp_path, **FAST)) as service:
        async with client(service) as ui:
            for frame in frames:
                await ui.send(frame)
            before = [await ui.ask(ask, 5) for ask in asks]
        for replies, ask in zip(before, asks, strict=True):
            assert_replies(replies, reference.answer(ask))
        await wait_until(lambda: service.sessions == 0)
        async with client(service) as dashboard:
            assert [await dashboard.ask(ask, 5) for ask in asks] == before
            [error] = await dashboard.ask(
                request_frame("fay", spinner, "indicators") | {"course": ""}, 1
            )
            assert error["error"]["code"] == "unknown_course"
    with stored(tmp_path) as store:
        assert stored_keys(store, "fay") == event_keys(frames)


async def test_eviction_repeated_many_times_loses_nothing(tmp_path) -> None:
    """Evicted and reloaded after every burst: the state keeps adding up."""
    rng = random.Random(8)
    course = COURSES[0]
    frames = script(rng, "eve", course, 120)
    reference = Reference()
    frame = request_frame("eve", course, "all_feedback", graph=task_graph(course))
    async with running_service(service_settings(tmp_path, **FAST)) as service:
        for burst in range(4):
            part = frames[burst * 30 : (burst + 1) * 30]
            async with client(service) as ui:
                for event in part:
                    await ui.send(event)
                reference.record(part)
                replies = await ui.ask(frame, 5)
                assert_replies(replies, reference.answer(frame))
            await wait_until(lambda: service.sessions == 0)
        check_independently(course, frames, [replies[0], *replies[2:]])


async def test_three_hundred_idle_users_are_all_evicted(tmp_path) -> None:
    rng = random.Random(300)
    reference = Reference()
    users = [f"idle-{number:03d}" for number in range(300)]
    async with running_service(service_settings(tmp_path, **FAST)) as service:
        async with client(service) as ui:
            for number, user in enumerate(users):
                course = COURSES[number % 3]
                frames = script(rng, user, course, 4)
                for frame in frames:
                    await ui.send(frame)
                reference.record(frames)
            # The last user's reply comes after every event has been read.
            last = request_frame(users[-1], COURSES[299 % 3], "indicators")
            assert_replies(await ui.ask(last, 1), reference.answer(last))
        # (Early ones may be gone already: sending takes longer than idle_timeout_s.)
        assert users[-1] in service.router.sessions
        await wait_until(lambda: service.sessions == 0, timeout_s=10)
        assert not service.router.sessions
        assert service.writer.buffered == 0
        # Each of them comes back as they were.
        async with client(service) as dashboard:
            for number in range(0, 300, 37):
                course = COURSES[number % 3]
                frame = request_frame(
                    users[number], course, "all_feedback", graph=task_graph(course)
                )
                assert_replies(await dashboard.ask(frame, 5), reference.answer(frame))
        assert service.sessions == len(range(0, 300, 37))
    with stored(tmp_path) as store:
        assert store.count_events() == 300 * 4


async def test_a_busy_user_is_not_evicted_while_an_idle_one_is(tmp_path) -> None:
    rng = random.Random(2)
    course = COURSES[2]
    frames = script(rng, "busy", course, 250)
    reference = Reference()

    def in_memory(service, user: str) -> bool:
        return user in service.router.sessions

    async with (
        running_service(service_settings(tmp_path, **FAST)) as service,
        client(service) as idle,
        client(service) as busy,
    ):
        idle_frames = script(rng, "idle", course, 5)
        for frame in idle_frames:
            await idle.send(frame)
        reference.record(idle_frames)
        probe = request_frame("idle", course, "indicators")
        assert_replies(await idle.ask(probe, 1), reference.answer(probe))
        await busy.send(frames[0])
        reference.record(frames[:1])
        await wait_until(lambda: in_memory(service, "busy"))
        busy_missing = 0
        done = trio.Event()

        async def watch() -> None:
            nonlocal busy_missing
            while not done.is_set():
                busy_missing += not in_memory(service, "busy")
                await trio.sleep(0.005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            # ~0.5 s of one event every 2 ms: far longer than idle_timeout_s.
            for frame in frames[1:]:
                await busy.send(frame)
                reference.record([frame])
                await trio.sleep(0.002)
            done.set()
        assert not in_memory(service, "idle")
        assert busy_missing == 0
        frame = request_frame("busy", course, "all_feedback", graph=task_graph(course))
        assert_replies(await busy.ask(frame, 5), reference.answer(frame))
        assert_replies(await idle.ask(probe, 1), reference.answer(probe))
