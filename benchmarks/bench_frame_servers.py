"""CPU per received frame: trio-websocket's server against the hub's own, and raw trio.

Each server only counts what it receives. It runs in a subprocess pinned to
one CPU; the paced firehose (``loadtest/firehose.py``) sends ``--rate``
frames/s over ``--connections`` connections, one frame per write, from the
other CPU. The figure is the server's CPU time over the frames sent: what
the WebSocket layer costs before the service does anything with an event.

    uv run python benchmarks/bench_frame_servers.py [--rate 10000] [--connections 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from loadtest.machine import pin_apart, process_cpu_seconds, run_header
from loadtest.spawn import firehose_command, free_port, load_process
from websocket.handshake import HandshakeReader, Upgrade
from websocket.opening import accept_websocket
from websocket.transport import TransportClosed

KINDS = ("raw-bytes", "hub", "trio-websocket")


async def count_trio_websocket(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.get_message()


async def count_hub(stream: trio.SocketStream) -> None:
    ws = await accept_websocket(stream, max_message_bytes=1 << 16)
    if ws is not None:
        with contextlib.suppress(TransportClosed):
            while True:
                await ws.receive_messages()


async def count_raw_bytes(stream: trio.SocketStream) -> None:
    handshake = HandshakeReader()
    while (outcome := handshake.feed(await stream.receive_some(65536))) is None:
        pass
    if isinstance(outcome, Upgrade):
        await stream.send_all(outcome.response)
        while await stream.receive_some(65536):
            pass


async def serve(kind: str, port: int) -> None:
    """One of the counting servers, until killed."""
    if kind == "trio-websocket":
        await serve_websocket(count_trio_websocket, "127.0.0.1", port, None, message_queue_size=16)
    count = count_hub if kind == "hub" else count_raw_bytes

    async def guarded(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await count(stream)

    await trio.serve_tcp(guarded, port, host="127.0.0.1")


async def measure(kind: str, args: argparse.Namespace) -> float:
    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, str(port)]
    async with load_process(command, timeout_s=1.0) as server:
        pin_apart(server.pid)
        await trio.sleep(1.5)  # imports, listening
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "firehose.json"
            firehose = firehose_command(
                f"ws://127.0.0.1:{port}", out,
                "--connections", str(args.connections), "--rate", str(args.rate),
                "--duration", str(args.duration),
            )  # fmt: skip
            before = process_cpu_seconds(server.pid) or 0.0
            async with load_process(firehose, timeout_s=args.duration + 30):
                pass
            used = (process_cpu_seconds(server.pid) or 0.0) - before
            sent = json.loads(out.read_text())["events_sent"]
        server.kill()
    return 1e6 * used / sent


async def run(args: argparse.Namespace) -> None:
    print(f"{args.rate:.0f} frames/s over {args.connections} connections, {args.duration:g} s each")
    for _ in range(args.repeat):
        for kind in KINDS:
            print(f"  {kind:15s} {await measure(kind, args):6.1f} µs of server CPU per frame")


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        trio.run(serve, sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(run_header())
    trio.run(run, args)


if __name__ == "__main__":
    main()
