"""What access control costs a running service: a forget and a retention pass beside a lab.

1. Writes a store of ``--events`` events (default 300,000, half of them older
   than the retention) of ``--users`` students (``bench_erase.fill``).
2. Starts the service on loopback with access control on and
   ``--retention-days``; a lab (one hub connection, its code from
   ``POST /session/<stream>``) sends ``--rate`` events a second for
   ``--seconds`` and asks for its graph every 0.1 s.
3. A second into it, an admin forgets the busiest stored user over HTTP.

Prints: the upgrade with its code (handshake time), the forget (HTTP
round trip, what it erased), the retention pass (from the service's own
``retention.pass`` line), the longest gap between two commits while the
lab sends (how long the writer was held: by the forget, by a batch) and the
lab's request round trips. Bounded: one service, loopback, ``--seconds``.

    uv run python benchmarks/bench_access_live.py [--events 300000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import trio
from bench_erase import DAY_MS, fill

from actors.service import serve
from config.settings import AccessControl, Settings
from loadtest.machine import run_header
from websocket.client import open_client

SECRET = "bench-secret-" + "x" * 40
PUBLIC = "https://la.example.org"


def token(**claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"aud": PUBLIC, "exp": now + 600, "nbf": now - 5, **claims}, SECRET, "HS256")


def post(port: int, path: str, authorization: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, headers={"Authorization": authorization})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class PassLine(logging.Handler):
    """Keeps the service's ``retention.pass`` line."""

    def __init__(self) -> None:
        super().__init__()
        self.passes: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "retention.pass":
            self.passes.append({k: getattr(record, k) for k in ("erased", "batches", "seconds")})


async def bench(args: argparse.Namespace, data: Path, victim: str) -> None:
    secret = data.parent / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    settings = Settings(
        listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_path=data,
        access_control=AccessControl.ON,
        access_secret_file=secret,
        public_url=PUBLIC,
        retention_days=args.days // 2,
    )
    lines = PassLine()
    logging.getLogger("actors.retention").addHandler(lines)
    logging.getLogger("actors.retention").setLevel(logging.INFO)
    commits: list[float] = []
    round_trips: list[float] = []
    async with trio.open_nursery() as nursery:
        service = await nursery.start(serve, settings)
        previous = service.writer.on_commit

        def on_commit(events: int, rows: int, seconds: float) -> None:
            if events:
                commits.append(time.perf_counter())
            if previous is not None:
                previous(events, rows, seconds)

        service.writer.on_commit = on_commit
        booking = token(topic="spin30-log", prefix="session", scopes=["read", "write"])
        started = time.perf_counter()
        status, body = await trio.to_thread.run_sync(
            post, service.http_port, "/session/spin30-log", booking
        )
        uri = urlsplit(json.loads(body)["uri"])
        async with open_client(f"ws://127.0.0.1:{service.hub_port}{uri.path}?{uri.query}") as ws:
            opened = time.perf_counter() - started
            print(
                f"POST /session + upgrade with the code: {opened * 1000:.1f} ms (status {status})"
            )
            forget: dict[str, Any] = {}

            async def forget_later() -> None:
                await trio.sleep(1.0)
                admin = "Bearer " + token(sub="root", role="admin")
                began = time.perf_counter()
                code, answer = await trio.to_thread.run_sync(
                    post, service.http_port, f"/admin/forget/{victim}", admin
                )
                forget.update(
                    json.loads(answer), status=code, ms=(time.perf_counter() - began) * 1e3
                )

            async def ask() -> None:
                frame = {"user": "lab", "type": "request", "exp": "spinner", "course": "cie3"}
                while True:
                    began = time.perf_counter()
                    await ws.send_message(
                        json.dumps({**frame, "payload": {"content": "indicators"}})
                    )
                    await ws.get_message()
                    round_trips.append(time.perf_counter() - began)
                    await trio.sleep(0.1)

            async with trio.open_nursery() as lab:
                lab.start_soon(forget_later)
                lab.start_soon(ask)
                end = time.perf_counter() + args.seconds
                t = 0
                while time.perf_counter() < end:
                    t += 1
                    log = random.choice(["voltage", "speed", "position"])
                    await ws.send_message(
                        json.dumps(
                            {
                                "user": "lab",
                                "t": t,
                                "type": "analytics",
                                "exp": "spinner",
                                "course": "cie3",
                                "payload": {"log": log},
                            }
                        )
                    )
                    await trio.sleep(1 / args.rate)
                lab.cancel_scope.cancel()
        service.stop()
    gaps = [b - a for a, b in itertools.pairwise(commits)]
    print(
        f"forget {victim} over HTTP: status {forget.get('status')}, {forget.get('ms', 0):.0f} ms; "
        f"{forget.get('events')} events, {forget.get('progress_rows')} snapshots erased, "
        f"{forget.get('buffered_events_dropped')} dropped from memory"
    )
    if not lines.passes:
        print(f"retention pass: not finished within the {args.seconds} s run")
    for line in lines.passes:
        print(
            f"retention pass: {line['erased']:,} events in {line['batches']} batches, "
            f"{line['seconds']} s"
        )
    print(
        f"lab: {t:,} events at {args.rate}/s; commits {len(commits)}, longest gap "
        f"{max(gaps) * 1000:.0f} ms, median {statistics.median(gaps) * 1000:.0f} ms"
    )
    print(
        f"lab requests: {len(round_trips)}, median {statistics.median(round_trips) * 1000:.1f} ms, "
        f"max {max(round_trips) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    print(run_header())
    with tempfile.TemporaryDirectory(prefix="bench-access-") as directory:
        data = Path(directory) / "data"
        # Recent: received_ms spans the last ``days`` days, so half is past the retention.
        victim = fill(data, args.events, args.users, args.days, random.Random(args.seed))
        now = int(time.time() * 1000)
        with sqlite3.connect(data / "analytics.sqlite3") as db:
            (first,) = db.execute("SELECT min(received_ms) FROM events").fetchone()
            db.execute(
                "UPDATE events SET received_ms = received_ms + ?",
                (now - first - args.days * DAY_MS,),
            )
        print(f"store: {args.events:,} events of {args.users:,} users over {args.days} days")
        trio.run(bench, args, data, victim)


if __name__ == "__main__":
    main()
