"""Durable ``addLog`` throughput and latency, one core, keep-alive, against bare Hypercorn.

Issue 14's target: at least 1,500 statements/s with the service on one core,
i.e. at least 60 % of the trivial POST rate of bare Hypercorn (trio) measured
in the same run, and a latency bounded by the commit window (50 ms).

Each round runs two cases, interleaved (a noisy minute hits both alike):

    bare     ``benchmarks/bench_http.py``'s bare ASGI callable answering a
             trivial POST on the same Hypercorn config: the stack's ceiling
    addlog   the real service (``serve --http-listen``, defaults, fresh data
             directory): ``wrk`` POSTs valid statements (``--users`` users of
             spinner/ed1, timestamps rising, a graph node each) and every
             ``200`` means committed; after the service stopped its store is
             counted, so a ``200`` that was not kept shows

A connection has one statement in flight and gets its answer after the next
group commit, so a closed loop of N connections cannot exceed N per commit
cycle (``--flush-interval-s`` plus the commit): the default 128 makes the
CPU the limit. Each server is pinned to CPU 0 and ``wrk -t1 -cN`` runs on
CPU 1 (Debian's ``apt-get install -y wrk``). Printed: statements/s, wrk's
latency p50/p90/p99, the server's CPU per request, statements stored against
answered. Loopback only; every case is bounded by ``--duration``.

    uv run python benchmarks/bench_v2_addlog.py [--duration 10] [--connections 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_http import ORIGIN, free_port, latency_ms, wait_listening  # noqa: E402

from loadtest.machine import pin_apart, process_cpu_seconds, run_header  # noqa: E402
from loadtest.spawn import cli_command  # noqa: E402
from store import DATABASE_NAME  # noqa: E402

ADDLOG = "/analytics/logging/api/v1/addLog"
NODES = ("voltage_step", "voltage_ramp", "position_step", "position_ramp", "speed_step")

# One request per call of ``request``: user i % users, a rising timestamp, a node.
# The statement is the shape the lab UIs send (PROTOCOL-V2.md "Writing").
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "%(origin)s"
local users = %(users)d
local nodes = {%(nodes)s}
local i = 0
local t0 = %(t0)d
request = function()
  i = i + 1
  local user = "wrk-" .. (i %% users)
  local node = nodes[(i * 7) %% #nodes + 1]
  local body = string.format(
    '{"timestamp":%%d,"level":"INFO","type":"analytics","version":"3.0.0",' ..
    '"actor":{"id":"%%s","course":"ed1"},' ..
    '"verb":{"name":"clicked","definition":"http://x%(addlog_base)s/verbs/clicked"},' ..
    '"object":{"id":"%%s-button","parent":"panel","ui":"spinner"},' ..
    '"context":{"event_type":"click","event_timestamp":%%d,"x":%%d,"y":20,' ..
    '"exp_id":"spin30","graph_node":"%%s"}}',
    t0 + i, user, node, t0 + i, i %% 1920, node)
  local path = "%(addlog)s?username=" .. user .. "&course=ed1&hardware=spinner"
  return wrk.format(nil, path, nil, body)
end
"""


def lua_script(directory: Path, users: int) -> Path:
    path = directory / "addlog.lua"
    text = LUA % {
        "origin": ORIGIN,
        "users": users,
        "nodes": ", ".join(f'"{node}"' for node in NODES),
        "t0": int(time.time() * 1000),
        "addlog": ADDLOG,
        "addlog_base": ADDLOG.removesuffix("/addLog"),
    }
    path.write_text(text)
    return path


def count_statements(data: Path) -> int:
    connection = sqlite3.connect(f"file:{data / DATABASE_NAME}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        connection.close()


def wrk_figures(out: str) -> dict[str, float]:
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "requests": float(total),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency_ms(out, "50%"),
        "p90": latency_ms(out, "90%"),
        "p99": latency_ms(out, "99%"),
    }


