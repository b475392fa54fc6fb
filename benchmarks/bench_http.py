"""Requests/s and latency of the HTTP stack, one core, keep-alive, ``wrk`` on the other core.

Compares, in one run, the price of each layer over the same Hypercorn trio
worker and limits (``web.server.hypercorn_config``):

    bare          a bare ASGI callable answering a trivial POST
    starlette     Starlette, one trivial POST route, Starlette's CORSMiddleware
    ours-trivial  our app (web.app.build_app: edge CORS, error handlers), POST /session/spin30
    ours-healthz  our app, GET /healthz
    ours-addlog   our app, POST addLog (300-byte statement) into a backend that
                  returns at once: the shell's ceiling, not durable writes
    ours-addlog-credential  the same with the UIs' credential configured and sent

Each server runs in its own process pinned to one CPU; ``wrk`` (Debian's
``apt-get install -y wrk``) runs on the other CPUs with keep-alive
connections. Printed per case: requests/s, latency p50/p90/p99 from wrk,
and the server's CPU per request. Loopback only; each case is bounded by
``--duration``.

    uv run python benchmarks/bench_http.py [--duration 10] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest.machine import pin_apart, process_cpu_seconds, run_header  # noqa: E402

WHO = "username=3f2a4c1e-9b7d-4e0a-8c51-2d6f0e9a7b13&course=ed1&hardware=spinner"
STATEMENT = (
    '{"timestamp":1700000000000,"level":"INFO","type":"analytics","version":"2.1",'
    '"actor":{"id":"3f2a4c1e-9b7d-4e0a-8c51-2d6f0e9a7b13","course":"ed1"},'
    '"verb":{"name":"clicked","definition":"http://x/analytics/logging/api/v1/verbs/clicked"},'
    '"object":{"id":"voltage-btn","parent":"controls","ui":"spinner-ui"},'
    '"context":{"event_type":"click","x":10,"y":20,"exp_id":"spin30","graph_node":"voltage"}}'
)
UI_TOKEN = "bGFiLXVpOnNoYXJlZC1zZWNyZXQ="
ORIGIN = "https://dashboard.example"

# name -> (server kind, method, path, body, extra headers)
CASES = {
    "bare": ("bare", "POST", "/", "{}", {}),
    "starlette": ("starlette", "POST", "/", "{}", {}),
    "ours-trivial": ("ours", "POST", "/session/spin30", "", {}),
    "ours-healthz": ("ours", "GET", "/healthz", "", {}),
    "ours-addlog": ("ours", "POST", f"/analytics/logging/api/v1/addLog?{WHO}", STATEMENT, {}),
    "ours-addlog-credential": (
        "ours-credential",
        "POST",
        f"/analytics/logging/api/v1/addLog?{WHO}",
        STATEMENT,
        {"Authorization": f"Basic {UI_TOKEN}"},
    ),
}


# ---- the servers (run with --serve KIND in a subprocess) ---------------------


def bare_app():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})

    return app


def starlette_app():
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.middleware import Middleware  # noqa: PLC0415
    from starlette.middleware.cors import CORSMiddleware  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    async def trivial(request):
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    cors = Middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "content-type"],
    )
    return Starlette(routes=[Route("/", trivial, methods=["POST"])], middleware=[cors])


class InstantBackend:
    """A v2 backend that stores nothing and answers at once: the shell's own cost."""

    async def add_statement(self, identity, body):
        return None

    async def read(self, endpoint, identity, params):
        return {}

    async def submit_feedback(self, identity, body):
        return None

    async def iter_log_lines(self):
        return
        yield b""


def ours_app(credential: bool):
    from config.credentials import hash_secret  # noqa: PLC0415
    from config.settings import Settings  # noqa: PLC0415
    from tests.web.conftest import FakeOps  # noqa: PLC0415
    from web.app import build_app  # noqa: PLC0415

    hashed = str(hash_secret(UI_TOKEN.encode())) if credential else None
    settings = Settings(http_listen="127.0.0.1:0", ui_credential_hash=hashed)
    return build_app(FakeOps(), settings, InstantBackend())


