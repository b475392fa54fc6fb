"""A consistent copy of the store, taken while the service keeps running.

Why not ``cp analytics.sqlite3``: in WAL mode the newest commits live in
``analytics.sqlite3-wal`` until a checkpoint, and a file copied while the
writer commits can be torn. SQLite's online backup API copies a consistent
snapshot page by page instead.

Why not ``SqliteStore``: opening it takes the store's exclusive lock
(``analytics.lock``), which a running service holds. A backup only reads, so
it opens the database read-only and never touches the lock; WAL lets that
reader run beside the service's writer without blocking it.

The copy is written to a temporary file beside the destination, checked
(``PRAGMA integrity_check`` and the events count of the snapshot), and only
then renamed into place, so a destination that exists is always complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import attrs

from store.files import fsync_file, publish_file, temporary_beside
from store.sqlite import DATABASE_NAME

# 1024 pages of 4 KiB: 4 MiB per step, then a short pause, so that a large
# backup shares the disk with the service's commits instead of hogging it.
PAGES_PER_STEP = 1024
STEP_SLEEP_S = 0.002


class BackupError(Exception):
    """The backup cannot be made; the message says which file and why."""


@attrs.frozen
class BackupReport:
    """What was copied: enough to log, and to compare with the live store."""

    source: Path
    destination: Path
    events: int
    max_seq: int
    progress_rows: int
    pages: int
    bytes: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "destination": str(self.destination),
            "events": self.events,
            "max_seq": self.max_seq,
            "progress_rows": self.progress_rows,
            "pages": self.pages,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class _Snapshot:
    events: int
    max_seq: int
    progress_rows: int


def backup_store(
    data_dir: Path,
    destination: Path,
    *,
    overwrite: bool = False,
    pages_per_step: int = PAGES_PER_STEP,
    step_sleep_s: float = STEP_SLEEP_S,
) -> BackupReport:
    """Copy the store of ``data_dir`` to the single file ``destination``.

    Safe while a service runs on ``data_dir``: the source is opened read-only
    without the store's lock, and the copy is one snapshot (the events
    committed when the backup began; later commits are in the next backup).
    The copy is a self-contained database (rollback journal, no ``-wal``),
    ready to replace ``analytics.sqlite3`` on restore.

    Raises ``BackupError`` when there is no store, the destination exists and
    ``overwrite`` is false, the destination directory is missing or not
    writable, or the copy fails its checks (nothing is left behind then).
    """
    started = time.monotonic()
    source = Path(data_dir) / DATABASE_NAME
    destination = Path(destination)
    if not source.is_file():
        raise BackupError(f"no store to back up: {source} does not exist (check --data/DATA_PATH)")
    _check_destination(source, destination, overwrite=overwrite)
    try:
        temporary = temporary_beside(destination)
    except OSError as exc:
        raise BackupError(f"cannot write to {destination.parent}: {exc.strerror or exc}") from exc
    try:
        try:
            snapshot, pages = _copy(source, temporary, pages_per_step, step_sleep_s)
        finally:
            keep_store_owner(source)
        _verify(temporary, snapshot)
        fsync_file(temporary)
        _publish(temporary, destination, overwrite=overwrite)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return BackupReport(
        source=source,
        destination=destination,
        events=snapshot.events,
        max_seq=snapshot.max_seq,
        progress_rows=snapshot.progress_rows,
        pages=pages,
        bytes=destination.stat().st_size,
        seconds=time.monotonic() - started,
    )


def _check_destination(source: Path, destination: Path, *, overwrite: bool) -> None:
    if destination.is_dir():
        raise BackupError(f"{destination} is a directory: give the backup a file name")
    if destination.exists() and not overwrite:
        raise BackupError(f"{destination} already exists: choose another name or overwrite it")
    if destination.resolve() == source.resolve():
        raise BackupError(f"{destination} is the live store itself: choose another file")
    if not destination.parent.is_dir():
        raise BackupError(f"cannot write to {destination}: {destination.parent} does not exist")


def _copy(
    source: Path, temporary: Path, pages_per_step: int, step_sleep_s: float
) -> tuple[_Snapshot, int]:
    """Copy one snapshot of ``source`` into ``temporary``; returns it and the page count."""
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the store {source} read-only: {exc}") from exc
    try:
        copy = sqlite3.connect(temporary, isolation_level=None)
    except sqlite3.Error as exc:
        reader.close()
        raise BackupError(f"cannot create {temporary}: {exc}") from exc
    try:
        reader.isolation_level = None
        reader.execute("PRAGMA busy_timeout=5000")
        # One read transaction for the whole copy: every step reads the same
        # snapshot (WAL keeps it for us), so the service's commits neither
        # block the backup nor make SQLite restart it from page one.
        reader.execute("BEGIN")
        snapshot = _Snapshot(*reader.execute(_COUNTS).fetchone())
        pages = reader.execute("PRAGMA page_count").fetchone()[0]

        def pause(_status: int, _remaining: int, _total: int) -> None:
            time.sleep(step_sleep_s)

        reader.backup(copy, pages=pages_per_step, progress=pause)
        reader.execute("COMMIT")
        # A single file to carry off the host: no -wal/-shm beside the copy.
        copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source} to {temporary}: {exc}") from exc
    finally:
        copy.close()
        reader.close()
    return snapshot, int(pages)


_COUNTS = (
    "SELECT (SELECT count(*) FROM events), (SELECT coalesce(max(seq), 0) FROM events),"
    " (SELECT count(*) FROM progress)"
)


def _verify(copy_path: Path, expected: _Snapshot) -> None:
    """The copy must be a sound database holding exactly the snapshot's rows."""
    try:
        copy = sqlite3.connect(f"{copy_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            integrity = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            found = _Snapshot(*copy.execute(_COUNTS).fetchone())
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the copy {copy_path} cannot be read back: {exc}") from exc
    if integrity != ["ok"]:
        raise BackupError(f"the copy {copy_path} failed its integrity check: {integrity[:5]}")
    if found != expected:
        raise BackupError(f"the copy {copy_path} holds {found}, the snapshot held {expected}")


def keep_store_owner(source: Path) -> None:
    """Give ``-wal``/``-shm`` files our reader created back to the store's owner.

    Reading a WAL database of a stopped service creates them. Run as root on
    the host (instead of ``docker exec`` as the service's user), they would be
    root's, and the service could not open its own store at the next start.
    """
    if os.geteuid() != 0:
        return  # only root can have created files the store's owner cannot use
    owner = source.stat()
    for suffix in ("-wal", "-shm"):
        companion = source.with_name(source.name + suffix)
        with contextlib.suppress(OSError):
            found = companion.stat()
            if (found.st_uid, found.st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(companion, owner.st_uid, owner.st_gid)


def _publish(temporary: Path, destination: Path, *, overwrite: bool) -> None:
    """Rename the checked copy into place, atomically, never clobbering unless asked."""
    try:
        publish_file(temporary, destination, overwrite=overwrite)
    except FileExistsError:
        raise BackupError(
            f"{destination} already exists: choose another name or overwrite it"
        ) from None
    except OSError as exc:
        raise BackupError(f"cannot write {destination}: {exc.strerror or exc}") from exc


def run_backup(data_dir: Path, destination: Path, *, overwrite: bool = False) -> int:
    """``learning-analytics backup``: print the report as JSON; exit 0, or 1 with a message."""
    try:
        report = backup_store(data_dir, destination, overwrite=overwrite)
    except BackupError as exc:
        print(f"learning-analytics backup: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2))
    return 0
