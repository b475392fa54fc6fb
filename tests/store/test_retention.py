"""Retention at the store level: raw events that arrived before a cutoff go, in short batches.

What must go is decided here by the rule written out in Python (an event
older than the cutoff, at or before every snapshot of its user, or of a
user with none); what must stay is checked the way a session loads a user
(``SqliteStore.load_user``: snapshots, then the events after them).
"""

from __future__ import annotations

import math
import sqlite3

from store import DATABASE_NAME, EventRow, ProgressRow, SqliteStore
from store.erase import erase_events_before, erase_old_events

CUTOFF = 1_000_000


def _event(seq: int, user: str, received_ms: int, *, t: int | None = None, course: str = "cie3"):
    payload = {"log": "speed"}
    return EventRow(seq, user, "analytics", "spinner", course, None, t or seq, received_ms, payload)


def _store(tmp_path):
    """Users with and without snapshots, events old and new, in one store."""
    events = []
    seq = 0

    def add(user: str, received_ms: int, **more) -> None:
        nonlocal seq
        seq += 1
        events.append(_event(seq, user, received_ms, **more))

    for _ in range(12):
        add("ana", CUTOFF - 500)  # seq 1..12, old
    for _ in range(6):
        add("nosnap", CUTOFF - 500)  # only log frames and unknown courses: no snapshot
    for _ in range(5):
        add("ana", CUTOFF - 100)  # old, after ana's snapshot: replayed when she loads
    add("bob", CUTOFF + 10)  # new
    add("bob", CUTOFF - 10, t=CUTOFF + 999)  # old by our clock, whatever its t says
    add("cat", CUTOFF - 1, course="engdes1")  # before her oldest (stale) snapshot
    add("cat", CUTOFF - 1)  # after it
    progress = [
        ProgressRow("ana", "spinner", "cie3", 12, {"n": 12}),
        ProgressRow("bob", "spinner", "cie3", 25, {"n": 2}),
        ProgressRow("cat", "spinner", "engdes1", 3, {"stale": True}),  # older than her events
        ProgressRow("cat", "spinner", "cie3", 27, {"n": 1}),
    ]
    data = tmp_path / "data"
    with SqliteStore(data) as store:
        store.write_batch(events, progress)
    return data, events, progress


def _expected_kept(events: list[EventRow], progress: list[ProgressRow]) -> list[int]:
    oldest_snapshot: dict[str, int] = {}
    for row in progress:
        oldest_snapshot[row.user] = min(row.seq, oldest_snapshot.get(row.user, math.inf))
    return [
        e.seq
        for e in events
        if not (e.received_ms < CUTOFF and e.seq <= oldest_snapshot.get(e.user, math.inf))
    ]


def _seqs(data) -> list[int]:
    with sqlite3.connect(data / DATABASE_NAME) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM events ORDER BY seq")]


def test_old_events_go_and_every_user_loads_as_before(tmp_path):
    data, events, progress = _store(tmp_path)
    with SqliteStore(data) as store:
        loaded = {user: store.load_user(user) for user in ("ana", "bob", "cat", "nosnap")}
    with sqlite3.connect(data / DATABASE_NAME, isolation_level=None) as db:
        report = erase_old_events(db, CUTOFF, batch_rows=4)
    kept = _expected_kept(events, progress)
    assert _seqs(data) == kept
    assert report.erased == len(events) - len(kept) == 12 + 6 + 1
    assert report.batches == math.ceil(len(events) / 4)
    assert report.last_seq == len(events)
    with SqliteStore(data) as store:
        for user in ("ana", "bob", "cat"):
            assert store.load_user(user) == loaded[user], user
        assert store.load_user("nosnap").tail == []
    assert loaded["nosnap"].tail  # the rule did erase something of theirs


def test_each_batch_is_its_own_transaction_over_consecutive_seqs(tmp_path):
    data, events, progress = _store(tmp_path)
    with sqlite3.connect(data / DATABASE_NAME, isolation_level=None) as db:
        erased, upper = erase_events_before(db, CUTOFF, after_seq=0, batch_rows=10)
        assert not db.in_transaction
        assert upper == 10
        assert erased == 10  # ana's first ten: old and under her snapshot
        assert _seqs(data)[:1] == [11]
        rest = 0
        while upper is not None:
            more, upper = erase_events_before(db, CUTOFF, after_seq=upper, batch_rows=10)
            rest += more
    assert _seqs(data) == _expected_kept(events, progress)
    assert rest == 12 + 6 + 1 - 10


def test_a_pass_over_an_empty_store_does_nothing(tmp_path):
    with SqliteStore(tmp_path):
        pass
    with sqlite3.connect(tmp_path / DATABASE_NAME, isolation_level=None) as db:
        report = erase_old_events(db, CUTOFF)
    assert (report.erased, report.batches) == (0, 0)