def serve(kind: str, port: int) -> None:
    import trio  # noqa: PLC0415
    from hypercorn.trio import serve as hypercorn_serve  # noqa: PLC0415

    from web.server import hypercorn_config  # noqa: PLC0415

    apps = {
        "bare": bare_app,
        "starlette": starlette_app,
        "ours": lambda: ours_app(credential=False),
        "ours-credential": lambda: ours_app(credential=True),
    }
    app = apps[kind]()
    trio.run(hypercorn_serve, app, hypercorn_config(f"127.0.0.1:{port}", 1.0))


# ---- the app alone: no server, no socket --------------------------------------


def app_alone(requests: int = 5000) -> list[str]:
    """CPU per request of each app called directly as ASGI (what the layers cost)."""
    import trio  # noqa: PLC0415

    apps = {
        "bare": bare_app(),
        "starlette": starlette_app(),
        "ours": ours_app(credential=False),
        "ours-credential": ours_app(credential=True),
    }

    async def call(app, method: str, path: str, body: str, headers: dict[str, str]) -> None:
        route, _, query = path.partition("?")
        raw = [(b"host", b"x"), (b"origin", ORIGIN.encode())]
        raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.1"},
            "http_version": "1.1", "method": method, "scheme": "http", "path": route,
            "raw_path": route.encode(), "query_string": query.encode(), "root_path": "",
            "headers": raw, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {},
        }  # fmt: skip
        messages = [{"type": "http.request", "body": body.encode(), "more_body": False}]

        async def receive():
            if not messages:
                await trio.sleep_forever()
            return messages.pop()

        async def send(_message) -> None:
            return None

        await app(scope, receive, send)

    async def measure() -> list[str]:
        rows = []
        for name, (kind, method, path, body, headers) in CASES.items():
            app = apps[kind]
            for _ in range(200):  # warm-up; the credential's one scrypt happens here
                await call(app, method, path, body, headers)
            start = time.process_time()
            for _ in range(requests):
                await call(app, method, path, body, headers)
            cpu_us = (time.process_time() - start) / requests * 1e6
            rows.append(f"{name:24s} {cpu_us:6.1f} us CPU per request (app alone)")
        return rows

    return trio.run(measure)


# ---- download-logs: a large zip streamed ------------------------------------------


def zip_memory(megabytes: int) -> str:
    """Stream ``megabytes`` of JSON lines through ``zip_lines``: RSS growth and speed."""
    import random  # noqa: PLC0415

    import trio  # noqa: PLC0415

    from web.zipstream import zip_lines  # noqa: PLC0415

    rng = random.Random(5)
    template = (
        STATEMENT.replace("1700000000000", "%d")
        .replace("3f2a4c1e-9b7d-4e0a-8c51-2d6f0e9a7b13", "%s")
        .replace('"x":10,"y":20', '"x":%d,"y":%d')
        .replace('node":"voltage', 'node":"%s')
        .encode()
    )
    nodes = [b"voltage", b"speed", b"position", b"voltage_ramp", b"speed_ramp"]
    users = [b"%032x" % rng.getrandbits(128) for _ in range(250)]

    def line() -> bytes:
        user = rng.choice(users)
        t = 1_700_000_000_000 + rng.getrandbits(30)
        x, y = rng.randrange(1920), rng.randrange(1080)
        return template % (t, user, x, y, rng.choice(nodes)) + b"\n"

    async def pages():  # a page of 500 lines, as a store read would give
        made = 0
        while made < megabytes * 1_000_000:
            page = b"".join(line() for _ in range(500))
            made += len(page)
            await trio.lowlevel.checkpoint()
            yield page

    def rss_mb() -> float:
        resident = int(Path("/proc/self/statm").read_text().split()[1])
        return resident * os.sysconf("SC_PAGE_SIZE") / 2**20

    async def run() -> tuple[int, float, float]:
        zipped, peak = 0, rss_mb()
        start = time.process_time()
        async for chunk in zip_lines(pages()):
            zipped += len(chunk)
            peak = max(peak, rss_mb())
        return zipped, peak, time.process_time() - start

    before = rss_mb()
    zipped, peak, cpu_s = trio.run(run)
    return (
        f"download-logs: {megabytes} MB of lines -> {zipped / 1e6:.1f} MB zip, "
        f"RSS {before:.0f} MB before, +{peak - before:.1f} MB at most while streaming, "
        f"{megabytes / cpu_s:.0f} MB/s of CPU (making the lines included)"
    )


