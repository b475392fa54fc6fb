"""``--spawn``: the load tester starts the service itself, loads it, stops it, counts.

A subprocess is the honest default on a small machine: the service and the
load tester then each have their own interpreter, and on Linux with two or
more CPUs the service is pinned to one of them and the load tester to the
others, so "on one core" is literally true and neither takes turns with the
other. In-process is there for quick
checks and tests. Either way the service gets a fresh data directory, is
stopped the way systemd stops it (SIGTERM, then a wait), and the events in
its store are counted afterwards: "sent" and "durable" are different claims.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

import actors
from actors.service import serve
from config.settings import Settings
from loadtest.machine import pin_apart, pin_process, process_cpu_seconds
from loadtest.options import LoadTestError
from loadtest.report import ServiceInfo
from messages import StatementEvent, UserFeedbackEvent
from store import DATABASE_NAME

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
PROJECT_ROOT = Path(actors.__file__).resolve().parents[1]
SPAWN_KINDS = ("subprocess", "in-process")
V2_ROW_TYPES = (StatementEvent.TYPE, UserFeedbackEvent.TYPE)


@attrs.define
class SpawnedService:
    """A service started for one load run; filled in as it runs and after it stops."""

    how: str
    url: str
    data_path: Path
    command: str
    process: trio.Process | None = None
    log_path: Path | None = None
    exit_code: int | None = None
    events_stored: int | None = None
    http_url: str | None = None  # the HTTP listener (v2 API), when asked for
    stored_by_type: dict[str, int] | None = None
    cpus: set[int] | None = None  # pinned to these, the load to the others
    _our_cpus: set[int] | None = None  # this process's CPUs before ``pin``

    def pin(self) -> bool:
        """Give the service one CPU and this process (and what it starts later) the others.

        Until the service stops (``spawned_service`` gives this process its
        CPUs back). Returns False (nothing changed) on one CPU, outside Linux,
        or in-process.
        """
        if self.process is None:
            return False
        ours = os.sched_getaffinity(0)
        service_cpus = pin_apart(self.process.pid)
        if service_cpus is None:
            return False
        self.cpus, self._our_cpus = service_cpus, ours
        return True

    def unpin(self) -> None:
        """Give this process back the CPUs it had before ``pin``."""
        if self._our_cpus is not None:
            pin_process(os.getpid(), self._our_cpus)
            self._our_cpus = None

    @property
    def placement(self) -> str:
        """Where the service ran, for a report."""
        if self.cpus is None:
            return "not pinned: the service shares every CPU with the load"
        cpus = ", ".join(map(str, sorted(self.cpus)))
        return f"service pinned to CPU {cpus}, load generators on the others"

    def cpu_seconds(self) -> float | None:
        """CPU time the service process has used so far (Linux ``/proc``; else None)."""
        return None if self.process is None else process_cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def info(self, cpu_s: float | None = None) -> ServiceInfo:
        return ServiceInfo(
            how=self.how,
            command=self.command,
            data_path=str(self.data_path),
            events_stored=self.events_stored,
            exit_code=self.exit_code,
            cpu_s=None if cpu_s is None else round(cpu_s, 3),
            cpus=None if self.cpus is None else sorted(self.cpus),
            statements_stored=self._stored(StatementEvent.TYPE),
            user_feedback_stored=self._stored(UserFeedbackEvent.TYPE),
        )

    def _stored(self, kind: str) -> int | None:
        if self.http_url is None or self.stored_by_type is None:
            return None
        return self.stored_by_type.get(kind, 0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def count_stored_by_type(data_path: Path) -> dict[str, int] | None:
    """Rows of each ``type`` in a stopped service's store, read-only (None: no store)."""
    path = data_path / DATABASE_NAME
    if not path.exists():
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
    finally:
        connection.close()
    return {str(kind): int(n) for kind, n in rows}


def v1_events(counts: dict[str, int] | None) -> int | None:
    """The v1 events among rows counted by type (not v2 statements or feedback bodies)."""
    if counts is None:
        return None
    return sum(n for kind, n in counts.items() if kind not in V2_ROW_TYPES)


def count_stored(data_path: Path) -> int | None:
    """v1 events in a stopped service's store, read-only (None if there is no store)."""
    return v1_events(count_stored_by_type(data_path))


def cli_command(*args: str) -> list[str]:
    """``learning-analytics *args`` with this interpreter, logging warnings and worse."""
    return [sys.executable, "-m", "cli.main", "--log-level", "WARNING", *args]


