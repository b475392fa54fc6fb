"""The floods of ``bench_hostile.py``, one per run of this script, as a hostile client would.

Each attack is bounded in count and in time, runs on loopback only, at the
lowest CPU priority (so the measuring process on the same CPU is not starved
by it), and writes what it did as JSON:

    python benchmarks/hostile_attacks.py ATTACK --port P --duration S --json FILE

Attacks come from their own loopback addresses (127.0.2.x and up), so the
cap per address they meet is theirs, not the measured clients'.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import trio

from loadtest.rawws import RawWebSocket, Refused, client_frame, text_frame
from websocket.frames import OP_CLOSE, OP_CONTINUATION, OP_TEXT

ATTACKER = "127.0.2.1"


def event(user: str, t: int, payload: dict, kind: str = "analytics") -> dict:
    return {"user": user, "t": t, "type": kind, "exp": "spinner", "course": "cie3",
            "payload": payload}  # fmt: skip


def all_feedback(user: str, number: int) -> str:
    payload = {"content": "all_feedback", "graph": "spinner-cie3-3"}
    frame = {"user": user, "type": "request", "exp": "spinner", "course": "cie3", "id": number,
             "payload": payload}  # fmt: skip
    return orjson.dumps(frame).decode()


class Tally:
    """What the attack did, and the "ready" signal: the flood is on (or the sockets held)."""

    def __init__(self, ready_file: Path | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self._ready_file = ready_file

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def ready(self) -> None:
        if self._ready_file is not None and not self._ready_file.exists():
            self._ready_file.write_text("ready")


def frames(template: str, first: int, count: int) -> bytes:
    """``count`` text frames of ``template % n`` (n from ``first``), built without orjson."""
    return b"".join(text_frame(template % n) for n in range(first, first + count))


async def drain(ws: RawWebSocket, tally: Tally) -> None:
    """Read (and count) what the service answers until it closes."""
    with contextlib.suppress(EOFError, OSError, trio.BrokenResourceError):
        while True:
            opcode, payload = await ws.receive()
            if opcode == OP_CLOSE:
                tally.add(f"closed {ws.close_code}")
                return
            reply = orjson.loads(payload)
            tally.add(reply.get("error", {}).get("code", "response"))


async def open_ws(port: int, tally: Tally, source: str = ATTACKER) -> RawWebSocket | None:
    try:
        ws = await RawWebSocket.open(port, "/attack", source=source)
    except Refused as refused:
        tally.add(f"refused {refused.status}")
        return None
    except (OSError, EOFError):
        tally.add("connect failed")
        return None
    tally.add("connected")
    return ws


async def pour(port: int, tally: Tally, chunk: Callable[[int], bytes], frames_per_chunk: int,
               bound: int, opening: bytes = b"") -> None:  # fmt: skip
    """Send ``opening``, then ``chunk(sent)`` flat out until ``bound`` frames; again on a
    new connection whenever one is closed."""
    sent = 0
    while sent < bound:
        ws = await open_ws(port, tally)
        if ws is None:
            await trio.sleep(0.1)
            continue
        tally.ready()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, ws, tally)
            with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                await ws.send(opening)
                while sent < bound:
                    await ws.send(chunk(sent))
                    sent += frames_per_chunk
                    tally.add("frames sent", frames_per_chunk)
            nursery.cancel_scope.cancel()
        await ws.aclose()


async def deep_frames(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """Events whose payload nests 300 levels deep (orjson reads 1024, writes 254)."""
    deep = "[" * 300 + "1" + "]" * 300  # orjson will not write it: text by hand
    frame = text_frame(
        '{"user": "deep", "t": 1, "type": "analytics", "exp": "spinner", "course": "cie3",'
        f' "payload": {{"log": "voltage", "data": {deep}}}}}'
    )
    tally.ready()
    for _ in range(args.count or 100):
        ws = await open_ws(port, tally)
        if ws is None:
            return  # the service is gone, or refuses us
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, ws, tally)
            with contextlib.suppress(OSError, trio.BrokenResourceError):
                await ws.send(frame)
                tally.add("frames sent")
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        await ws.aclose()


async def new_ids(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """Events of a new user id each, flat out, on one connection (200,000 ids)."""
    template = (
        '{"user": "flood-%07d", "t": 1, "type": "analytics", "exp": "spinner",'
        ' "course": "cie3", "payload": {"log": "voltage"}}'
    )
    await pour(port, tally, lambda sent: frames(template, sent, 100), 100, args.count or 200_000)


async def idle_sockets(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """Open WebSockets and hold them, saying nothing, from one or many addresses."""
    bound = args.count or 1_000
    held: list[RawWebSocket] = []
    addresses = args.addresses

    def source(number: int) -> str:
        if addresses <= 1:
            return ATTACKER
        index = number // 250 % addresses  # 250 a source: under the cap per address
        return f"127.0.{3 + index // 250}.{1 + index % 250}"

    async def open_some(worker: int) -> None:
        number = worker
        while len(held) < bound and number < bound * 2:
            ws = await open_ws(port, tally, source(number))
            number += 50
            if ws is not None:
                held.append(ws)

    with trio.move_on_after(args.duration):
        async with trio.open_nursery() as nursery:
            for worker in range(50):
                nursery.start_soon(open_some, worker)
        tally.add("held", len(held))
        tally.ready()
        await trio.sleep_forever()
    for ws in held:
        await ws.aclose()


async def empty_continuations(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """A text message of endless empty continuation frames, again on each close (30 M)."""
    chunk = client_frame(OP_CONTINUATION, b"", fin=False) * 10_000
    start = client_frame(OP_TEXT, b"{", fin=False)
    await pour(port, tally, lambda _: chunk, 10_000, args.count or 30_000_000, opening=start)


async def feedback_strings(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """100,000 feedbacks with distinct 500-character subjects, then 2 tiny ones a second."""
    template = (
        '{"user": "fb", "t": 1, "type": "feedback", "exp": "spinner", "course": "cie3",'
        ' "payload": {"state": "Curious", "subject": "%09d' + "s" * 491 + '"}}'
    )
    await pour(port, tally, lambda sent: frames(template, sent, 100), 100, args.count or 100_000)
    tiny = text_frame(
        '{"user": "fb", "t": 2, "type": "feedback", "exp": "spinner", "course": "cie3",'
        ' "payload": {"state": "Bored", "subject": "UI"}}'
    )
    ws = await open_ws(port, tally)
    if ws is not None:
        with contextlib.suppress(OSError, trio.BrokenResourceError):
            while True:
                await ws.send(tiny)
                tally.add("tiny feedbacks")
                await trio.sleep(0.5)


async def looping_dashboards(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """Four dashboards asking all_feedback again as soon as they are answered."""

    async def loop(number: int) -> None:
        ws = await open_ws(port, tally)
        if ws is None:
            return
        user = f"looper-{number}"
        await ws.send(b"".join(text_frame(orjson.dumps(event(user, t, {"log": "voltage"})).decode())
                               for t in range(50)))  # fmt: skip
        asked = 0
        with contextlib.suppress(EOFError, OSError, trio.BrokenResourceError):
            while True:
                await ws.send(text_frame(all_feedback(user, asked)))
                asked += 1
                reply = orjson.loads(await ws.receive_text())
                if "error" in reply:
                    tally.add(reply["error"]["code"])
                    continue
                for _ in range(4):
                    await ws.receive_text()
                tally.add("answered")

    async with trio.open_nursery() as nursery:
        for number in range(args.count or 4):
            nursery.start_soon(loop, number)
        tally.ready()


async def slow_readers(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """Dashboards that pipeline all_feedback requests and never read a reply."""

    async def hog(number: int) -> None:
        while True:
            ws = await open_ws(port, tally)
            if ws is None:
                await trio.sleep(0.5)
                continue
            ws.stream.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
            with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                for asked in range(1000):
                    await ws.send(text_frame(all_feedback(f"hog-{number}", asked)))
                    tally.add("requests sent")
                    await trio.sleep(0.01)
            tally.add("cut off")
            await ws.aclose()

    async with trio.open_nursery() as nursery:
        for number in range(args.count or 20):
            nursery.start_soon(hog, number)
        tally.ready()


async def big_events(port: int, tally: Tally, args: argparse.Namespace) -> None:
    """Events just under the 64 KiB frame limit, flat out (4,000: 240 MB)."""
    bound = args.count or 4_000
    template = (
        '{"user": "big", "t": %d, "type": "analytics", "exp": "spinner", "course": "cie3",'
        ' "payload": {"log": "voltage", "data": "' + "x" * 60_000 + '"}}'
    )
    await pour(port, tally, lambda sent: frames(template, sent, 1), 1, bound)


ATTACKS = {f.__name__: f for f in (deep_frames, new_ids, idle_sockets, empty_continuations,
           feedback_strings, looping_dashboards, slow_readers, big_events)}  # fmt: skip


async def run(args: argparse.Namespace) -> dict:
    """The attack until the stop file appears or ``--duration`` (a hard cap) is over."""
    tally = Tally(args.ready)
    with trio.move_on_after(args.duration):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ATTACKS[args.attack], args.port, tally, args)
            while args.stop is None or not args.stop.exists():  # noqa: ASYNC110 (a file)
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    return dict(tally.counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attack", choices=sorted(ATTACKS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=0, help="the attack's bound (0: its own)")
    parser.add_argument("--addresses", type=int, default=1, help="idle_sockets: many sources")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--ready", type=Path, help="created once the flood is on")
    parser.add_argument("--stop", type=Path, help="the attack ends once this exists")
    args = parser.parse_args()
    os.nice(19)  # the measuring clients share this CPU: they come first
    args.json.write_text(json.dumps(trio.run(run, args)))


if __name__ == "__main__":
    main()
