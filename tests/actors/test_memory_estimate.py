"""What the resident cap counts (``UserSession.bytes``) against what tracemalloc measures.

The sessions are built as the router builds them: a user id of its own, a
``UserSession`` fed decoded events through ``apply``, its sequence numbers
and clock reading, and an entry in a directory (``Residents.sessions``).
Event times are real millisecond clocks, so each leftover event holds its
own ``int`` as it does in the service.
"""

from __future__ import annotations

import tracemalloc

import orjson
import pytest

from actors.session import UserSession
from analytics.progress import StudentProgress
from messages import StatementEvent, decode_statement
from tests.actors.routing import CATALOG
from tests.actors.writing import message

T0 = 1_764_000_000_000
USERS = 300
KINDS = {
    "cie3": ("spinner", "cie3", ("voltage", "speed", "position")),  # 6 nodes
    "engdes1": ("spinner", "engdes1", ("voltage", "speed", "position")),
    "pendulum": ("pendulum", "engdes1", ("start", "brake", "load")),  # 9 nodes
    "undefined": ("spinner", "nosuchcourse", ("voltage",)),
    "v2": ("spinner", "ed1", ()),  # statements of the v2 lab UIs (ed1: engdes1's alias)
}
V2_NODES = ("voltage_step", "speed_step", "position_step", "voltage_ramp")


def v2_statement(user: str, t: int, node: str) -> StatementEvent:
    """A decoded ``addLog`` statement of the UIs (a slider's ``clicked``/``changed``)."""
    body = {
        "timestamp": T0 + 1000 * t,
        "verb": {"name": ("clicked", "changed", "pressed-hotkey")[t % 3]},
        "object": {"id": f"slider-{t % 5}", "exp_id": "spin30"},
        "context": {"graph_node": node},
    }
    return StatementEvent(user, "spinner", "ed1", decode_statement(orjson.dumps(body)))


def measured_and_estimated(courses: list[str], events_per_course: int) -> tuple[int, int]:
    """Bytes tracemalloc sees for ``USERS`` sessions, and what their ``bytes`` say."""
    events = [
        [
            v2_statement(f"user-{number:06d}", t, V2_NODES[(number + t) % len(V2_NODES)])
            if name == "v2"
            else message(
                f"user-{number:06d}", T0 + 1000 * t, exp=exp, course=course, log=logs[t % len(logs)]
            )
            for name, (exp, course, logs) in ((name, KINDS[name]) for name in courses)
            for t in range(events_per_course)
        ]
        for number in range(USERS)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        directory: dict[str, UserSession] = {}
        for number, mine in enumerate(events):
            user = f"user-{number:06d}"
            session = directory[user] = UserSession(user, StudentProgress(user, CATALOG))
            for event in mine:
                session.apply(event)
            # What the router and the writer set: a sequence number, a clock reading.
            session.last_seq = session.saved_seq = 1_000_000 + number
            session.last_active = 0.5 + number
            for progress in session.progress.courses.values():
                progress.snapshot()  # a request: built for the reply, not kept
                progress.v2_snapshot()  # a v2 read: the same
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    measured = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return measured, sum(session.bytes for session in directory.values())


@pytest.mark.parametrize(
    ("courses", "events_per_course"),
    [
        (["cie3"], 3),
        (["cie3"], 30),
        (["pendulum"], 3),
        (["cie3", "engdes1", "pendulum"], 3),
        (["cie3", "undefined"], 3),
        (["undefined"], 3),
        (["v2"], 3),
        (["v2"], 100),  # per statement: 100 of them outweigh the fixed part
        (["cie3", "v2"], 30),
    ],
)
def test_a_sessions_estimated_bytes_are_what_tracemalloc_measures(
    courses: list[str], events_per_course: int
) -> None:
    """``UserSession.bytes`` within 35 % of the measured bytes per user."""
    measured, estimated = measured_and_estimated(courses, events_per_course)
    assert 0.65 * measured <= estimated <= 1.35 * measured, (measured / USERS, estimated / USERS)


def test_an_active_user_on_one_course_costs_at_most_2_kb() -> None:
    """DESIGN.md's target, on the Python heap: one course, three events, one request."""
    measured, _ = measured_and_estimated(["cie3"], 3)
    assert measured / USERS <= 2048
