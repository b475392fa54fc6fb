"""``export-user USER FILE``: everything stored about one user, for a subject access request.

JSON lines, in this order:

- ``{"record": "subject", "user", "exported_ms", "store_seq"}``: who, when,
  and the store's last event the export saw;
- ``{"record": "event", "seq", "type", "exp", "course", "hardware", "t",
  "received_ms", "payload"}``: every stored v1 frame, v2 statement and
  feedback of the user, in arrival order, the payload as it came;
- ``{"record": "analytics", "exp", "course", "code", "replies": {...}}``: per
  course the user has progress on, the v2 dashboard's replies (student
  graph, task completion, indicators, exploration, usage, feedback) computed
  from their state as the service would load it (snapshots, then the events
  after them, replayed). Task names carry the course code the user's own
  events used (``code``: an alias such as ``ed1`` names tasks
  ``spinner-ed1-…``, as their dashboard showed them); ``course`` is the
  course it stands for.

It reads one snapshot of the store (``store.snapshot``), so it runs while
the service serves and sees one instant of it; events are read a page at a
time. The file appears whole or not at all (``store.files.atomic_output``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import attrs
import orjson

from analytics.progress import StudentProgress
from analytics.v2_replies import ENDPOINTS, V2Replier
from courses import Catalog
from messages import DecodeError, Identity
from store import EventRow, StoreError
from store.files import atomic_output
from store.rows import now_ms
from store.snapshot import EventFilter, StoreSnapshot

# Not about the user: the course's own graph of one task.
SUBJECT_ENDPOINTS: Final = tuple(name for name in ENDPOINTS if name != "comparisonGraph")
_JSON: Final = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE


class SubjectExportError(Exception):
    """The export cannot be made; the message says which file and why. Nothing was written."""


@attrs.frozen
class SubjectReport:
    """What ``export_user`` wrote."""

    user: str
    destination: Path
    events: int
    courses: int
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "destination": str(self.destination),
            "events": self.events,
            "courses_with_analytics": self.courses,
            "problems": list(self.problems),
        }


def export_user(
    data_dir: Path,
    user: str,
    destination: Path,
    catalog: Catalog,
    *,
    tz: dt.tzinfo = dt.UTC,
    force: bool = False,
) -> SubjectReport:
    """Write everything stored about ``user`` to ``destination``; raises ``SubjectExportError``."""
    if destination.is_dir():
        raise SubjectExportError(f"{destination} is a directory: give the export a file name")
    if destination.exists() and not force:
        raise SubjectExportError(f"{destination} already exists: choose another or --force")
    try:
        with (
            StoreSnapshot(data_dir) as snapshot,
            atomic_output(destination, overwrite=force, mode="wb") as out,
        ):
            out.write(orjson.dumps(_header(user, snapshot.max_seq), option=_JSON))
            events = _write_events(out, snapshot, user)
            progress, problems = _replayed(snapshot, catalog, user)
            replier = V2Replier(catalog, tz=tz)
            codes = _codes_used(snapshot, catalog, user)
            for (exp, course), course_progress in sorted(progress.courses.items()):
                state = course_progress.v2_snapshot()
                code = codes.get((exp, course), course)
                identity = Identity(username=user, course=code, hardware=exp)
                replies = {
                    endpoint: replier.answer(endpoint, identity, state).body
                    for endpoint in SUBJECT_ENDPOINTS
                }
                line = {"record": "analytics", "exp": exp, "course": course, "code": code}
                out.write(orjson.dumps(line | {"replies": replies}, option=_JSON))
    except StoreError as exc:
        raise SubjectExportError(str(exc)) from None
    except FileExistsError:
        raise SubjectExportError(f"{destination} appeared meanwhile: choose another") from None
    except OSError as exc:
        raise SubjectExportError(f"cannot write {destination}: {exc.strerror or exc}") from None
    return SubjectReport(user, destination, events, len(progress.courses), tuple(problems))


def _codes_used(snapshot: StoreSnapshot, catalog: Catalog, user: str) -> dict[tuple[str, str], str]:
    """``(exp, course) -> the code the user's events name it by`` (the first, sorted)."""
    codes: dict[tuple[str, str], str] = {}
    for exp, code in snapshot.courses_of(user):  # sorted
        course = catalog.resolve(exp, code)
        if course is not None:
            codes.setdefault((course.exp, course.course), code)
    return codes


def _header(user: str, store_seq: int) -> dict[str, Any]:
    return {"record": "subject", "user": user, "exported_ms": now_ms(), "store_seq": store_seq}


def _write_events(out: IO[bytes], snapshot: StoreSnapshot, user: str) -> int:
    written = 0
    for page in snapshot.event_pages(EventFilter(user=user)):
        out.write(b"".join(orjson.dumps(line, option=_JSON) for line in _event_lines(page)))
        written += len(page)
    return written


def _event_lines(page: list[EventRow]) -> Iterator[dict[str, Any]]:
    for event in page:
        yield {
            "record": "event",
            "seq": event.seq,
            "type": event.type,
            "exp": event.exp,
            "course": event.course,
            "hardware": event.hardware,
            "t": event.t,
            "received_ms": event.received_ms,
            "payload": event.payload,
        }


def _replayed(
    snapshot: StoreSnapshot, catalog: Catalog, user: str
) -> tuple[StudentProgress, list[str]]:
    """The user's state as a session loads it: snapshots, then the events after them."""
    progress = StudentProgress(user, catalog)
    stored = snapshot.load_user(user)
    problems = progress.restore({key: row.record for key, row in stored.progress.items()})
    for event in stored.tail:
        try:
            progress.replay(event)
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"event {event.seq} skipped on replay: {exc}")
    return progress, problems
