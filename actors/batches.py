"""Writing one batch so that a bad row costs only itself (the store writer's helper).

``write_isolating`` writes a batch in one transaction. A ``StoreError`` is
the disk's: it comes out as ``PartlyWritten`` with what is left, in order, to
keep for a retry. Any other exception is one row's (a payload or a snapshot
that cannot be encoded, a bug): the batch is split in halves, events before
the snapshots that cover them, until the bad row is alone; that row is
handed to ``drop`` (which logs it) and every other row is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from store import EventRow, ProgressRow, StoreError

Part = tuple[list[EventRow], list[ProgressRow]]


class PartlyWritten(Exception):
    """The store refused a write; ``events`` were not written (in order)."""

    def __init__(self, error: StoreError, events: list[EventRow]) -> None:
        super().__init__(str(error))
        self.error = error
        self.events = events


async def write_isolating(
    write: Callable[[list[EventRow], list[ProgressRow]], Awaitable[None]],
    events: list[EventRow],
    rows: list[ProgressRow],
    *,
    keep: Callable[[list[EventRow]], None],
    drop: Callable[[list[EventRow], list[ProgressRow]], None],
) -> None:
    """Write ``events`` then ``rows``; raises ``PartlyWritten`` when the store refuses.

    ``drop`` is called (inside the ``except``, for the traceback) with each
    row that fails on its own. If cancelled between two parts, the events
    not yet written go to ``keep`` first.
    """
    parts: list[Part] = [(events, rows)]
    while parts:
        part_events, part_rows = parts.pop()
        try:
            await write(part_events, part_rows)
        except StoreError as exc:
            raise PartlyWritten(exc, [*part_events, *_events_of(parts)]) from exc
        except Exception:
            if len(part_events) + len(part_rows) == 1:
                drop(part_events, part_rows)
            else:
                parts += reversed(_halves(part_events, part_rows))
        except BaseException:
            keep([*part_events, *_events_of(parts)])
            raise


def _events_of(parts: list[Part]) -> list[EventRow]:
    """The events of parts still to write, in the order they would be written."""
    return [event for part_events, _ in reversed(parts) for event in part_events]


def _halves(events: list[EventRow], rows: list[ProgressRow]) -> list[Part]:
    """Two parts to write in order: events before the snapshots that cover them."""
    if events and rows:
        return [(events, []), ([], rows)]
    if len(events) > 1:
        middle = len(events) // 2
        return [(events[:middle], []), (events[middle:], [])]
    middle = len(rows) // 2
    return [([], rows[:middle]), ([], rows[middle:])]
