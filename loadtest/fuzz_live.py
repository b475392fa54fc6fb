"""Fuzzing a live hub: send ``FrameFuzzer``'s frames, check what comes back.

Each connection sends batches of fuzzed text frames, each batch followed by
a sync request of its own (``indicators`` with a unique id): once the sync's
reply is in, every frame before it has been read, and the replies are
checked against the oracle (``loadtest.fuzz.expect``): one error per invalid
frame, every reply of every valid request (or one ``overloaded``), nothing
else. Now and then a batch ends with a frame that breaks the protocol
instead: the connection must close with that frame's code. The caller
counts the stored events afterwards against ``FuzzReport.events``.
"""

from __future__ import annotations

import random
from collections import Counter

import attrs
import orjson
import trio

from loadtest.fuzz import Expected, FrameFuzzer, expect
from loadtest.rawws import RawWebSocket, text_frame

PATHS = ["/spin30", "/", "/a/b", "/x?y=1", "/" + "z" * 100]
REPLY_TIMEOUT_S = 10.0


@attrs.define
class FuzzReport:
    frames: Counter[str] = attrs.field(factory=Counter)  # by what the oracle expects
    closes: Counter[str] = attrs.field(factory=Counter)  # "name: expected -> got"
    problems: list[str] = attrs.field(factory=list)

    @property
    def events(self) -> int:
        """Valid events sent: each must be in the store."""
        return self.frames["event"]

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


def sync_request(number: str) -> bytes:
    frame = {"user": "fuzz-sync", "type": "request", "exp": "spinner", "course": "cie3",
             "id": number, "payload": {"content": "indicators"}}  # fmt: skip
    return text_frame(orjson.dumps(frame).decode())


async def fuzz_hub(
    port: int,
    *,
    frames: int,
    connections: int = 8,
    seed: int = 1,
    batch: int = 50,
    ending_chance: float = 0.05,
    max_depth: int = 1100,
) -> FuzzReport:
    """Send ``frames`` fuzzed frames over ``connections`` at once; what went wrong."""
    run = _Fuzzing(port, batch, ending_chance, FuzzReport())
    async with trio.open_nursery() as nursery:
        for number in range(connections):
            fuzzer = FrameFuzzer(seed * 1000 + number, max_depth=max_depth)
            nursery.start_soon(run.connection, fuzzer, frames // connections)
    return run.report


@attrs.frozen
class _Fuzzing:
    port: int
    batch: int
    ending_chance: float
    report: FuzzReport

    async def connection(self, fuzzer: FrameFuzzer, budget: int) -> None:
        """Batches until ``budget`` frames are sent, reconnecting after each ending."""
        rng = random.Random(fuzzer.rng.random())
        while budget > 0:
            try:
                ws = await RawWebSocket.open(self.port, rng.choice(PATHS))
            except (OSError, EOFError) as exc:  # the service is gone, or refuses us
                self.report.problem(f"cannot connect: {exc!r}")
                return
            try:
                ended = False
                while budget > 0 and not ended:
                    budget, ended = await self._batch(ws, fuzzer, rng, budget)
            except (EOFError, OSError, trio.BrokenResourceError) as exc:
                self.report.problem(f"connection lost unexpectedly ({ws.close_code}): {exc!r}")
            finally:
                await ws.aclose()

    async def _batch(
        self, ws: RawWebSocket, fuzzer: FrameFuzzer, rng: random.Random, budget: int
    ) -> tuple[int, bool]:
        """One batch: the budget left, and whether the batch closed the connection."""
        texts: list[str] = []
        expected: list[Expected] = []
        while len(texts) < min(self.batch, budget):
            text = fuzzer.text()
            outcome = expect(text)
            if outcome.kind == "request" and outcome.request_id is None:
                continue  # its replies could not be told from an invalid frame's error
            texts.append(text)
            expected.append(outcome)
        self.report.frames.update(e.kind for e in expected)
        data = b"".join(text_frame(text) for text in texts)
        if rng.random() < self.ending_chance:
            name, ending, code = fuzzer.ending()
            self.report.frames["ending"] += 1
            await _expect_close(ws, data + ending, name, code, self.report)
            return budget - len(texts), True
        sync = f"sync-{rng.getrandbits(64):x}"
        await ws.send(data + sync_request(sync))
        await _check_replies(ws, expected, sync, self.report)
        return budget - len(texts), False


async def _expect_close(
    ws: RawWebSocket, data: bytes, name: str, code: int, report: FuzzReport
) -> None:
    await ws.send(data)
    got: int | None = None
    with trio.move_on_after(REPLY_TIMEOUT_S):
        try:
            while True:
                await ws.receive()
                if ws.close_code is not None:
                    got = ws.close_code
                    break
        except EOFError:
            got = ws.close_code
    report.closes[f"{name}: {code} -> {got}"] += 1
    if got != code:
        report.problem(f"{name}: expected close {code}, got {got}")


async def _check_replies(
    ws: RawWebSocket, expected: list[Expected], sync: str, report: FuzzReport
) -> None:
    owed = {e.request_id: e.replies for e in expected if e.kind == "request"}
    invalid = sum(e.kind == "invalid" for e in expected)
    synced = False
    errors = 0
    with trio.move_on_after(REPLY_TIMEOUT_S) as waited:
        while not (synced and errors >= invalid and not any(owed.values())):
            reply = orjson.loads(await ws.receive_text())
            answer_to = reply.get("id")
            if answer_to == sync:
                synced = True
            elif answer_to in owed and owed[answer_to] > 0:
                overloaded = reply.get("error", {}).get("code") == "overloaded"
                owed[answer_to] = 0 if overloaded else owed[answer_to] - 1
            elif reply.get("type") == "error":
                errors += 1
            else:
                report.problem(f"a reply nobody asked for: {str(reply)[:200]}")
    if waited.cancelled_caught:
        unanswered = {key: left for key, left in owed.items() if left}
        report.problem(
            f"after {REPLY_TIMEOUT_S} s: sync {'in' if synced else 'missing'}, "
            f"{errors}/{invalid} error replies, requests unanswered {unanswered}"
        )
    elif errors > invalid:
        report.problem(f"{errors - invalid} error replies too many")
