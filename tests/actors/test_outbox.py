"""The outbox: replies written at once when they can be, queued in order when not."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio

from actors.outbox import FLUSH, open_outbox
from websocket.transport import SendNow


class Socket:
    """A stand-in transport whose ``send_now`` answers what the test says."""

    def __init__(self, outcome: SendNow) -> None:
        self.outcome = outcome
        self.written: list[list[str]] = []

    def send_now(self, texts: Sequence[str]) -> SendNow:
        if self.outcome is not SendNow.NOT_NOW:
            self.written.append(list(texts))
        return self.outcome


def queued(receive: trio.MemoryReceiveChannel[str]) -> list[str]:
    texts = []
    while True:
        try:
            texts.append(receive.receive_nowait())
        except trio.WouldBlock:
            return texts


@pytest.mark.parametrize(
    ("outcome", "expected_queue"),
    [(SendNow.SENT, []), (SendNow.PARTIAL, [FLUSH]), (SendNow.NOT_NOW, ["a", "b", "c"])],
)
async def test_replies_go_out_at_once_or_queued_and_the_places_come_back(
    outcome: SendNow, expected_queue: list[str]
) -> None:
    socket = Socket(outcome)
    outbox, receive = open_outbox(8, "t", socket.send_now)
    assert await outbox.reserve(5, timeout_s=1)
    outbox.put_all(["a", "b", "c"], reserved=5)
    assert queued(receive) == expected_queue
    assert socket.written == ([] if outcome is SendNow.NOT_NOW else [["a", "b", "c"]])
    assert outbox.reserved == 0


async def test_nothing_jumps_ahead_of_replies_already_queued() -> None:
    socket = Socket(SendNow.SENT)
    outbox, receive = open_outbox(8, "t", socket.send_now)
    outbox.put("older")
    outbox.put_all(["new-1", "new-2"], reserved=0)
    assert socket.written == []
    assert queued(receive) == ["older", "new-1", "new-2"]


async def test_without_a_way_to_send_now_everything_is_queued() -> None:
    outbox, receive = open_outbox(8, "t")
    outbox.put_all(["a", "b"], reserved=0)
    assert queued(receive) == ["a", "b"]
