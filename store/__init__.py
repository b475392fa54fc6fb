"""The store: where raw events and per-user snapshots live, and how they are copied.

Owns the ``Store`` rows (``store.rows``), the embedded SQLite store
(``store.sqlite``: one writer connection used from one thread, WAL readers
beside it) and the online backup (``store.backup``). It is synchronous and
knows nothing of tasks: the actors call it through ``trio.to_thread``. It may
import ``messages``; never ``actors``, ``websocket`` or trio.
"""

from store.rows import (
    ALL_COURSES,
    NEVER_REPLAY,
    ROW_OVERHEAD_BYTES,
    UNKNOWN_COURSE,
    EventRow,
    JsonText,
    ProgressRow,
    StoreBusyError,
    StoredUser,
    StoreError,
    Tail,
    UnstorableEvent,
    encode_payload,
    is_marker,
    now_ms,
)
from store.sqlite import DATABASE_NAME, LOCK_NAME, SqliteStore

__all__ = [
    "ALL_COURSES",
    "DATABASE_NAME",
    "LOCK_NAME",
    "NEVER_REPLAY",
    "ROW_OVERHEAD_BYTES",
    "UNKNOWN_COURSE",
    "EventRow",
    "JsonText",
    "ProgressRow",
    "SqliteStore",
    "StoreBusyError",
    "StoreError",
    "StoredUser",
    "Tail",
    "UnstorableEvent",
    "encode_payload",
    "is_marker",
    "now_ms",
]