def run_case(name: str, args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    """One round of one case: a fresh pinned server, a warm-up, then ``--duration`` of wrk."""
    port = free_port()
    data = scratch / f"data-{time.monotonic_ns()}"
    if name == "bare":
        command = [sys.executable, str(HERE / "bench_http.py"), "--serve", "bare"]
        command += ["--port", str(port)]
        url, lua = f"http://127.0.0.1:{port}/", None
    else:
        hub = free_port()
        command = cli_command(
            "serve", "--listen", f"127.0.0.1:{hub}", "--http-listen", f"127.0.0.1:{port}",
            "--data", str(data),
        )  # fmt: skip
        url, lua = f"http://127.0.0.1:{port}{ADDLOG}", lua_script(scratch, args.users)
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    stored = None
    try:
        wait_listening(port)
        pinned = pin_apart(server.pid)
        wrk = ["wrk", "-t1", f"-c{args.connections}", "--latency", url]
        if lua is not None:
            wrk += ["-s", str(lua)]
        warm = subprocess.run([*wrk, "-d2s"], check=True, capture_output=True, text=True).stdout
        cpu_before = process_cpu_seconds(server.pid)
        out = subprocess.run(
            [*wrk, f"-d{args.duration}s"], check=True, capture_output=True, text=True
        ).stdout
        cpu_after = process_cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures = wrk_figures(out)
    if lua is not None:
        before = wrk_figures(warm)
        answered = figures["requests"] + before["requests"] - figures["non_2xx"] - before["non_2xx"]
        stored = count_statements(data)
        figures |= {"answered_200": answered, "stored": float(stored)}
    cpu_known = cpu_before is not None and cpu_after is not None and figures["requests"]
    figures["cpu_us"] = (
        (cpu_after - cpu_before) / figures["requests"] * 1e6 if cpu_known else float("nan")
    )
    figures["pinned"] = float(pinned is not None)
    return figures


def summary(name: str, rounds: list[dict[str, float]]) -> str:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    rates = ", ".join(f"{r['rate']:.0f}" for r in rounds)
    line = (
        f"{name:8s} {median('rate'):7.0f} req/s ({rates})  p50 {median('p50'):6.2f} ms  "
        f"p90 {median('p90'):6.2f}  p99 {median('p99'):6.2f}  CPU {median('cpu_us'):5.0f} us/req"
        + ("" if all(r["pinned"] for r in rounds) else "  (not pinned)")
    )
    if any(r["non_2xx"] for r in rounds):
        line += f"  NON-2XX {sum(r['non_2xx'] for r in rounds):.0f}"
    if "stored" in rounds[0]:
        kept = ", ".join(f"{r['stored']:.0f}/{r['answered_200']:.0f}" for r in rounds)
        line += f"\n         stored/answered 200 (a partial request cut by wrk may be kept): {kept}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per case")
    # Each connection has one statement in flight, answered after the next commit (every
    # 50 ms plus the commit itself): 32 connections cap durable addLog at ~300-550/s
    # whatever the CPU, so the default keeps enough in flight to make the CPU the limit.
    parser.add_argument("--connections", type=int, default=128, help="keep-alive connections")
    parser.add_argument("--users", type=int, default=250, help="students whose statements go")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both cases, interleaved")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    print(run_header())
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s keep-alive; {args.users} users")
    rounds: dict[str, list[dict[str, float]]] = {"bare": [], "addlog": []}
    with tempfile.TemporaryDirectory(prefix="bench-v2-addlog-") as scratch:
        for _ in range(args.rounds):
            for name, measured in rounds.items():
                measured.append(run_case(name, args, Path(scratch)))
    for name, measured in rounds.items():
        print(summary(name, measured))
    share = [a["rate"] / b["rate"] for a, b in zip(rounds["addlog"], rounds["bare"], strict=True)]
    print(
        "addlog / bare per round: "
        + ", ".join(f"{100 * s:.0f} %" for s in share)
        + f"; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("targets: >= 1,500 statements/s and >= 60 % of bare; latency bounded by 50 ms")


if __name__ == "__main__":
    main()
