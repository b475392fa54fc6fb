"""The feedback tally is bounded by the course, not by what a client invents (issue 12, 4)."""

from __future__ import annotations

import orjson

from analytics.progress import CourseProgress
from analytics.v2_session import V2Session
from courses import bundled_catalog
from messages import AffectiveState

COURSE = bundled_catalog().course("spinner", "cie3")
STATES = ("Engaged", "Curious", "Delighted", "Bored", "Confused", "Frustrated", "Surprised")


def test_invented_subjects_and_states_leave_the_snapshot_as_it_was():
    progress = CourseProgress(COURSE)
    progress.add_feedback("Curious", "Hardware")
    before = orjson.dumps(progress.to_record())
    for n in range(100_000):
        progress.add_feedback("Curious", f"subject {n:06d} " + "x" * 180)
        progress.add_feedback(f"state {n}", "Hardware")
    assert orjson.dumps(progress.to_record()) == before


def test_the_tally_holds_at_most_every_state_by_every_subject_of_the_course():
    progress = CourseProgress(COURSE)
    for state in (*STATES, "Anxious"):
        for subject in sorted(COURSE.feedback_subjects):
            for _ in range(3):
                progress.add_feedback(state, subject)
    record = progress.to_record()
    assert len(record["feedback"]) == 8 * len(COURSE.feedback_subjects)
    assert all(n == 3 for _, _, n in record["feedback"])


def test_enjoyment_counts_what_scores_as_before():
    progress = CourseProgress(COURSE)
    for state, subject in [("Curious", "UI"), ("Bored", "LA"), ("Bored", "Cooking"), ("Odd", "UI")]:
        progress.add_feedback(state, subject)
    assert dict(progress.snapshot().feedback) == {("Curious", "UI"): 1, ("Bored", "LA"): 1}


def test_a_v2_affective_state_follows_the_same_rule():
    session = V2Session(COURSE)
    session.add_user_feedback(AffectiveState("Curious", "Hardware"))
    session.add_user_feedback(AffectiveState("Curious", "Cooking"))
    session.add_user_feedback(AffectiveState("Sleepy", "Hardware"))
    assert dict(session.snapshot().student.feedback) == {("Curious", "Hardware"): 1}
