"""Markers of the ops tests (registered here: --strict-markers refuses unknown ones)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_index: installs packages from the package index (skipped only when it is"
        " unreachable; deselect with -m 'not needs_index')",
    )
