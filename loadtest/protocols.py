"""Both generations at once: the v1 (WebSocket) and v2 (HTTP) loads in one run.

``--protocol both`` runs ``run_load`` and ``run_load_v2`` side by side in one
trio run, against one service (the same sessions and store serve both),
for the same duration; ``Reports`` holds what each measured. A spawned
service then gets an HTTP listener, and its store is counted per row type
after it stopped: v1 events against the v1 report, statements against the v2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from loadtest.options import LoadOptions
from loadtest.report import LoadReport, format_report
from loadtest.runner import ProgressCallback, run_load
from loadtest.spawn import spawned_service
from loadtest.v2options import V2Options
from loadtest.v2report import V2Report, format_v2_report
from loadtest.v2runner import run_load_v2


@attrs.frozen
class Reports:
    """The reports of one run: v1's, v2's, or both."""

    v1: LoadReport | None = None
    v2: V2Report | None = None

    @property
    def ok(self) -> bool:
        return all(report.ok for report in (self.v1, self.v2) if report is not None)

    def to_json(self) -> dict[str, Any]:
        """One protocol: its report as it is. Both: ``{"protocol", "ok", "v1", "v2"}``."""
        if self.v1 is None or self.v2 is None:
            only = self.v1 or self.v2
            return {} if only is None else only.to_json()
        return {"protocol": "both", "ok": self.ok, "v1": self.v1.to_json(), "v2": self.v2.to_json()}

    def format(self) -> str:
        parts = []
        if self.v1 is not None:
            parts.append(format_report(self.v1))
        if self.v2 is not None:
            parts.append(format_v2_report(self.v2))
        return "\n\n".join(parts)


async def run_protocols(
    v1: LoadOptions | None,
    v2: V2Options | None,
    *,
    on_progress: ProgressCallback | None = None,
    progress_interval_s: float = 2.0,
) -> Reports:
    """Run the loads given (one or both, side by side) and return their reports."""
    found: dict[str, Any] = {}

    async def one_v1(options: LoadOptions) -> None:
        found["v1"] = await run_load(
            options, on_progress=on_progress, progress_interval_s=progress_interval_s
        )

    async def one_v2(options: V2Options) -> None:
        found["v2"] = await run_load_v2(
            options, on_progress=on_progress, progress_interval_s=progress_interval_s
        )

    async with trio.open_nursery() as nursery:
        if v1 is not None:
            nursery.start_soon(one_v1, v1)
        if v2 is not None:
            nursery.start_soon(one_v2, v2)
    return Reports(found.get("v1"), found.get("v2"))


async def run_spawned_protocols(
    make_v1: Callable[[str], LoadOptions] | None,
    make_v2: Callable[[str], V2Options] | None,
    how: str = "subprocess",
    *,
    on_progress: ProgressCallback | None = None,
    progress_interval_s: float = 2.0,
) -> Reports:
    """Start a service (with an HTTP listener if v2 runs), run the loads, stop it, count.

    The service's CPU time covers both loads when both run.
    """
    async with spawned_service(how, http=make_v2 is not None) as service:
        service.pin()
        v1 = make_v1(service.url) if make_v1 is not None else None
        v2 = None
        if make_v2 is not None:
            assert service.http_url is not None
            v2 = make_v2(service.http_url)
        cpu_before = service.cpu_seconds()
        reports = await run_protocols(
            v1, v2, on_progress=on_progress, progress_interval_s=progress_interval_s
        )
        cpu_after = service.cpu_seconds()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    info = service.info(cpu)
    return Reports(
        None if reports.v1 is None else attrs.evolve(reports.v1, service=info),
        None if reports.v2 is None else attrs.evolve(reports.v2, service=info),
    )
