"""``--plot PNG``: latency and send rate per second, if matplotlib is installed.

matplotlib is not a dependency of the service (it is large and only a
lecturer's nicety), so a missing one skips the plot with a message.
"""

from __future__ import annotations

from pathlib import Path

from loadtest.report import LoadReport
from loadtest.v2report import V2Report


def plot_timeline(report: LoadReport | V2Report, path: Path) -> str:
    """Write the plot; returns what was done (or why not), for the user."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return f"no plot written to {path}: matplotlib is not installed (pip install matplotlib)"
    seconds = [row["t_s"] for row in report.timeline]
    figure, (latency, rate) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        values = [row[key] if row[key] is not None else float("nan") for row in report.timeline]
        latency.plot(seconds, values, label=label)
    latency.set_ylabel("round trip (ms)")
    latency.legend()
    sent = "events" if isinstance(report, LoadReport) else "statements"
    rate.bar(seconds, [row["events"] for row in report.timeline], label=f"{sent} sent")
    rate.set_ylabel(f"{sent} / s")
    rate.set_xlabel("second of the run")
    mode = report.mode if isinstance(report, LoadReport) else "v2 (HTTP)"
    figure.suptitle(f"{report.users} students, {report.dashboards} dashboards, {mode}")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return f"plot written to {path}"
