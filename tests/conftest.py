"""Shared fixtures: the reference data every test reads, from ``tests/data``.

``tests/data`` is a copy of the project's reference data (``../shared`` beside
the checkout, where the lead keeps it): the golden cases, the wire and v2
sessions, and the course figures. It is committed so that a bare clone runs
the whole suite; ``tests/test_reference_data.py`` fails when the copy and
``../shared`` drift apart (and skips when ``../shared`` is not there).

One function serves all of it::

    from tests.conftest import golden

    golden("reference_cases")  # list of dicts, tests/data/golden/reference_cases.jsonl
    golden("wire_sessions")    # list of dicts
    golden("v2_sessions")      # list of dicts
    golden("courses")          # dict, tests/data/reference/courses.json
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Final

import pytest

DATA: Final = Path(__file__).resolve().parent / "data"
GOLDEN: Final = DATA / "golden"
REFERENCE: Final = DATA / "reference"
# What golden() serves, by name: file under tests/data (the same path under ../shared).
GOLDEN_FILES: Final = {
    "reference_cases": "golden/reference_cases.jsonl",
    "wire_sessions": "golden/wire_sessions.jsonl",
    "v2_sessions": "golden/v2_sessions.jsonl",
    "courses": "reference/courses.json",
}


def golden(name: str) -> Any:
    """The reference data ``name`` (a key of ``GOLDEN_FILES``), parsed; read once per run.

    JSON-lines files give a list with one dict per line, ``courses`` gives
    the dict of ``courses.json``. The caller gets its own copy, so a test may
    change what it got. A missing file fails the test (never skips it).
    """
    if name not in GOLDEN_FILES:
        raise KeyError(f"no reference data {name!r}; known: {', '.join(GOLDEN_FILES)}")
    return json.loads(_golden_text(name))


@functools.cache
def _golden_text(name: str) -> str:
    path = DATA / GOLDEN_FILES[name]
    if not path.is_file():
        pytest.fail(f"reference data missing: {path} (it is committed under tests/data)")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":  # one JSON array text: json.loads gives a fresh copy each time
        text = "[" + ",".join(line for line in text.splitlines() if line.strip()) + "]"
    return text


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a missing file fails the test, never skips it."""
    if not path.is_file():
        pytest.fail(f"reference data missing: {path}")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
