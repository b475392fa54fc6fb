"""The live view of a run: a rich table on a terminal, else one plain line per update.

``rich`` is optional: when it is not importable, or stdout is not a terminal
(CI, a pipe, a file), the plain lines go to stderr so that stdout keeps only
the report.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from loadtest.runner import Progress, ProgressCallback


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def progress_line(p: Progress) -> str:
    """One line of figures so far (latency over the last interval only)."""
    return (
        (f"{p.label} " if p.label else "")
        + f"[{p.elapsed_s:6.1f}/{p.duration_s:g} s] events {p.events_sent} "
        f"({p.events_per_s:.0f}/s)  requests {p.requests} answered {p.answered} "
        f"in flight {p.in_flight}  missing {p.missing} errors {p.errors} "
        f"wrong {p.wrong_shape} conn.problems {p.connection_problems}  "
        f"p50 {_ms(p.recent_p50_ms)} p99 {_ms(p.recent_p99_ms)}"
    )


def _rich_table(p: Progress) -> Any:
    from rich.table import Table  # noqa: PLC0415 - optional dependency

    label = f" ({p.label})" if p.label else ""
    table = Table(title=f"load test{label}: {p.elapsed_s:.1f} of {p.duration_s:g} s")
    table.add_column("figure")
    table.add_column("so far", justify="right")
    rows = [
        ("events sent", f"{p.events_sent} ({p.events_per_s:.0f}/s)"),
        ("requests sent", str(p.requests)),
        ("fully answered", str(p.answered)),
        ("in flight", str(p.in_flight)),
        ("not answered (missing)", str(p.missing)),
        ("error replies", str(p.errors)),
        ("wrong-shaped replies", str(p.wrong_shape)),
        ("connection problems", str(p.connection_problems)),
        ("p50 / p99, last interval", f"{_ms(p.recent_p50_ms)} / {_ms(p.recent_p99_ms)}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def rich_available() -> bool:
    try:
        import rich.live  # noqa: F401, PLC0415 - only probing
    except ImportError:
        return False
    return True


@contextmanager
def progress_display(
    *, enabled: bool = True, stream: TextIO | None = None, use_rich: bool | None = None
) -> Iterator[ProgressCallback | None]:
    """A callback for ``run_load(on_progress=...)`` (``None`` when disabled).

    ``use_rich`` None: rich when stdout is a terminal and rich is importable.
    """
    if not enabled:
        yield None
        return
    if use_rich is None:
        use_rich = sys.stdout.isatty() and rich_available()
    if use_rich:
        from rich.live import Live  # noqa: PLC0415 - optional dependency

        with Live(refresh_per_second=4, transient=True) as live:
            yield lambda progress: live.update(_rich_table(progress))
        return
    out = stream if stream is not None else sys.stderr

    def plain(progress: Progress) -> None:
        print(progress_line(progress), file=out, flush=True)

    yield plain
