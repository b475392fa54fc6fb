"""A cold user's tail: the events after their snapshots, read whole or page by page."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from store import (
    ALL_COURSES,
    UNKNOWN_COURSE,
    EventRow,
    ProgressRow,
    SqliteStore,
    Tail,
)

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
    # The rule itself: each course after its own snapshot; a course without one
    # from the start (issue 16.4: not after another course's snapshot).
    own = {(row.exp, row.course): row.seq for row in snapshots}
    expected = [e for e in events if e.seq > own.get((e.exp, e.course), 0)]
    assert whole == expected


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(
        st.tuples(st.sampled_from([*COURSES, ("spinner", "nope")]), st.booleans()), max_size=60
    ),
    snapshot_at=st.lists(st.integers(min_value=0, max_value=60), min_size=4, max_size=4),
    complete_at=st.integers(min_value=0, max_value=60),
    page=st.integers(min_value=1, max_value=7),
)
def test_a_course_without_a_row_replays_after_the_all_courses_row_and_logs_stay_out(
    tmp_path_factory, kinds, snapshot_at, complete_at, page
):
    """A row marked ``ALL_COURSES`` at seq C: a course with no row of its own replays
    after C, not from the start; a marker row covers its course like any row;
    ``logs=False`` leaves log events out."""
    courses = [*COURSES, ("spinner", "nope")]
    events = [
        EventRow(seq, "ann", "log" if is_log else "analytics", *course, None, seq, seq, {})
        for seq, (course, is_log) in enumerate(kinds, start=1)
    ]
    snapshots = [
        ProgressRow("ann", *course, seq, UNKNOWN_COURSE if course[1] == "nope" else {})
        for course, seq in zip(courses, snapshot_at, strict=True)
        if seq > 0
    ]
    if complete_at:  # a course's row of a session's snapshot: it says "all courses"
        snapshots.append(ProgressRow("ann", "pendulum", "x", complete_at, {ALL_COURSES: True}))
    with SqliteStore(tmp_path_factory.mktemp("store")) as store:
        store.write_batch(events, snapshots)
        rows, tail = store.load_snapshots("ann")
        tail = Tail(tail.user, tail.covered, tail.rest, logs=False)
        paged: list[EventRow] = []
        while chunk := store.tail_page(tail, after=paged[-1].seq if paged else 0, limit=page):
            paged += chunk
    assert len(rows) == len(snapshots)
    own = {(row.exp, row.course): row.seq for row in snapshots}
    rest = complete_at
    expected = [e for e in events if e.type != "log" and e.seq > own.get((e.exp, e.course), rest)]
    assert paged == expected
