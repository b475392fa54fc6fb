"""v1 events and v2 statements of one ``(user, exp, course)`` feed one progress.

Expected values are counted here by hand from the two ordering rules
(PROTOCOL.md: arrival order; PROTOCOL-V2.md: timestamp order), not by the
code under test.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import orjson

from analytics.progress import STATEMENT_TYPE, USER_FEEDBACK_TYPE, StudentProgress
from courses import bundled_catalog
from messages import AnalyticsEvent, AnalyticsPayload, Statement, UserDifficulty

CATALOG = bundled_catalog()
COURSE = CATALOG.course("spinner", "engdes1")
NODES = COURSE.nodes


def at(source: str, target: str) -> tuple[int, int]:
    return NODES.index(source), NODES.index(target)


def command(t: int, log: str) -> AnalyticsEvent:
    return AnalyticsEvent(
        user="ana", t=t, exp="spinner", course="engdes1", payload=AnalyticsPayload(log)
    )


def click(t: int, node: str) -> Statement:
    return Statement(verb="clicked", timestamp=t, object_id=f"b-{node}", graph_node=node)


def test_both_generations_add_up_in_one_matrix_and_one_tally():
    progress = StudentProgress("ana", CATALOG)
    for t, log in enumerate(["voltage", "speed", "voltage"]):  # v1: arrival order
        progress.apply(command(t, log))
    # Arriving out of order, counted in timestamp order.
    for t, node in [(30, "position_step"), (10, "speed_ramp"), (20, "voltage_ramp")]:
        progress.apply_v2("spinner", "engdes1", click(t, node))
    expected = np.zeros((len(NODES), len(NODES)), dtype=int)
    for pair in [
        ("voltage_step", "speed_step"),
        ("speed_step", "voltage_step"),
        ("speed_ramp", "voltage_ramp"),
        ("voltage_ramp", "position_step"),
    ]:
        expected[at(*pair)] += 1
    (key,) = progress.courses
    assert key == ("spinner", "engdes1")
    both = progress.courses[key]
    assert np.array_equal(both.snapshot().matrix, expected)
    v2 = both.v2_snapshot()
    assert np.array_equal(v2.matrix, expected)
    assert [NODES[i] for i in v2.ordered_actions] == ["speed_ramp", "voltage_ramp", "position_step"]


def test_an_alias_is_its_own_key_on_the_same_course():
    """Rows are stored with the code as sent: a snapshot's key must cover exactly them."""
    progress = StudentProgress("ana", CATALOG)
    progress.apply(command(1, "voltage"))
    progress.apply_v2("spinner", "ed1", click(10, "speed_ramp"))
    assert set(progress.courses) == {("spinner", "engdes1"), ("spinner", "ed1")}
    assert progress.courses["spinner", "ed1"].course is COURSE
    record = progress.courses["spinner", "ed1"].to_record()
    again = StudentProgress("ana", CATALOG)
    assert again.restore({("spinner", "ed1"): record}) == []
    assert again.courses["spinner", "ed1"].course is COURSE


def test_a_v1_user_carries_no_v2_state():
    progress = StudentProgress("ana", CATALOG)
    progress.apply(command(1, "voltage"))
    course = progress.courses["spinner", "engdes1"]
    assert course.v2 is None
    assert "v2" not in course.to_record()
    assert course.v2_snapshot().ordered_actions == b""


def test_the_record_keeps_both():
    progress = StudentProgress("ana", CATALOG)
    progress.apply(command(1, "voltage"))
    progress.apply(command(2, "speed"))
    progress.apply_v2("spinner", "ed1", click(10, "speed_ramp"))
    progress.apply_v2("spinner", "ed1", click(20, "speed_ramp"))
    progress.apply_v2("spinner", "ed1", UserDifficulty({"spinner-ed1-1-core": 4}))
    record = orjson.loads(orjson.dumps(progress.courses["spinner", "ed1"].to_record()))
    again = StudentProgress("ana", CATALOG)
    assert again.restore({("spinner", "ed1"): record}) == []
    before, after = progress.courses["spinner", "ed1"], again.courses["spinner", "ed1"]
    assert np.array_equal(after.snapshot().matrix, before.snapshot().matrix)
    assert after.v2_snapshot() == before.v2_snapshot()
    assert dict(after.v2_snapshot().difficulty) == {"1-core": 4}


def stored(type_: str, payload: object, **envelope: object) -> SimpleNamespace:
    fields = {"user": "ana", "exp": "spinner", "course": "ed1", "hardware": None, "t": 0}
    return SimpleNamespace(type=type_, payload=payload, **(fields | envelope))


def test_stored_rows_replay_to_the_same_state():
    body = {
        "timestamp": 10,
        "verb": {"name": "clicked"},
        "object": {"id": "b"},
        "context": {"graph_node": "speed_ramp"},
    }
    live = StudentProgress("ana", CATALOG)
    live.apply(command(1, "voltage"))
    live.apply(command(2, "speed"))
    live.apply_v2("spinner", "ed1", click(10, "speed_ramp"))
    live.apply_v2("spinner", "ed1", click(11, "speed_ramp"))
    replayed = StudentProgress("ana", CATALOG)
    for row in [
        stored("analytics", {"log": "voltage"}, course="engdes1", t=1),
        stored("analytics", {"log": "speed"}, course="engdes1", t=2),
        stored(STATEMENT_TYPE, body),
        stored(STATEMENT_TYPE, body | {"timestamp": 11, "object": {"id": "c"}}),
        stored(USER_FEEDBACK_TYPE, {"user_difficulty": {"1-core": "NA"}}),
    ]:
        replayed.replay(row)
    for key in [("spinner", "engdes1"), ("spinner", "ed1")]:
        expected = live.courses[key].snapshot().matrix
        assert np.array_equal(replayed.courses[key].snapshot().matrix, expected)
        assert expected.sum() == 1


def test_an_unknown_course_keeps_no_state():
    progress = StudentProgress("ana", CATALOG)
    assert progress.apply_v2("spinner", "ed9", click(1, "speed_ramp")) is None
    assert progress.courses == {}


def test_a_v1_frame_never_counts_under_an_alias():
    progress = StudentProgress("ana", CATALOG)
    progress.apply_v2("spinner", "ed1", click(10, "speed_ramp"))
    frame = AnalyticsEvent(
        user="ana", t=1, exp="spinner", course="ed1", payload=AnalyticsPayload("voltage")
    )
    assert progress.apply(frame) is None
    assert progress.courses["spinner", "ed1"].snapshot().matrix.sum() == 0
