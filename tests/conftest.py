"""Shared fixtures: where the golden reference data lives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLDEN = SHARED / "golden"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a missing file fails the test, never skips it."""
    if not path.is_file():
        pytest.fail(f"golden data missing: {path} (tests need ../shared beside the checkout)")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
