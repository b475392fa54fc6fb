"""Helpers for tests of the store writer and the router without sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import trio

from messages import InboundMessage, decode
from store import EventRow, ProgressRow, SqliteStore, StoreError, encode_payload


def message(
    user: str,
    t: int = 1,
    *,
    log: str = "voltage",
    course: str = "cie3",
    exp: str = "spinner",
    data: Any = None,
) -> InboundMessage:
    """A decoded ``analytics`` event (``data``: the payload's, if any)."""
    payload: dict[str, Any] = {"log": log}
    if data is not None:
        payload["data"] = data
    frame = {
        "user": user,
        "t": t,
        "type": "analytics",
        "exp": exp,
        "course": course,
        "payload": payload,
    }
    return decode(orjson.dumps(frame))


def ask(user: str, content: str = "student_graph", *, id: Any = None) -> InboundMessage:
    frame = {
        "user": user,
        "type": "request",
        "exp": "spinner",
        "course": "cie3",
        "payload": {"content": content},
    }
    if id is not None:
        frame["id"] = id
    return decode(orjson.dumps(frame))


def row_of(user: str, t: int = 1, *, size: int = 0) -> Callable[[int], EventRow]:
    """What a session appends: a row maker for one event (``size``: payload padding)."""
    event = message(user, t, data="x" * size) if size else message(user, t)
    payload = encode_payload(event)
    return lambda seq: EventRow.of(seq, event, hardware=None, received_ms=0, payload=payload)


class Disk:
    """A store's ``write_batch`` made slow or failing at will, counting what it wrote.

    ``gate``: while not set, a write waits for it (a slow disk, in trio
    time); ``full``: a write raises ``StoreError``.
    """

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._write = store.write_batch  # before a test puts ``write_batch`` in its place
        self.full = False
        self.gate: trio.Event | None = None
        self.batches: list[tuple[int, int]] = []  # (events, snapshot rows) per transaction
        self.refused = 0

    async def run_sync(self, function: Callable[..., Any], *args: Any, limiter: Any = None) -> Any:
        """Stands in for ``trio.to_thread.run_sync`` (the writer's thread hop)."""
        if self.gate is not None:
            await self.gate.wait()
        await trio.lowlevel.checkpoint()
        return function(*args)

    def write_batch(
        self, events: list[EventRow], progress: list[ProgressRow], imported: Any = ()
    ) -> None:
        if self.full:
            self.refused += 1
            raise StoreError("cannot write to analytics.sqlite3: database or disk is full")
        self._write(events, progress, imported)
        self.batches.append((len(events), len(progress)))
