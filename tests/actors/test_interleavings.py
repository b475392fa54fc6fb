"""Issue 16's property: events and requests of a few users from several connections,
interleaved at random, into a commit buffer of three events on a disk that comes
and goes. Whatever the order:

- every reply reflects exactly the events of its user read before the request;
- nothing read is lost at the stop, and the stop ends within its bounds.

Connections are tasks that hand their messages to the real router one at a
time, as a reader does; the writer writes on the event loop to a real store
(``tests.actors.routing``); time is a ``MockClock`` moved by the steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.progress import StudentProgress
from messages import Request, decode
from tests.actors.routing import CATALOG, delivery, running_router
from tests.actors.writing import Disk, ask, message

USERS = ("ann", "ben")
CONNECTIONS = 3
# Feedback is tallied one by one, so a reply that misses one shows it.
LOGS = ("voltage_step", "voltage_ramp", "speed_step", "position_ramp", "feedback")

event = st.tuples(
    st.just("event"),
    st.integers(0, CONNECTIONS - 1),
    st.sampled_from(USERS),
    st.sampled_from(LOGS),
)
request = st.tuples(st.just("request"), st.integers(0, CONNECTIONS - 1), st.sampled_from(USERS))
# Mostly messages: the buffer is full most of the time, lines form.
step = st.one_of(
    event,
    event,
    event,
    request,
    request,
    st.tuples(st.just("disk"), st.booleans()),
    st.tuples(st.just("tick")),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=15, max_size=50))
def test_replies_reflect_what_was_read_and_the_stop_keeps_it_all(tmp_path_factory, steps) -> None:
    clock = trio.testing.MockClock()
    trio.run(_scenario, tmp_path_factory.mktemp("store"), steps, clock, clock=clock)


async def _scenario(data: Any, steps: list[tuple[Any, ...]], clock: trio.testing.MockClock) -> None:
    read: list[Any] = []  # every message in the order the connections read them
    answers: list[tuple[Any, Any]] = []  # (request, snapshot it was answered from)
    limits = {"max_buffered_events": 3, "window_events": 2}
    # A hang guard in mock time: the steps move it 2 s at most, the stop's
    # bounds (the router's 1 s, the flush's 1 s) a few more.
    with trio.fail_after(30):
        await _run(data, steps, clock, read, answers, limits)
    _check(read, answers, data)


async def _run(
    data: Any,
    steps: list[tuple[Any, ...]],
    clock: trio.testing.MockClock,
    read: list[Any],
    answers: list[tuple[Any, Any]],
    limits: dict[str, int],
) -> None:
    async with running_router(data, writer_limits=limits, stop_timeout_s=1.0) as rig:
        disk = Disk(rig.store)
        rig.store.write_batch = disk.write_batch  # type: ignore[method-assign]
        router = rig.router
        inboxes = []
        async with trio.open_nursery() as connections:
            for number in range(CONNECTIONS):
                send, receive = trio.open_memory_channel[Any](100)
                inboxes.append(send)
                outbox = rig.connection(f"c{number}")
                connections.start_soon(_reader, router, outbox, receive, read)
            async with trio.open_nursery() as jobs:
                jobs.start_soon(_collect, rig.jobs, answers)
                t = 0
                for kind, *args in steps:
                    if kind == "event":
                        t += 1
                        connection, user, log = args
                        inboxes[connection].send_nowait(_event(user, t, log))
                    elif kind == "request":
                        connection, user = args
                        inboxes[connection].send_nowait(ask(user, id=len(read)))
                    elif kind == "disk":
                        disk.full = not args[0]
                    else:
                        clock.jump(0.05)
                    await trio.testing.wait_all_tasks_blocked()
                # The stop: nothing waits for room any more, the readers hand on
                # what they have, and the disk works again for the final flush.
                clock.autojump_threshold = 0
                router.stop_waiting()
                for inbox in inboxes:
                    inbox.close()
                with trio.fail_after(5):
                    while len(read) < _sent(steps) or router._lines:
                        await trio.sleep(0.01)
                    await trio.testing.wait_all_tasks_blocked()
                disk.full = False
                jobs.cancel_scope.cancel()


def _event(user: str, t: int, log: str) -> Any:
    if log != "feedback":
        return message(user, t, log=log)
    frame = {
        "user": user,
        "t": t,
        "type": "feedback",
        "exp": "spinner",
        "course": "cie3",
        "payload": {"state": "Curious", "subject": "Hardware"},
    }
    return decode(orjson.dumps(frame))


async def _reader(router: Any, outbox: Any, inbox: Any, read: list[Any]) -> None:
    async for msg in inbox:
        read.append(msg)
        await router.deliver(delivery(msg, outbox))


async def _collect(jobs: Any, answers: list[tuple[Any, Any]]) -> None:
    async for job in jobs:
        answers.append((job.request, job.snapshot))


def _sent(steps: list[tuple[Any, ...]]) -> int:
    return sum(1 for kind, *_ in steps if kind in ("event", "request"))


def _check(read: list[Any], answers: list[tuple[Any, Any]], data: Any) -> None:
    from store import SqliteStore  # noqa: PLC0415

    position = {id(msg): number for number, msg in enumerate(read)}
    requests = [msg for msg in read if isinstance(msg, Request)]
    assert sorted(id(request) for request, _ in answers) == sorted(id(r) for r in requests)
    for request, snapshot in answers:
        before = read[: position[id(request)]]
        reference = StudentProgress(request.user, CATALOG)
        for msg in before:
            if not isinstance(msg, Request) and msg.user == request.user:
                reference.apply(msg)
        expected = reference.snapshot(request.exp, request.course)
        if expected is None:
            assert snapshot is None
        else:
            assert snapshot is not None
            assert np.array_equal(snapshot.matrix, expected.matrix)
            assert snapshot.feedback == expected.feedback
    events = [msg for msg in read if not isinstance(msg, Request)]
    with SqliteStore(data) as store:
        stored = [(row.user, row.t) for user in USERS for row in store.events_of(user)]
    assert sorted(stored) == sorted((msg.user, msg.t) for msg in events)
    for user in USERS:  # in the order read, per user
        with SqliteStore(data) as store:
            assert [row.t for row in store.events_of(user)] == [
                msg.t for msg in events if msg.user == user
            ]
