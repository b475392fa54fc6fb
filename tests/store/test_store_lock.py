"""Issue 12.8: one writer per store, even when someone deletes ``analytics.lock``.

A ``flock`` belongs to one open file, so a second ``SqliteStore`` in this very
process is refused exactly as another process would be.
"""

from __future__ import annotations

import pytest
import trio

from actors.service import serve
from store import LOCK_NAME, EventRow, SqliteStore, StoreBusyError
from store.backup import backup_store
from tests.actors.conftest import service_settings


def test_a_deleted_lock_file_lets_no_second_writer_in(tmp_path) -> None:
    """The lock file is gone, yet the store cannot be opened again for writing: the
    lock is also held on the database file itself. (Before: the second writer got
    in, both handed out the same sequence numbers, and the first failed forever.)"""
    with SqliteStore(tmp_path) as store:
        store.write_batch([EventRow(1, "ann", "analytics", "s", "c", None, 1, 1, {"log": "x"})], [])
        (tmp_path / LOCK_NAME).unlink()
        with pytest.raises(StoreBusyError, match="in use by another process"):
            SqliteStore(tmp_path)
        # Readers and backups do not take it: they still work beside the writer.
        assert store.count_events() == 1
        assert backup_store(tmp_path, tmp_path / "copy.sqlite3").events == 1
    SqliteStore(tmp_path).close()  # free once closed


async def test_a_second_service_on_a_store_without_its_lock_file_is_refused(tmp_path) -> None:
    async with trio.open_nursery() as nursery:
        service = await nursery.start(serve, service_settings(tmp_path))
        (tmp_path / LOCK_NAME).unlink()
        with pytest.raises(StoreBusyError):
            await serve(service_settings(tmp_path))
        service.stop()