# ---- the driver ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise SystemExit(f"server on port {port} did not start within {timeout_s} s")


def lua_script(directory: Path, method: str, body: str, headers: dict[str, str]) -> Path:
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Origin"] = "{ORIGIN}"']
    if body:
        lines += [f"wrk.body = [[{body}]]", 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    path = directory / f"case-{method}-{len(body)}-{len(headers)}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def latency_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * UNITS[match.group(2)] if match else float("nan")


def run_case(name: str, args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    """One round of one case: a fresh pinned server, a warm-up, then ``--duration`` of wrk."""
    kind, method, path, body, headers = CASES[name]
    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT)
    try:
        wait_listening(port)
        pinned = pin_apart(server.pid)
        script = lua_script(scratch, method, body, headers)
        url = f"http://127.0.0.1:{port}{path}"
        wrk = ["wrk", "-t1", f"-c{args.connections}", "--latency", "-s", str(script), url]
        subprocess.run([*wrk, "-d2s"], check=True, capture_output=True)  # warm-up
        cpu_before = process_cpu_seconds(server.pid)
        out = subprocess.run(
            [*wrk, f"-d{args.duration}s"], check=True, capture_output=True, text=True
        ).stdout
        cpu_after = process_cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    cpu_known = cpu_before is not None and cpu_after is not None and total
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency_ms(out, "50%"),
        "p90": latency_ms(out, "90%"),
        "p99": latency_ms(out, "99%"),
        "cpu_us": (cpu_after - cpu_before) / total * 1e6 if cpu_known else float("nan"),
        "pinned": float(pinned is not None),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def summary(name: str, rounds: list[dict[str, float]]) -> str:
    """Medians over the rounds (the rounds of all cases are interleaved)."""

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    rates = ", ".join(f"{r['rate']:.0f}" for r in rounds)
    return (
        f"{name:24s} {median('rate'):7.0f} req/s ({rates})  p50 {median('p50'):6.2f} ms  "
        f"p90 {median('p90'):6.2f}  p99 {median('p99'):6.2f}  "
        f"CPU {median('cpu_us'):5.0f} us/req"
        + ("" if all(r["pinned"] for r in rounds) else "  (not pinned)")
        + (f"  NON-2XX {sum(r['non_2xx'] for r in rounds):.0f}" if median("non_2xx") else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per case")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every case, interleaved")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--zip-mb", type=int, default=200, help="download-logs size; 0: skip")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    print(run_header())
    # The machine's speed right now (a shared VM varies): scale figures by it.
    reference_ms = min(timeit.repeat("sum(range(10**6))", number=5, repeat=5)) / 5 * 1e3
    print(f"reference: sum(range(10**6)) takes {reference_ms:.1f} ms on this core now")
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s, keep-alive, Origin header on")
    print("medians of the rounds; req/s of each round in brackets")
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in args.cases}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as scratch:
        for _ in range(args.rounds):  # interleaved: a noisy minute hits every case alike
            for name in args.cases:
                rounds[name].append(run_case(name, args, Path(scratch)))
    for name, measured in rounds.items():
        print(summary(name, measured), flush=True)
    print("each app called directly as ASGI, no server and no socket:")
    for row in app_alone():
        print(row)
    if args.zip_mb:
        print(zip_memory(args.zip_mb))


if __name__ == "__main__":
    main()
