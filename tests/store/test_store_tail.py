"""A cold user's tail: the events after their snapshots, read whole or page by page."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from store import EventRow, ProgressRow, SqliteStore

COURSES = [("spinner", "cie3"), ("spinner", "engdes1"), ("pendulum", "engdes1")]


def event(seq: int, user: str, course: tuple[str, str]) -> EventRow:
    exp, name = course
    return EventRow(seq, user, "analytics", exp, name, None, seq, seq, {"log": "voltage"})


def test_a_snapshot_left_behind_brings_its_own_course_back(tmp_path) -> None:
    cie3, engdes1, pendulum = COURSES
    courses = [cie3, engdes1, cie3, pendulum, engdes1, cie3, pendulum, engdes1, cie3, cie3]
    events = [event(seq, "ann", course) for seq, course in enumerate(courses, start=1)]
    events.append(event(11, "bob", cie3))  # someone else's: never in ann's tail
    snapshots = [
        ProgressRow("ann", *cie3, 7, {}),  # the newest: all of ann's courses up to 7 ...
        ProgressRow("ann", *engdes1, 7, {}),
        ProgressRow("ann", *pendulum, 3, {}),  # ... but pendulum's was left at 3
    ]
    with SqliteStore(tmp_path) as store:
        store.write_batch(events, snapshots)
        stored = store.load_user("ann")
    assert [row.seq for row in stored.tail] == [4, 7, 8, 9, 10]  # pendulum after 3, all after 7
    assert set(stored.progress) == set(COURSES)


@settings(max_examples=40, deadline=None)
@given(
    courses=st.lists(st.sampled_from(COURSES), min_size=0, max_size=60),
    snapshot_at=st.lists(st.integers(min_value=0, max_value=60), min_size=3, max_size=3),
    page=st.integers(min_value=1, max_value=7),
)
def test_paging_reads_the_same_tail_as_one_read(tmp_path_factory, courses, snapshot_at, page):
    events = [event(seq, "ann", course) for seq, course in enumerate(courses, start=1)]
    snapshots = [
        ProgressRow("ann", *course, seq, {})
        for course, seq in zip(COURSES, snapshot_at, strict=True)
        if seq > 0
    ]
    with SqliteStore(tmp_path_factory.mktemp("store")) as store:
        store.write_batch(events, snapshots)
        whole = store.load_user("ann").tail
        _, tail = store.load_snapshots("ann")
        paged: list[EventRow] = []
        while chunk := store.tail_page(tail, after=paged[-1].seq if paged else 0, limit=page):
            # (from 0 on purpose: the page's own conditions, not ``start``, decide)
            assert len(chunk) <= page
            paged += chunk
    assert paged == whole
    # The rule itself: after the newest snapshot, or after its own course's older one.
    newest = max((row.seq for row in snapshots), default=0)
    own = {(row.exp, row.course): row.seq for row in snapshots}
    expected = [e for e in events if e.seq > newest or e.seq > own.get((e.exp, e.course), newest)]
    assert whole == expected
