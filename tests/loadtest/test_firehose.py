"""The firehose generator and the CPU pinning the benchmarks rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from loadtest.firehose import FRAMES_PER_CHUNK, run_firehose, scripted_texts
from loadtest.machine import pin_process, split_cpus
from loadtest.spawn import spawned_service
from store import SqliteStore
from tests.actors.conftest import running_service, service_settings


async def test_flat_out_every_frame_counted_as_sent_is_stored(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service:
        url = f"ws://127.0.0.1:{service.hub_port}"
        result = await run_firehose(url, connections=3, duration_s=0.3, seed=5)
    assert result.events_sent > 0
    assert result.events_sent % FRAMES_PER_CHUNK == 0  # whole chunks only
    with SqliteStore(tmp_path) as store:
        assert store.count_events() == result.events_sent


async def test_paced_it_never_runs_ahead_of_its_schedule(tmp_path) -> None:
    rate, connections, duration = 400.0, 4, 0.5
    async with running_service(service_settings(tmp_path)) as service:
        url = f"ws://127.0.0.1:{service.hub_port}"
        result = await run_firehose(url, connections, duration, seed=5, rate=rate)
    # Each connection's first frame is due at once, then one per interval.
    assert 0 < result.events_sent <= rate * result.seconds + connections
    with SqliteStore(tmp_path) as store:
        assert store.count_events() == result.events_sent


def test_the_frames_are_the_scripted_students_of_the_hub() -> None:
    texts = scripted_texts("ws://127.0.0.1:1", connections=2, seed=5)
    assert len(texts) == 2
    for url, frames in texts:
        users = {json.loads(frame)["user"] for frame in frames}
        assert len(users) == 1  # one student per connection
        assert url.startswith("ws://127.0.0.1:1/")  # its hardware's stream path
    first_users = [json.loads(frames[0])["user"] for _, frames in texts]
    assert first_users[0] != first_users[1]


def test_a_non_loopback_target_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.firehose", "--url", "ws://192.0.2.1:8000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr


@pytest.mark.skipif(split_cpus() is None, reason="needs Linux and two CPUs")
def test_pinning_moves_every_thread_of_a_process() -> None:
    service_cpus, load_cpus = split_cpus()  # type: ignore[misc]
    assert len(service_cpus) == 1
    assert load_cpus
    assert service_cpus.isdisjoint(load_cpus)
    code = "import threading, time; threading.Thread(target=time.sleep, args=(30,)).start(); "
    code += "print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"  # both threads exist
        assert len(os.listdir(f"/proc/{child.pid}/task")) == 2
        assert pin_process(child.pid, service_cpus)
        threads = os.listdir(f"/proc/{child.pid}/task")
        assert {os.sched_getaffinity(int(tid)) == service_cpus for tid in threads} == {True}
    finally:
        child.kill()
        child.communicate()


@pytest.mark.skipif(split_cpus() is None, reason="needs Linux and two CPUs")
async def test_a_spawned_service_runs_on_its_own_cpu_and_gives_ours_back() -> None:
    ours = os.sched_getaffinity(0)
    async with spawned_service("subprocess") as service:
        assert service.pin()
        assert service.process is not None
        assert os.sched_getaffinity(service.process.pid) == service.cpus
        assert os.sched_getaffinity(0).isdisjoint(service.cpus)
        assert "pinned to CPU" in service.placement
    assert os.sched_getaffinity(0) == ours
