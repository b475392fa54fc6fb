"""The real command line in a subprocess: kill -9 loses at most one commit window,
SIGTERM loses nothing, and a restart on the same data gives the same replies."""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from trio_websocket import HandshakeError

from tests.actors.conftest import Client, running_service, service_settings
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
from websocket.client import open_client

REPO = Path(__file__).resolve().parents[2]
FLUSH_INTERVAL_S = 0.05
USERS = ("kim", "lee", "max", "ned")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting of the service in it."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LA_") and key not in ("LOG_URL", "DATA_PATH", "COMP_PATH")
    }


@asynccontextmanager
async def cli_service(
    data: Path, log: Path, *flags: str
) -> AsyncIterator[tuple[trio.Process, int]]:
    """``learning-analytics serve`` on a free loopback port; killed on the way out."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(data),
        "--flush-interval-s",
        str(FLUSH_INTERVAL_S),
        *flags,
    ]
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            command, cwd=REPO, env=clean_environment(), stdout=output, stderr=output
        )
    try:
        with trio.fail_after(30):
            while not await _answers(port):
                if process.poll() is not None:
                    output = await trio.Path(log).read_text()
                    raise AssertionError(f"the service exited: {output}")
                await trio.sleep(0.05)
        yield process, port
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(10):
                await process.wait()


async def _answers(port: int) -> bool:
    """True once a WebSocket handshake succeeds (a bare TCP probe would hold the
    service's stop for grace_s: see test_a_bare_tcp_probe_does_not_delay_the_stop)."""
    try:
        async with open_client(f"ws://127.0.0.1:{port}/probe", connect_timeout_s=5):
            return True
    except (OSError, HandshakeError):
        return False


@asynccontextmanager
async def connect(port: int, path: str = "/spin30") -> AsyncIterator[Client]:
    async with open_client(f"ws://127.0.0.1:{port}{path}") as ws:
        yield Client(ws)


def plan(seed: int, events_per_user: int) -> tuple[list[dict[str, Any]], Reference]:
    """Every user's script, interleaved round-robin as one stream of frames."""
    rng = random.Random(seed)
    scripts = [script(rng, user, COURSES[n % 3], events_per_user) for n, user in enumerate(USERS)]
    frames = [frame for group in zip(*scripts, strict=True) for frame in group]
    reference = Reference()
    reference.record(frames)
    return frames, reference


def course_of(user: str):
    return COURSES[USERS.index(user) % 3]


async def check_every_user(port: int, reference: Reference) -> None:
    async with connect(port, "/dashboard") as dashboard:
        for user in USERS:
            course = course_of(user)
            ask = request_frame(user, course, "all_feedback", id=user, graph=task_graph(course))
            await dashboard.send(ask)
            replies = await dashboard.receive_n(5, timeout_s=10)
            assert_replies(replies, reference.answer(ask))
            check_independently(course, reference.events(user), [replies[0], *replies[2:]])


async def terminate(process: trio.Process) -> None:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(10):
        await process.wait()
    assert process.returncode == 0


def check_store(data: Path, frames: list[dict[str, Any]]) -> None:
    with stored(data) as store:
        assert store.count_events() == len(frames)
        for user in USERS:
            assert stored_keys(store, user) == event_keys(f for f in frames if f["user"] == user)


async def test_kill_9_loses_nothing_older_than_a_commit_window(tmp_path) -> None:
    data, log = tmp_path / "data", tmp_path / "service.log"
    frames, reference = plan(9, 150)
    async with cli_service(data, log) as (process, port), connect(port) as ui:
        for frame in frames:
            await ui.send(frame)
        # One request per user, on the same socket: each is answered after all of
        # that user's events were applied (and handed to the commit buffer).
        for user in USERS:
            ask = request_frame(user, course_of(user), "indicators", id=user)
            await ui.send(ask)
            assert_replies(await ui.receive_n(1, timeout_s=10), reference.answer(ask))
        await trio.sleep(6 * FLUSH_INTERVAL_S)  # several commit windows
        process.kill()  # SIGKILL: no flush, no goodbye
        with trio.fail_after(10):
            await process.wait()
        assert process.returncode == -signal.SIGKILL
    async with cli_service(data, log) as (process, port):
        await check_every_user(port, reference)
        await terminate(process)
    check_store(data, frames)


async def test_kill_9_in_mid_stream_keeps_a_consistent_prefix(tmp_path) -> None:
    """Killed while frames are still arriving (snapshots every window too): what
    survives is, for every user, exactly the first events they sent, and the
    restarted service answers from precisely those."""
    data, log = tmp_path / "data", tmp_path / "service.log"
    frames, _ = plan(12, 400)
    async with cli_service(data, log, "--snapshot-interval-s", "0.05") as (process, port):
        async with connect(port) as ui:
            for number, frame in enumerate(frames):
                await ui.send(frame)
                if number == len(frames) // 2:
                    await trio.sleep(0.3)  # some windows and snapshots are on disk
                elif number == len(frames) * 3 // 4:
                    process.kill()
                    break
        with trio.fail_after(10):
            await process.wait()
    survivors = Reference()
    with stored(data) as store:
        kept = store.count_events()
        assert len(frames) // 2 <= kept <= len(frames) * 3 // 4 + 1
        for user in USERS:
            rows = stored_keys(store, user)
            sent = [f for f in frames if f["user"] == user]
            assert rows == event_keys(sent[: len(rows)])  # a prefix: no gap, no reordering
            survivors.record(sent[: len(rows)])
    async with cli_service(data, log) as (process, port):
        await check_every_user(port, survivors)
        await terminate(process)


async def test_sigterm_right_after_the_last_event_loses_nothing(tmp_path) -> None:
    data, log = tmp_path / "data", tmp_path / "service.log"
    frames, reference = plan(10, 100)
    async with cli_service(data, log) as (process, port):
        async with connect(port) as ui:
            for frame in frames:
                await ui.send(frame)
        # The UI is gone (clean close); stop at once, without waiting for a flush.
        await terminate(process)
    assert "service.stopped" in log.read_text()
    async with cli_service(data, log) as (process, port):
        await check_every_user(port, reference)
        await terminate(process)
    check_store(data, frames)


async def test_sigterm_with_the_ui_still_connected_loses_nothing_it_sent(tmp_path) -> None:
    """The stop is asked while the UI's frames are still in the service's socket buffer.

    (Failed before commit 1025b07: Hub.drain closed with 1001 at once and
    trio-websocket drops what a locally closed connection has not read.)

    SIGSTOP makes that certain instead of a race: the frames are sent to a frozen
    process, SIGTERM is queued, SIGCONT lets it see both at once."""
    data, log = tmp_path / "data", tmp_path / "service.log"
    frames, reference = plan(11, 25)
    async with cli_service(data, log) as (process, port), connect(port) as ui:
        process.send_signal(signal.SIGSTOP)
        try:
            with trio.fail_after(10):
                for frame in frames:
                    await ui.send(frame)
            process.send_signal(signal.SIGTERM)
        finally:
            process.send_signal(signal.SIGCONT)
        with trio.fail_after(10):
            await process.wait()
        assert process.returncode == 0
    check_store(data, frames)
    async with cli_service(data, log) as (process, port):
        await check_every_user(port, reference)
        await terminate(process)


async def test_a_bare_tcp_probe_does_not_delay_the_stop(tmp_path) -> None:
    """A TCP connection closed before its handshake (a health probe, a port scan).

    (Failed before commit 1025b07: trio-websocket keeps such a handler until its
    connect timeout, 10 s, and the stop waited for it up to grace_s.)"""
    settings = service_settings(tmp_path, grace_s=30.0)
    with trio.move_on_after(3) as too_long:
        async with running_service(settings) as service:
            probe = await trio.open_tcp_stream("127.0.0.1", service.hub_port)
            await probe.aclose()
            async with connect(service.hub_port) as ws:  # a real client is served
                [reply] = await ws.ask(request_frame("u", COURSES[0], "indicators"), 1)
                assert reply["type"] == "response"
    # The stop (stop accepting, close connections, flush) ended by itself, quickly.
    assert not too_long.cancelled_caught
