"""Firehose: scripted students' frames, encoded once, written to the hub flat out or paced.

For the maximum-ingest benchmark. The load tester spends about as much CPU
per frame (build, encode, mask, send through trio-websocket) as the service
spends handling it, so on the one core a 2-core machine has to spare it
cannot outrun the service. The firehose builds each connection's frames once
from the same scripted students, masks them once, and then only writes
bytes; it reads (and drops) whatever the service answers, so the service
never has a reason to cut it off. Every count is exact: a frame counts once
the socket has taken all of it. Paced (``--rate``), it is the cheap
background ingest for latency benchmarks: the measuring process then has
the spare core to itself.

    python -m loadtest.firehose --url ws://127.0.0.1:8000 --connections 8 --duration 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import time
from pathlib import Path

import attrs
import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from courses import bundled_catalog
from loadtest.options import is_loopback
from loadtest.script import StudentScript, cast
from websocket.client import split_ws_url

FRAMES_PER_CHUNK = 100  # one socket write; the deadline is checked between writes
CHUNKS = 20  # distinct chunks per connection, sent round and round
PACE_TICK_S = 0.001


@attrs.frozen
class FirehoseResult:
    events_sent: int
    seconds: float  # from the first write to the last
    client_cpu_s: float

    def to_json(self) -> dict[str, float]:
        return attrs.asdict(self) | {"events_per_s": self.events_sent / max(self.seconds, 1e-9)}


def scripted_texts(url: str, connections: int, seed: int) -> list[tuple[str, list[str]]]:
    """Per connection: its URL (the student's stream) and the JSON frames it sends."""
    personas = cast(bundled_catalog(), [url], connections, seed, hub=True)
    texts = []
    for persona in personas:
        script = StudentScript(persona, seed)
        frames = [script.next_frame(t_ms=1_000 * n)[1] for n in range(CHUNKS * FRAMES_PER_CHUNK)]
        texts.append((persona.url, [orjson.dumps(frame).decode() for frame in frames]))
    return texts


@attrs.frozen
class _Pipe:
    """One open student connection and its masked frames, one by one and in chunks."""

    stream: trio.SocketStream
    raw: socket.socket  # the same socket, for writes that must not cost a scheduler pass
    frames: list[bytes]
    chunks: list[bytes]

    async def write(self, data: bytes) -> None:
        try:
            written = self.raw.send(data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            await self.stream.send_all(data[written:])


async def run_firehose(
    url: str, connections: int, duration_s: float, seed: int, rate: float | None = None
) -> FirehoseResult:
    """Open ``connections`` students, then write their frames for ``duration_s``.

    Flat out by default; with ``rate`` (events/s over all connections) each
    connection writes its frames one at a time on a schedule, the
    connections' phases spread evenly, and a late connection catches up in
    one write.
    """
    texts = await trio.to_thread.run_sync(scripted_texts, url, connections, seed)
    cpu = time.process_time()
    sent = [0]
    async with trio.open_nursery() as nursery:
        pipes: list[_Pipe] = [await nursery.start(_open, *text) for text in texts]
        start = trio.current_time()
        deadline = start + duration_s
        if rate is None:
            for pipe in pipes:
                nursery.start_soon(_pour, pipe, deadline, sent)
        else:
            nursery.start_soon(_pace, pipes, connections / rate, start, deadline, sent)
    return FirehoseResult(sent[0], trio.current_time() - start, time.process_time() - cpu)


async def _open(url: str, texts: list[str], *, task_status: trio.TaskStatus[_Pipe]) -> None:
    """Connect, shake hands, mask the frames; stays to read (and drop) every reply."""
    _, host, port, path = split_ws_url(url)
    raw = socket.create_connection((host, port))  # loopback only: immediate
    raw.setblocking(False)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(raw))
    async with stream:
        client = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(client.send(Request(host=host, target=path)))
        accepted = False
        while not accepted:
            data = await stream.receive_some(65536)
            if not data:
                raise ConnectionError(f"{url}: closed during the handshake")
            client.receive_data(data)
            accepted = any(isinstance(event, AcceptConnection) for event in client.events())
        frames = [client.send(TextMessage(text)) for text in texts]
        chunks = [
            b"".join(frames[i : i + FRAMES_PER_CHUNK])
            for i in range(0, len(frames), FRAMES_PER_CHUNK)
        ]
        task_status.started(_Pipe(stream, raw, frames, chunks))
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while await stream.receive_some(65536):
                pass


async def _pour(pipe: _Pipe, deadline: float, sent: list[int]) -> None:
    number = 0
    while trio.current_time() < deadline:
        await pipe.stream.send_all(pipe.chunks[number % len(pipe.chunks)])
        sent[0] += FRAMES_PER_CHUNK
        number += 1
    await _finish(pipe)


async def _pace(
    pipes: list[_Pipe], interval: float, start: float, deadline: float, sent: list[int]
) -> None:
    """Every connection one frame per ``interval``, phases spread evenly, from one task.

    One task with a 1 ms tick, not a task per connection: a wake-up per frame
    would cost the generator about as much CPU as the service.
    """
    phases = [start + interval * index / len(pipes) for index in range(len(pipes))]
    written = [0] * len(pipes)
    while (now := trio.current_time()) < deadline:
        for index, pipe in enumerate(pipes):
            due = int((now - phases[index]) / interval) + 1 if now >= phases[index] else 0
            if due > written[index]:
                count = len(pipe.frames)
                frames = (pipe.frames[n % count] for n in range(written[index], due))
                await pipe.write(b"".join(frames))
                sent[0] += due - written[index]
                written[index] = due
        await trio.sleep_until(now + PACE_TICK_S)
    for pipe in pipes:
        await _finish(pipe)


async def _finish(pipe: _Pipe) -> None:
    # FIN, not a close: the reader keeps draining (unread replies would make
    # our close a reset, and a reset can drop frames the service has not read).
    await pipe.stream.send_eof()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, help="events/s over all connections (flat out)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not is_loopback(split_ws_url(args.url)[1]):
        parser.error("the firehose only targets loopback addresses")
    result = trio.run(run_firehose, args.url, args.connections, args.duration, args.seed, args.rate)
    figures = result.to_json()
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
