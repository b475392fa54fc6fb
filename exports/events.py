"""``export-events``: every stored event, one row each, as process-mining tools read them.

The columns need no mapping in pm4py, ProM, Disco or Celonis (the XES
standard's names): ``case:concept:name`` is the user (a case is one
student), ``concept:name`` the activity (the command's node for an
``analytics`` frame that is a command of its course, else the frame type:
``analytics``, ``log`` or ``feedback``), ``time:timestamp`` the event's ``t``
in ISO 8601 UTC with milliseconds. Then ``exp``, ``course``, ``hardware``,
``type``, ``seq`` and the payload as JSON, so nothing of the raw event is
lost. Rows come in ``seq`` (arrival) order.

The export reads one snapshot of the store (``store.snapshot``), so it runs
beside a serving process and sees one instant of it; it reads and writes one
page of rows at a time (bounded memory for any store size), and publishes
the file only once it is complete (``store.files.atomic_output``).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

import attrs
import orjson

from courses import Catalog
from store import EventRow, StoreError
from store.files import atomic_output
from store.snapshot import PAGE_SIZE, EventFilter, StoreSnapshot

COLUMNS: Final = (
    "case:concept:name",
    "concept:name",
    "time:timestamp",
    "exp",
    "course",
    "hardware",
    "type",
    "seq",
    "payload",
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class ExportFormat(StrEnum):
    CSV = "csv"  # RFC 4180, header row, payload as a JSON string
    JSONL = "jsonl"  # one JSON object per line, payload as a JSON value


class ExportError(Exception):
    """The export cannot be made; the message says which file and why. Nothing was written."""


@attrs.frozen
class EventsReport:
    """What was exported: the rows, the pages they were read in, the snapshot's last seq."""

    destination: Path
    output_format: ExportFormat
    events: int
    pages: int
    max_seq: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {
            "destination": str(self.destination),
            "format": str(self.output_format),
            "events": self.events,
            "pages": self.pages,
            "max_seq": self.max_seq,
            "seconds": round(self.seconds, 3),
        }


# Told (rows written, rows to write) after every page.
Progress = Callable[[int, int], None]


def export_events(
    data_dir: Path,
    destination: Path,
    catalog: Catalog,
    *,
    output_format: ExportFormat = ExportFormat.CSV,
    where: EventFilter = EventFilter(),  # noqa: B008 - frozen, so one shared default is safe
    force: bool = False,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> EventsReport:
    """Write the events of the store in ``data_dir`` that ``where`` selects to ``destination``.

    Raises ``ExportError`` (nothing written) if ``destination`` exists and
    ``force`` is false, cannot be written, or the store cannot be read.
    """
    started = time.monotonic()
    destination = Path(destination)
    check_destination(destination, force=force)
    activity = Activities(catalog)
    events = pages = 0
    try:
        with (
            StoreSnapshot(data_dir) as snapshot,
            atomic_output(destination, overwrite=force) as handle,
        ):
            total = snapshot.count_events(where)
            write = _writer(output_format, handle)
            for page in snapshot.event_pages(where, page_size=page_size):
                write(activity.row(event) for event in page)
                events, pages = events + len(page), pages + 1
                if progress is not None:
                    progress(events, total)
            max_seq = snapshot.max_seq
    except StoreError as exc:
        raise ExportError(str(exc)) from exc
    except FileExistsError:
        raise ExportError(f"{destination} already exists: choose another name or --force") from None
    except OSError as exc:
        raise ExportError(f"cannot write {destination}: {exc.strerror or exc}") from exc
    return EventsReport(
        destination, output_format, events, pages, max_seq, time.monotonic() - started
    )


def check_destination(destination: Path, *, force: bool) -> None:
    """Refuse early what would fail at the end: an existing file, a missing directory."""
    if destination.is_dir():
        raise ExportError(f"{destination} is a directory: give the export a file name")
    if destination.exists() and not force:
        raise ExportError(f"{destination} already exists: choose another name or --force")
    if not destination.parent.is_dir():
        raise ExportError(f"cannot write {destination}: {destination.parent} does not exist")


class Activities:
    """Turns a stored event into its row; knows each course's commands (from the catalog)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._commands: dict[tuple[str, str], Mapping[str, str]] = {}

    def activity(self, event: EventRow) -> str:
        """The command's node for a command of a defined course, else the frame type."""
        if event.type != "analytics" or not isinstance(event.payload, dict):
            return event.type
        key = (event.exp, event.course)
        commands = self._commands.get(key)
        if commands is None:
            course = self._catalog.course(*key)
            commands = self._commands[key] = course.command_of if course is not None else {}
        log = event.payload.get("log")
        return commands.get(log, event.type) if isinstance(log, str) else event.type

    def row(self, event: EventRow) -> dict[str, Any]:
        return {
            "case:concept:name": event.user,
            "concept:name": self.activity(event),
            "time:timestamp": timestamp(event.t),
            "exp": event.exp,
            "course": event.course,
            "hardware": event.hardware,
            "type": event.type,
            "seq": event.seq,
            "payload": event.payload,
        }


def timestamp(t_ms: int) -> str:
    """``t`` as ISO 8601 UTC to the millisecond (``2023-01-09T10:22:20.000Z``).

    Exact (no float on the way). ``t = 0`` is 1970-01-01: the time of
    imported feedback the old service kept no time for. A ``t`` past year
    9999 (the wire allows up to 2**53 ms) has no ISO form and is left empty.
    """
    try:
        moment = _EPOCH + timedelta(milliseconds=t_ms)
    except OverflowError:
        return ""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _writer(
    output_format: ExportFormat, handle: IO[str]
) -> Callable[[Iterable[dict[str, Any]]], None]:
    if output_format is ExportFormat.JSONL:

        def write_jsonl(rows: Iterable[dict[str, Any]]) -> None:
            handle.write("".join(orjson.dumps(row).decode() + "\n" for row in rows))

        return write_jsonl
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)

    def write_csv(rows: Iterable[dict[str, Any]]) -> None:
        writer.writerows(
            [*list(row.values())[:-1], orjson.dumps(row["payload"]).decode()] for row in rows
        )

    return write_csv
