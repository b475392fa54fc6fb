"""What one HTTP request costs the load tester: httpx, an h11 client, ``loadtest.http1``.

The v2 load tester shares its core with the dashboards that measure, so its
own CPU per statement decides what rate it can offer. This runs the same
keep-alive POSTs (a 300-byte statement, ``--connections`` connections, one
request in flight on each) with three clients under trio against a server
that answers at once (a bare trio socket server in its own process, pinned
to CPU 0; the clients on CPU 1), and prints the client's CPU per request.

    uv run python benchmarks/bench_v2_client.py [--requests 6000] [--connections 32]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import h11
import httpx
import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_http import free_port, wait_listening  # noqa: E402

from loadtest.http1 import HttpConnection, build_request  # noqa: E402
from loadtest.machine import pin_apart, run_header  # noqa: E402

PATH = "/analytics/logging/api/v1/addLog?username=u1&course=ed1&hardware=spinner"
BODY = (b'{"timestamp":1700000000000,"level":"INFO","type":"analytics","verb":{"name":"clicked"},'
        b'"actor":{"id":"u1","course":"ed1"},"object":{"id":"voltage-btn","parent":"p","ui":"s"},'
        b'"context":{"event_type":"click","x":10,"y":20,"exp_id":"spin30",'
        b'"graph_node":"voltage_step"}}')  # fmt: skip
REPLY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n"
REPLY += b'{"stored":true}'


async def serve(port: int) -> None:
    """Answers every request (head, then Content-Length bytes) at once, keep-alive."""

    async def handle(stream: trio.SocketStream) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += await stream.receive_some(65536)
                buffer = buffer[length:]
                await stream.send_all(REPLY)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    await trio.serve_tcp(handle, port, host="127.0.0.1")


# ---- the clients: each sends ``n`` POSTs on one keep-alive connection -------------------


async def with_httpx(port: int, n: int, client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{port}{PATH}"
    headers = {"Content-Type": "application/json", "Origin": "http://x"}
    for _ in range(n):
        reply = await client.post(url, content=BODY, headers=headers)
        assert reply.status_code == 200


async def with_h11(port: int, n: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    connection = h11.Connection(h11.CLIENT)
    headers = [("Host", f"127.0.0.1:{port}"), ("Content-Type", "application/json"),
               ("Origin", "http://x"), ("Content-Length", str(len(BODY)))]  # fmt: skip
    async with stream:
        for _ in range(n):
            data = connection.send(h11.Request(method="POST", target=PATH, headers=headers))
            data += connection.send(h11.Data(data=BODY)) + connection.send(h11.EndOfMessage())
            await stream.send_all(data)
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.EndOfMessage):
                    break
            connection.start_next_cycle()


async def with_http1(port: int, n: int) -> None:
    connection = HttpConnection("127.0.0.1", port, 5.0)
    headers = (("Origin", "http://x"), ("Content-Type", "application/json"))
    try:
        for _ in range(n):
            data = build_request("POST", PATH, f"127.0.0.1:{port}", headers, BODY)
            reply = await connection.request(data)
            assert reply.status == 200
    finally:
        await connection.aclose()


async def measure(name: str, port: int, requests: int, connections: int) -> float:
    each = requests // connections
    start = time.process_time()
    async with trio.open_nursery() as nursery:
        if name == "httpx":
            limits = httpx.Limits(max_connections=connections)
            async with httpx.AsyncClient(limits=limits) as client, trio.open_nursery() as inner:
                for _ in range(connections):
                    inner.start_soon(with_httpx, port, each, client)
        else:
            for _ in range(connections):
                nursery.start_soon(with_h11 if name == "h11" else with_http1, port, each)
    return (time.process_time() - start) / (each * connections) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        trio.run(serve, args.serve)
        return
    print(run_header())
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        wait_listening(port)
        pin_apart(server.pid)
        results: dict[str, list[float]] = {"httpx": [], "h11": [], "http1": []}
        for _ in range(args.rounds):  # interleaved
            for name, found in results.items():
                found.append(trio.run(measure, name, port, args.requests, args.connections))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{args.connections} keep-alive connections, {args.requests} POSTs per round")
    for name, found in results.items():
        rounds = ", ".join(f"{us:.0f}" for us in found)
        print(f"{name:6s} client CPU per request: {min(found):6.0f} us (rounds: {rounds})")


if __name__ == "__main__":
    main()
