"""Where a golden data file is: ``tests/data/`` first, else ``../shared/golden/``.

The project keeps its own copies in ``tests/data/`` (being added); until a file is
there, the shared copy beside the checkout is read, through ``tests.conftest``'s
reader, so a missing file fails the test, never skips it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import GOLDEN, read_jsonl

DATA = Path(__file__).resolve().parent / "data"


def golden_path(name: str) -> Path:
    """``tests/data/<name>`` if it exists, else ``../shared/golden/<name>``."""
    own = DATA / name
    return own if own.is_file() else GOLDEN / name


def read_golden(name: str) -> list[dict[str, Any]]:
    """The records of golden JSON-lines file ``name``, from wherever it is."""
    return read_jsonl(golden_path(name))
