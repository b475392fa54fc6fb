"""The lines waiting for room in the commit buffer, and the task that serves them in turn.

When the store writer's buffer is full, a user's event joins their line
(``actors.lines``) and the line waits here. Whenever the buffer has room
again, ``Turns.run`` gives the waiting lines a turn each, in order, so one
busy user cannot keep the room from the others; a line that still holds
events after its turn goes to the back. It is apart from the router because
it is the one place that waits on the writer: the router only says what a
turn does (``take_turn``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import trio

from actors.lines import Line
from actors.writer import StoreWriter

# Turns given before the drainer lets other tasks have the loop.
TURNS_PER_CHECKPOINT = 64


class Turns:
    """The lines waiting for room, in turn; their drainer; and whether the stop has come."""

    def __init__(self, writer: StoreWriter) -> None:
        self._writer = writer
        self._waiting: list[Line] = []
        self._lot = trio.lowlevel.ParkingLot()
        self._room_wait: trio.CancelScope | None = None
        self._stopping = False

    @property
    def waiting(self) -> bool:
        """Whether any line waits for room (an event that comes now goes behind them)."""
        return bool(self._waiting)

    def join(self, line: Line) -> None:
        """``line`` waits for room, at the back."""
        self._waiting.append(line)
        self._lot.unpark_all()

    def leave(self, line: Line) -> None:
        """``line`` waits no more (its user was forgotten)."""
        if line in self._waiting:
            self._waiting.remove(line)

    def stop_waiting(self) -> None:
        """From now on lines take their turns without waiting for room (the stop)."""
        self._stopping = True
        if self._room_wait is not None:
            self._room_wait.cancel()
        self._lot.unpark_all()

    async def run(self, take_turn: Callable[[Line], bool]) -> None:
        """Whenever the buffer has room, let the waiting lines take turns; until cancelled.

        ``take_turn`` handles some of a line's messages and says whether it
        still waits for room.
        """
        turns = itertools.count(1)
        while True:
            if not self._waiting:
                await self._lot.park()
                continue
            if not (self._stopping or self._writer.has_room):
                with trio.CancelScope() as self._room_wait:
                    await self._writer.wait_for_room()
                self._room_wait = None
                continue
            line = self._waiting.pop(0)
            if take_turn(line):
                self._waiting.append(line)
            if next(turns) % TURNS_PER_CHECKPOINT == 0:
                await trio.lowlevel.checkpoint()  # others have the loop too
