"""Issue 12.2 and 16.2's stuck load, on the router without sockets (mock clock).

Loads are made slow (or stuck) by replacing ``Loader._load``; each test then
checks who is loaded when, what a flooding connection may hold, and how the
stop ends.
"""

from __future__ import annotations

import trio
import trio.testing

from actors import holding as holding_module
from actors.session import UserSession
from analytics.progress import StudentProgress
from store import SqliteStore
from tests.actors.routing import CATALOG, delivery, running_router
from tests.actors.writing import ask, message


def slow_loads(rig, order: list[str], delay_s: float = 0.1):
    """``Loader._load`` taking ``delay_s`` each, noting the order users are loaded in."""

    async def load(user: str) -> UserSession:
        order.append(user)
        await trio.sleep(delay_s)
        return UserSession(user, StudentProgress(user, CATALOG))

    rig.router.loader._load = load


async def test_a_fresh_students_user_is_loaded_before_a_flooders_new_ids(
    tmp_path, autojump_clock
) -> None:
    """A client floods new user ids; a student's new id arrives meanwhile and is
    loaded after at most a round of the loaders, not after the flood (before: one
    unbounded loader task per id, served in arrival order: 87 s for a first reply).
    The flooder never has more than ``MAX_LOADING_PER_CONNECTION`` users loading."""
    order: list[str] = []
    async with running_router(tmp_path) as rig:
        slow_loads(rig, order)
        router = rig.router
        flooder, student = rig.connection("flooder"), rig.connection("student")
        most_loading = 0

        async def flood() -> None:
            nonlocal most_loading
            for number in range(200):
                await router.deliver(delivery(message(f"new{number:03d}"), flooder))
                most_loading = max(most_loading, router.holding._sources[flooder].loading)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await trio.sleep(1.05)  # ten rounds of loads: the flood is well under way
            started = trio.current_time()
            await router.deliver(delivery(message("student"), student))
            await router.deliver(delivery(ask("student"), student))
            job = await rig.jobs.receive()
            while job.request.user != "student":
                job = await rig.jobs.receive()
            waited = trio.current_time() - started
            nursery.cancel_scope.cancel()
    assert waited <= 0.2 + 1e-9  # at most two rounds of 0.1 s loads
    position = order.index("student")
    assert position <= order.index("new000") + 60  # not after the 200
    assert most_loading <= holding_module.MAX_LOADING_PER_CONNECTION


async def test_a_connection_with_too_much_in_lines_waits_and_its_messages_stay_in_order(
    tmp_path, autojump_clock
) -> None:
    """A connection holding ``MAX_HELD_PER_CONNECTION`` messages for a user still
    loading waits (backpressure), and every message is applied in the order read."""
    order: list[str] = []
    async with running_router(tmp_path) as rig:
        slow_loads(rig, order, delay_s=1.0)
        router = rig.router
        lab = rig.connection("lab")
        limit = holding_module.MAX_HELD_PER_CONNECTION
        handed = 0

        async def send() -> None:
            nonlocal handed
            for number in range(limit + 50):
                await router.deliver(delivery(message("ann", number), lab))
                handed += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            await trio.sleep(0.5)
            assert handed == limit  # the next one waits for the load
            assert router.held_bytes <= holding_module.MAX_HELD_BYTES
        assert handed == limit + 50
        await trio.sleep(0.1)
        assert [row.t for row in rig.store.events_of("ann")] == list(range(limit + 50))


async def test_the_stop_does_not_wait_for_a_stuck_load_without_bound(
    tmp_path, autojump_clock
) -> None:
    """16.2: ``Router.run`` waited for every load without bound, so SIGTERM hung with
    a load stuck behind a failing disk. Now it gives loads ``stop_timeout_s`` and
    stores the stuck user's events as they came."""

    async def stuck(user: str) -> UserSession:
        await trio.sleep_forever()
        raise AssertionError

    with trio.fail_after(60):
        async with running_router(tmp_path, stop_timeout_s=2.0) as rig:
            rig.router.loader._load = stuck
            lab = rig.connection("lab")
            for number in range(3):
                await rig.router.deliver(delivery(message("ann", number), lab))
            await rig.router.deliver(delivery(ask("ann"), lab))
            closed_at = trio.current_time()
    assert trio.current_time() - closed_at <= 2.0 + 1.0 + 1e-6  # the bound + the flush
    assert rig.router.abandoned == 3
    with SqliteStore(tmp_path) as store:
        assert [row.t for row in store.events_of("ann")] == [0, 1, 2]


async def test_resident_sessions_are_capped_by_memory_least_recently_active_first(
    tmp_path, autojump_clock
) -> None:
    """12.2: past ``max_resident_bytes`` the least recently active flushed sessions
    leave early (before: only the idle timeout, 600 s, made room: 8.1 GB)."""
    each = UserSession("x", StudentProgress("x", CATALOG))
    each.apply(message("x"))
    cap = 40 * each.bytes
    async with running_router(tmp_path, max_resident_bytes=cap) as rig:
        router = rig.router
        lab = rig.connection("lab")
        for number in range(120):
            await router.deliver(delivery(message(f"u{number:03d}"), lab))
            await trio.sleep(0.05)  # written and snapshotted before the next
        await trio.sleep(0.1)
        resident = set(router.sessions)
        assert router.residents.bytes <= cap
        assert len(resident) >= 30
        assert {f"u{number:03d}" for number in range(110, 120)} <= resident
        assert not {f"u{number:03d}" for number in range(0, 60)} & resident
        # An evicted user comes back from disk with what they did.
        await router.deliver(delivery(ask("u000"), lab))
        job = await rig.jobs.receive()
        while job.request.user != "u000":
            job = await rig.jobs.receive()
        assert job.snapshot is not None
        assert job.snapshot.matrix.sum() == 0
