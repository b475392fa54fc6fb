"""A few hundred fuzzed frames against a live service (the small ``benchmarks/fuzz_live.py``).

Every valid event stored, every invalid frame answered with exactly one
error, every valid request answered in full (or ``overloaded``), every frame
that breaks RFC 6455 closes its connection with the right code, and the
service goes on. The oracle is ``messages.decode`` on the text alone
(``loadtest.fuzz.expect``); the wiring from a frame to the store and the
replies is what is under test.
"""

from __future__ import annotations

from loadtest.fuzz import ENDINGS, FrameFuzzer, expect
from loadtest.fuzz_live import fuzz_hub
from store import SqliteStore
from tests.actors.conftest import running_service, service_settings

# Past orjson's own limit (1024): deep payloads are refused at decode (64
# levels) and never reach the writer (issue 12, finding 1).
MAX_DEPTH = 1100


async def test_fuzzed_frames_are_all_answered_stored_or_closed_and_the_service_goes_on(
    tmp_path,
) -> None:
    async with running_service(service_settings(tmp_path)) as service:
        report = await fuzz_hub(
            service.hub_port, frames=600, connections=4, seed=7, batch=20, ending_chance=0.2,
            max_depth=MAX_DEPTH,
        )  # fmt: skip
        assert report.problems == [], report
        assert report.frames["event"] > 100
        assert report.frames["invalid"] > 100
        assert report.frames["request"] > 20
        assert report.frames["ending"] >= 4
        assert sum(report.closes.values()) == report.frames["ending"]
    with SqliteStore(tmp_path) as store:
        assert store.count_events() == report.events


def test_the_fuzzer_makes_every_kind_of_frame_and_ending() -> None:
    fuzzer = FrameFuzzer(3, max_depth=MAX_DEPTH)
    kinds = {expect(fuzzer.text()).kind for _ in range(2000)}
    assert kinds == {"event", "request", "invalid", "ignored"}
    assert {fuzzer.ending()[0] for _ in range(500)} == set(ENDINGS)
