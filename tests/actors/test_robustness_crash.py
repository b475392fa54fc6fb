"""One user's session crashes; everyone else carries on, and the
crashed user is rebuilt from disk with nothing lost once the fault is gone."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from analytics.progress import StudentProgress
from analytics.replies import Replier
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
    wait_until,
)

VICTIM = "mallory"
OTHERS = ("oscar", "peggy", "trent")


class Fault:
    """``StudentProgress.apply`` raises for ``VICTIM`` while armed (``once``: one time)."""

    def __init__(self, *, once: bool = False) -> None:
        self.armed = False
        self.once = once
        self.raised = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = StudentProgress.apply

        def apply(progress: StudentProgress, event: Any, *rest: Any) -> Any:
            if self.armed and event.user == VICTIM:
                self.raised += 1
                if self.once:
                    self.armed = False
                raise RuntimeError("injected fault")
            return original(progress, event, *rest)

        monkeypatch.setattr(StudentProgress, "apply", apply)


def commands_first(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``frames`` starting with an ``analytics`` event (the one that will crash)."""
    first = next(i for i, f in enumerate(frames) if f["type"] == "analytics")
    return frames[first:]


async def send_all(ws: Client, frames: list[dict[str, Any]]) -> None:
    for frame in frames:
        await ws.send(frame)


async def check_others(
    ws: Client, reference: Reference, scripts: dict[str, list[dict[str, Any]]], tag: str
) -> None:
    for number, (user, frames) in enumerate(scripts.items()):
        course = COURSES[number % 3]
        frame = request_frame(user, course, "all_feedback", id=tag, graph=task_graph(course))
        replies = await ws.ask(frame, 5)
        assert_replies(replies, reference.answer(frame))
        check_independently(course, reference.events(user), [replies[0], *replies[2:]])
        assert len(reference.events(user)) <= len(frames)


def crash_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "actors.router" and r.msg == "session.crashed"]


async def test_a_crashed_session_is_refused_then_rebuilt_from_disk_and_others_carry_on(
    tmp_path, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="actors.router")
    fault = Fault()
    fault.install(monkeypatch)
    rng = random.Random(404)
    course = COURSES[0]
    before = script(rng, VICTIM, course, 40)
    during = commands_first(script(rng, VICTIM, course, 30, t0=1_700_000))
    after = script(rng, VICTIM, course, 40, t0=1_800_000)
    others = {user: script(rng, user, COURSES[n % 3], 90) for n, user in enumerate(OTHERS)}
    reference = Reference()
    everything = request_frame(VICTIM, course, "all_feedback", id="v", graph=task_graph(course))
    settings = service_settings(tmp_path, flush_interval_s=0.01)
    async with (
        running_service(settings) as service,
        client(service, "/spin30") as victim,
        client(service, "/spin31") as bystanders,
    ):
        await send_all(victim, before)
        reference.record(before)
        assert_replies(await victim.ask(everything, 5), reference.answer(everything))

        fault.armed = True
        await send_all(victim, during[:1])  # this one crashes the session
        for frames in others.values():
            await send_all(bystanders, frames[:45])
            reference.record(frames[:45])
        await check_others(bystanders, reference, others, "mid")
        # The victim's requests are refused while their state cannot be rebuilt...
        [refused] = await victim.ask(request_frame(VICTIM, course, "indicators", id=7), 1)
        assert refused["type"] == "error"
        assert (refused["error"]["code"], refused["id"], refused["user"]) == (
            "internal_error",
            7,
            VICTIM,
        )
        # ... but their events are still kept.
        await send_all(victim, during[1:])
        [refused] = await victim.ask(request_frame(VICTIM, course, "student_graph", id=8), 1)
        assert (refused["type"], refused["error"]["code"], refused["id"]) == (
            "error",
            "internal_error",
            8,
        )
        for frames in others.values():
            await send_all(bystanders, frames[45:])
            reference.record(frames[45:])
        await check_others(bystanders, reference, others, "late")
        sent = len(before) + len(during) + sum(map(len, others.values()))
        store = service.writer.store
        await wait_until(lambda: store.count_events() == sent)
        assert service.router.crashes == 1
        assert fault.raised >= 2  # the event, then the rebuild for the request

        fault.armed = False
        reference.record(during)
        await send_all(victim, after)
        reference.record(after)
        # Rebuilt from disk: the events before, during and after the crash, in order.
        replies = await victim.ask(everything, 5)
        assert_replies(replies, reference.answer(everything))
        check_independently(course, before + during + after, [replies[0], *replies[2:]])
        await check_others(bystanders, reference, others, "end")
        assert VICTIM in service.router.sessions

    [crash] = crash_records(caplog)
    assert crash.user == VICTIM
    assert crash.levelno == logging.ERROR
    assert crash.exc_info is not None
    assert isinstance(crash.exc_info[1], RuntimeError)
    with stored(tmp_path) as store:
        assert stored_keys(store, VICTIM) == event_keys(before + during + after)
        for user, frames in others.items():
            assert stored_keys(store, user) == event_keys(frames)


