"""A flood of refused credentials writes a bounded number of audit lines, and loses no count."""

from __future__ import annotations

import logging

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access.audit import AUDIT_LOGGER, RefusalAudit


@attrs.define
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    def read() -> list[tuple[str, str, int]]:
        return [
            (r.getMessage(), r.peer, getattr(r, "suppressed", 1))
            for r in caplog.records
            if r.name == AUDIT_LOGGER
        ]

    return read


def refuse(audit: RefusalAudit, peer: str, times: int = 1) -> None:
    for _ in range(times):
        audit.refused(peer=peer, who="unauthenticated", route="hub", status=401, reason="no code")


def test_a_peer_gets_its_lines_then_one_summary_when_its_window_ends(lines):
    clock = Clock()
    audit = RefusalAudit(clock, window_s=60, per_peer=3)
    refuse(audit, "10.0.0.1", 1000)
    assert lines() == [("audit.credential_refused", "10.0.0.1", 1)] * 3
    clock.now = 59.9
    refuse(audit, "10.0.0.2")  # still 10.0.0.1's window: no summary yet
    assert len(lines()) == 4
    clock.now = 60.0
    refuse(audit, "10.0.0.2")
    assert lines()[4:] == [
        ("audit.credential_refused_summary", "10.0.0.1", 997),
        ("audit.credential_refused", "10.0.0.2", 1),
    ]


def test_the_total_is_bounded_across_peers_and_flush_writes_what_is_pending(lines):
    audit = RefusalAudit(Clock(), per_peer=5, in_total=10)
    for number in range(100):
        refuse(audit, f"10.0.1.{number}", 2)
    assert len(lines()) == 10
    audit.flush()
    summaries = [line for line in lines() if line[0].endswith("_summary")]
    assert sum(count for *_, count in summaries) == 200 - 10
    audit.flush()  # nothing twice
    assert len(lines()) == 10 + len(summaries)


def test_the_windows_held_are_bounded(lines):
    audit = RefusalAudit(Clock(), per_peer=0, max_peers=50)
    for number in range(1000):
        refuse(audit, f"peer-{number}")
    assert len(audit._peers) == 50
    assert len(lines()) == 1000 - 50  # the evicted ones' summaries


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(0, 200, allow_nan=False)), min_size=1, max_size=80
    )
)
def test_every_refusal_is_a_line_or_counted_in_a_summary(refusals):
    # Independent of the policy's details: written + summarized == refused, per peer.
    clock = Clock()
    audit = RefusalAudit(clock, window_s=60, per_peer=2, in_total=5, max_peers=3)
    written: dict[str, int] = {}

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written[record.peer] = written.get(record.peer, 0) + getattr(record, "suppressed", 1)

    handler = Count()
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        for peer, advance in refusals:
            clock.now += advance
            refuse(audit, f"p{peer}")
        audit.flush()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    expected: dict[str, int] = {}
    for peer, _ in refusals:
        expected[f"p{peer}"] = expected.get(f"p{peer}", 0) + 1
    assert written == expected
