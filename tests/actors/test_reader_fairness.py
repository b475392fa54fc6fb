"""A connection that brings many frames in one read does not hold the loop for all of them."""

from __future__ import annotations

import trio

from actors.connection import FRAMES_PER_STEP, ConnectionRules, _Reader
from actors.outbox import open_outbox
from telemetry.metrics import Metrics


class QuietReader(_Reader):
    """Handles a frame without passing through the scheduler (as for a resident user)."""

    async def _take(self, frame: str | bytes) -> bool:
        return True


async def test_a_big_read_gives_the_others_a_turn_every_few_frames() -> None:
    outbox, _ = open_outbox(8, "t")
    rules = ConnectionRules(8, 1.0, Metrics())
    reader = QuietReader(None, None, outbox, None, rules)  # type: ignore[arg-type]
    turns = 0
    done = False

    async def someone_else() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(someone_else)
        await trio.lowlevel.checkpoint()  # it has started
        before = turns
        frames = ["{}"] * (10 * FRAMES_PER_STEP)
        assert await reader._take_all(frames)
        during = turns - before
        done = True
    # One turn at least per FRAMES_PER_STEP frames; none at all would mean a
    # client that catches up holds everyone else for its whole read.
    assert during >= 10 - 1
