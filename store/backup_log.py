"""The backups this store knows of: a line per ``learning-analytics backup``, beside the store.

A forgotten user's data stays in every backup made before the forget: the
operator must be told which files those are. ``backup`` cannot write to
the store (it reads it while the service runs), so after a checked copy
it appends one JSON line to ``<data>/backups.jsonl``: the copy's absolute
path, when, and how many events it held. ``forget`` lists them and says
which still exist where they were written. What this cannot know: copies
made by other means (``scp`` of a backup elsewhere, disk snapshots, restic):
SECURITY.md says so.

A line is under 4 KiB (a path is at most ``PATH_MAX``) and written with one
``O_APPEND`` write, so two backups at once never interleave their lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import orjson

from store.rows import now_ms

BACKUPS_NAME: Final = "backups.jsonl"
# A registry is the operator's; reading stops at this many lines (a million
# backups is not a registry any more).
MAX_LINES: Final = 1_000_000


@attrs.frozen
class KnownBackup:
    """One backup the store's registry names; ``exists`` is checked when it is read."""

    path: Path
    made_ms: int
    events: int
    exists: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "made_ms": self.made_ms,
            "events": self.events,
            "exists": self.exists,
        }


def record_backup(data_dir: Path, destination: Path, events: int) -> None:
    """Append a line for a backup just made; raises ``OSError`` if the registry is not writable."""
    line = orjson.dumps(
        {"path": str(Path(destination).resolve()), "made_ms": now_ms(), "events": events}
    )
    handle = os.open(
        Path(data_dir) / BACKUPS_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640
    )
    try:
        os.write(handle, line + b"\n")
    finally:
        os.close(handle)


def known_backups(data_dir: Path) -> list[KnownBackup]:
    """Every backup the registry names, oldest first; [] without a registry.

    A line that cannot be read (an edit by hand) is skipped.
    """
    return list(_read(Path(data_dir) / BACKUPS_NAME))


def _read(path: Path) -> Iterator[KnownBackup]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle):
            if number >= MAX_LINES:
                return
            try:
                entry = orjson.loads(line)
                backup = Path(entry["path"])
                made_ms, events = int(entry["made_ms"]), int(entry["events"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            yield KnownBackup(backup, made_ms, events, backup.is_file())