def service_command(port: int, data_path: Path, http_port: int | None = None) -> list[str]:
    command = cli_command("serve", "--listen", f"127.0.0.1:{port}", "--data", str(data_path))
    if http_port is not None:
        command += ["--http-listen", f"127.0.0.1:{http_port}"]
    return command


def firehose_command(url: str, json_path: Path, *flags: str) -> list[str]:
    """The firehose (``loadtest/firehose.py``) against ``url``, figures to ``json_path``."""
    return [
        sys.executable, "-m", "loadtest.firehose", "--url", url, *flags,
        "--json", str(json_path),
    ]  # fmt: skip


def loadtest_command(url: str, json_path: Path, *flags: str) -> list[str]:
    """A load tester against ``url`` (no live progress) writing its report to ``json_path``."""
    return [
        sys.executable, "-m", "loadtest", "--url", url, *flags,
        "--no-progress", "--json", str(json_path),
    ]  # fmt: skip


@asynccontextmanager
async def load_process(command: Sequence[str], timeout_s: float) -> AsyncIterator[trio.Process]:
    """``command`` running (its output discarded) while the ``async with`` body runs.

    On the way out it is waited for, at most ``timeout_s`` (``trio.TooSlowError``
    after that), and killed if it is still running. For benchmarks that keep the
    load generator out of the process that measures.
    """
    process = await trio.lowlevel.open_process(command, stdout=subprocess.DEVNULL)
    try:
        yield process
        with trio.fail_after(timeout_s):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()


@asynccontextmanager
async def spawned_service(
    how: str = "subprocess", *, http: bool = False
) -> AsyncIterator[SpawnedService]:
    """A fresh service on a loopback port, stopped (and its events counted) on exit.

    ``http``: with an HTTP listener (``--http-listen``, the v2 API) on another port.
    Raises ``LoadTestError`` if it does not start within ``START_TIMEOUT_S``.
    """
    if how not in SPAWN_KINDS:
        raise LoadTestError(f"spawn: expected one of {SPAWN_KINDS}, got {how!r}")
    with tempfile.TemporaryDirectory(prefix="loadtest-") as scratch:
        data_path = Path(scratch) / "data"
        spawn = subprocess_service if how == "subprocess" else _in_process
        async with spawn(data_path, Path(scratch) / "service.log", http) as service:
            try:
                yield service
            finally:
                service.unpin()
        counts = await trio.to_thread.run_sync(count_stored_by_type, data_path)
        service.stored_by_type, service.events_stored = counts, v1_events(counts)


@asynccontextmanager
async def _in_process(data_path: Path, _log: Path, http: bool) -> AsyncIterator[SpawnedService]:
    http_listen = "127.0.0.1:0" if http else None
    settings = Settings(listen="127.0.0.1:0", data_path=data_path, http_listen=http_listen)
    async with trio.open_nursery() as nursery:
        running = await nursery.start(serve, settings)
        service = SpawnedService(
            how="in-process",
            url=f"ws://127.0.0.1:{running.hub_port}",
            data_path=data_path,
            command="actors.service.serve(Settings(listen='127.0.0.1:0', data_path=<temp dir>"
            + (", http_listen='127.0.0.1:0'))" if http else "))"),
            http_url=f"http://127.0.0.1:{running.http_port}" if http else None,
        )
        try:
            yield service
        finally:
            running.stop()
    service.exit_code = 0


@asynccontextmanager
async def subprocess_service(
    data_path: Path, log_path: Path, http: bool = False
) -> AsyncIterator[SpawnedService]:
    port = free_port()
    http_port = free_port() if http else None
    args = service_command(port, data_path, http_port)
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            args, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    service = SpawnedService(
        how="subprocess",
        url=f"ws://127.0.0.1:{port}",
        data_path=data_path,
        command=shlex.join(args),
        process=process,
        log_path=log_path,
        http_url=None if http_port is None else f"http://127.0.0.1:{http_port}",
    )
    try:
        await _wait_until_accepting(service, process, port)
        if http_port is not None:
            await _wait_until_accepting(service, process, http_port)
        yield service
    finally:
        with trio.CancelScope(shield=True):
            service.exit_code = await _stop(process)


async def _wait_until_accepting(service: SpawnedService, process: trio.Process, port: int) -> None:
    with trio.move_on_after(START_TIMEOUT_S):
        while process.poll() is None:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return
    raise LoadTestError(
        f"the service did not start ({service.command}); exit code "
        f"{process.returncode}; its log ends:\n{service.log_tail()}"
    )


async def _stop(process: trio.Process) -> int:
    """SIGTERM and wait (a clean stop flushes everything); kill if it hangs."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_TIMEOUT_S):
            return await process.wait()
        process.kill()
    return await process.wait()
