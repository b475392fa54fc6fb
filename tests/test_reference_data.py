"""The committed reference data (``tests/data``) is the project's, byte for byte.

The lead keeps the reference data in ``../shared`` beside the checkout; the
tests read the copy under ``tests/data`` so that a bare clone runs them. When
``../shared`` is there, the copy must equal it exactly, so the two cannot
drift apart; when it is not (a fresh clone), there is nothing to compare.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, GOLDEN_FILES, golden

SHARED = Path(__file__).resolve().parents[2] / "shared"
# Every file of tests/data comes from ../shared under the same relative path.
COPIED = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file())


def test_the_copy_holds_what_the_loader_serves_and_nothing_else():
    assert set(GOLDEN_FILES.values()) <= set(COPIED)
    assert set(COPIED) - set(GOLDEN_FILES.values()) == {"golden/README.md"}


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared beside the checkout")
@pytest.mark.parametrize("relative", COPIED)
def test_the_copy_equals_shared_byte_for_byte(relative: str):
    original = SHARED / relative
    assert original.is_file(), f"{relative} is no longer in {SHARED}: drop it from tests/data"
    assert (DATA / relative).read_bytes() == original.read_bytes(), (
        f"tests/data/{relative} differs from {original}: copy it again"
    )


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared beside the checkout")
def test_every_golden_file_of_shared_is_copied():
    shared = {p.relative_to(SHARED).as_posix() for p in (SHARED / "golden").glob("*")}
    assert shared <= set(COPIED)


def test_golden_serves_every_file_parsed():
    assert len(golden("reference_cases")) == 299  # golden README: "299 cases in all"
    assert len(golden("wire_sessions")) == 30  # "30 scripted students"
    assert all("expected" in session for session in golden("v2_sessions"))
    assert {c["course"] for c in golden("courses")["courses"]} == {"cie3", "engdes1"}


def test_golden_gives_each_caller_its_own_copy():
    first = golden("wire_sessions")
    first[0]["frames"].clear()
    assert golden("wire_sessions")[0]["frames"]
    with pytest.raises(KeyError, match="known"):
        golden("wire_session")
