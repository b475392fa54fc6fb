"""Many users at once on a real service: every reply is the right one, for the right user.

The expected replies are computed directly from the frames sent (see
``test_robustness_reference``), never taken from the service itself.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import trio
import trio.lowlevel
from trio_websocket import ConnectionClosed

from tests.actors.conftest import Client, client, running_service, service_settings
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
)

USERS = 100
QUIET_S = 0.2  # how long a connection must stay silent to count as "received nothing"


async def assert_silent(ws: Client, quiet_s: float = QUIET_S) -> None:
    """Nothing arrives on ``ws`` for ``quiet_s`` (a frame would be someone else's reply)."""
    with trio.move_on_after(quiet_s):
        frame = await ws.receive(timeout_s=quiet_s + 1)
        raise AssertionError(f"unexpected frame: {frame}")


async def test_a_hundred_users_at_once_each_get_their_own_correct_replies(tmp_path) -> None:
    rng = random.Random(20240117)
    plan = []
    reference = Reference()
    for number in range(USERS):
        course = COURSES[number % len(COURSES)]
        user = f"{number:03d}-{rng.getrandbits(64):016x}"
        frames = script(rng, user, course, rng.randrange(10, 120))
        reference.record(frames)
        plan.append((user, course, frames, random.Random(number)))

    answered = 0
    everyone_answered = trio.Event()
    got: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}

    async with running_service(service_settings(tmp_path)) as service:

        async def student(user: str, course, frames, pace: random.Random) -> None:
            nonlocal answered
            async with client(service, f"/{frames[0]['hardware']}") as ws:
                for frame in frames:
                    await ws.send(frame)
                    if pace.random() < 0.1:
                        await trio.lowlevel.checkpoint()  # let the other students interleave
                everything = request_frame(
                    user, course, "all_feedback", id=f"{user}/all", graph=task_graph(course)
                )
                graph = request_frame(user, course, "student_graph", id=f"{user}/graph")
                got[user] = (await ws.ask(everything, 5), await ws.ask(graph, 1))
                answered += 1
                if answered == USERS:
                    everyone_answered.set()
                # Every other user's replies have been sent by now: none came here.
                await everyone_answered.wait()
                await assert_silent(ws)

        with trio.fail_after(90):  # a hang guard: a loaded CI machine takes its time
            async with trio.open_nursery() as nursery:
                for user, course, frames, pace in plan:
                    nursery.start_soon(student, user, course, frames, pace)
        assert service.sessions == USERS

    for user, course, frames, _ in plan:
        everything, graph = got[user]
        everything_frame = request_frame(
            user, course, "all_feedback", id=f"{user}/all", graph=task_graph(course)
        )
        assert_replies(everything, reference.answer(everything_frame))
        assert_replies(
            graph,
            reference.answer(request_frame(user, course, "student_graph", id=f"{user}/graph")),
        )
        check_independently(
            course, frames, [everything[0], *everything[2:], *graph]
        )  # the comparison graph does not depend on the student
        assert {reply["user"] for reply in [*everything, *graph]} == {user}
    # Every event was stored once, in the order its user sent it.
    with stored(tmp_path) as store:
        assert store.count_events() == sum(len(frames) for _, _, frames, _ in plan)
        for user, _, frames, _ in plan:
            assert stored_keys(store, user) == event_keys(frames)


async def test_a_reply_goes_only_to_the_connection_that_asked(tmp_path) -> None:
    course = COURSES[0]
    rng = random.Random(5)
    reference = Reference()
    mine = script(rng, "alice", course, 40)
    theirs = script(rng, "bob", course, 40)
    reference.record(mine + theirs)
    async with (
        running_service(service_settings(tmp_path)) as service,
        client(service, "/spin30") as alice,
        client(service, "/spin30") as bob,  # the same stream, another user
        client(service, "/spin30") as bystander,  # sends nothing at all
    ):
        for a, b in zip(mine, theirs, strict=True):
            await alice.send(a)
            await bob.send(b)
        for content in ["student_graph", "indicators", "centroids", "task_identification"]:
            frame = request_frame("alice", course, content, id=content)
            assert_replies(await alice.ask(frame, 1), reference.answer(frame))
        everything = request_frame("bob", course, "all_feedback", graph=task_graph(course))
        assert_replies(await bob.ask(everything, 5), reference.answer(everything))
        await assert_silent(alice)
        await assert_silent(bystander)
        await assert_silent(bob)


async def test_a_request_on_another_connection_sees_the_users_events(tmp_path) -> None:
    """Read-your-writes per user: the lab UI writes, the dashboard (another socket) reads."""
    course = COURSES[2]
    rng = random.Random(11)
    frames = script(rng, "carol", course, 90)
    reference = Reference()
    async with (
        running_service(service_settings(tmp_path)) as service,
        client(service, "/pend07") as ui,
        client(service, "/dashboard") as dashboard,
    ):
        for part in (frames[:30], frames[30:31], frames[31:]):
            for frame in part:
                await ui.send(frame)
            reference.record(part)
            # The UI's own request is answered after its events: they have been read.
            probe = request_frame("carol", course, "indicators", id="probe")
            assert_replies(await ui.ask(probe, 1), reference.answer(probe))
            # Now the dashboard, on its own connection, sees every one of them.
            everything = request_frame("carol", course, "all_feedback", graph=task_graph(course))
            replies = await dashboard.ask(everything, 5)
            assert_replies(replies, reference.answer(everything))
            check_independently(course, reference.events("carol"), [replies[0], *replies[2:]])
        await assert_silent(ui)


async def test_a_user_closing_their_socket_midway_does_not_disturb_the_others(tmp_path) -> None:
    """Half the students hang up abruptly mid-script; the rest are answered correctly."""
    rng = random.Random(99)
    reference = Reference()
    plan = []
    for number in range(20):
        course = COURSES[number % 3]
        frames = script(rng, f"u{number}", course, 60)
        plan.append((f"u{number}", course, frames))
    async with running_service(service_settings(tmp_path)) as service:

        async def quitter(user: str, course, frames: list[dict[str, Any]]) -> None:
            async with client(service) as ws:
                for frame in frames[:30]:
                    await ws.send(frame)
                # Drop the TCP connection without a close handshake.
                await ws.ws._stream.aclose()

        async def stayer(user: str, course, frames: list[dict[str, Any]]) -> list[Any]:
            async with client(service) as ws:
                for frame in frames:
                    await ws.send(frame)
                return await ws.ask(
                    request_frame(user, course, "all_feedback", graph=task_graph(course)), 5
                )

        results: dict[str, list[Any]] = {}

        async def run_stayer(user: str, course, frames: list[dict[str, Any]]) -> None:
            results[user] = await stayer(user, course, frames)

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for number, (user, course, frames) in enumerate(plan):
                    if number % 2:
                        nursery.start_soon(_ignore_closed, quitter, user, course, frames)
                    else:
                        nursery.start_soon(run_stayer, user, course, frames)
        for number, (user, course, frames) in enumerate(plan):
            if number % 2 == 0:
                reference.record(frames)
                frame = request_frame(user, course, "all_feedback", graph=task_graph(course))
                assert_replies(results[user], reference.answer(frame))
        # The hub forgets the dropped sockets.
        with trio.fail_after(5):
            while service.hub.connections:
                await trio.sleep(0.01)
    # What the quitters sent before hanging up was read and kept, all of it.
    with stored(tmp_path) as store:
        for number, (user, _, frames) in enumerate(plan):
            assert stored_keys(store, user) == event_keys(frames[:30] if number % 2 else frames)


async def _ignore_closed(function: Any, *args: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        await function(*args)
