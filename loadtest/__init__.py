"""A load tester: scripted fake students and dashboards against the service.

    learning-analytics loadtest --spawn --users 200 --duration 60

``run_load(LoadOptions(...))`` runs one load in the current trio run and
returns a ``LoadReport``; ``format_report`` writes it for people and
``LoadReport.to_json`` for machines. ``cli_main(argv)`` is the command line.
Only loopback targets unless ``allow_remote`` is given.
"""

from loadtest.cli import cli_main
from loadtest.options import LoadOptions, LoadTestError, check_targets, is_loopback
from loadtest.report import LoadReport, ServiceInfo, format_report
from loadtest.runner import Progress, run_load
from loadtest.stats import percentile, summarize_ms

__all__ = [
    "LoadOptions",
    "LoadReport",
    "LoadTestError",
    "Progress",
    "ServiceInfo",
    "check_targets",
    "cli_main",
    "format_report",
    "is_loopback",
    "percentile",
    "run_load",
    "summarize_ms",
]