async def test_a_one_off_crash_is_invisible_to_the_next_request(
    tmp_path, monkeypatch, caplog
) -> None:
    """The fault strikes once: the next request is answered from the rebuilt state,
    which includes the very event whose handling crashed (it was stored first)."""
    caplog.set_level(logging.INFO, logger="actors.router")
    fault = Fault(once=True)
    fault.install(monkeypatch)
    rng = random.Random(405)
    course = COURSES[2]
    before = script(rng, VICTIM, course, 50)
    crashing = commands_first(script(rng, VICTIM, course, 10, t0=1_700_000))
    reference = Reference()
    everything = request_frame(VICTIM, course, "all_feedback", id="v", graph=task_graph(course))
    async with (
        running_service(service_settings(tmp_path, flush_interval_s=0.01)) as service,
        client(service) as victim,
    ):
        await send_all(victim, before)
        fault.armed = True
        await send_all(victim, crashing)
        replies = await victim.ask(everything, 5)
        assert fault.raised == 1
        reference.record(before + crashing)
        assert_replies(replies, reference.answer(everything))
        check_independently(course, before + crashing, [replies[0], *replies[2:]])
        assert service.router.crashes == 1
    assert [r.user for r in crash_records(caplog)] == [VICTIM]


async def test_a_failing_reply_is_an_error_for_that_request_only(
    tmp_path, monkeypatch, caplog
) -> None:
    """The analytics pool: a reply that cannot be computed becomes ``internal_error``,
    the one worker lives on, and the user's state is untouched."""
    caplog.set_level(logging.INFO, logger="actors.pool")
    original = Replier.answer
    broken = {"on": True}

    def answer(replier: Replier, request: Any, student: Any) -> Any:
        if broken["on"] and request.user == VICTIM:
            raise RuntimeError("injected reply fault")
        return original(replier, request, student)

    monkeypatch.setattr(Replier, "answer", answer)
    rng = random.Random(406)
    course = COURSES[1]
    frames = script(rng, VICTIM, course, 40)
    theirs = script(rng, "oscar", course, 40)
    reference = Reference()
    reference.record(frames + theirs)
    settings = service_settings(tmp_path, workers=1)
    async with running_service(settings) as service, client(service) as ws:
        await send_all(ws, frames + theirs)
        mine = request_frame(VICTIM, course, "all_feedback", id=1, graph=task_graph(course))
        [error] = await ws.ask(mine, 1)  # one error stands for the five replies
        assert (error["type"], error["error"]["code"], error["id"]) == (
            "error",
            "internal_error",
            1,
        )
        other = request_frame("oscar", course, "all_feedback", id=2, graph=task_graph(course))
        assert_replies(await ws.ask(other, 5), reference.answer(other))
        broken["on"] = False
        assert_replies(await ws.ask(mine, 5), reference.answer(mine))
        assert service.router.crashes == 0
    failures = [r for r in caplog.records if r.msg == "request.failed"]
    assert [r.user for r in failures] == [VICTIM]
