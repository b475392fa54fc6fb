"""What a benchmark ran on, printed with its figures so they can be compared."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine() -> str:
    """One line: cores, CPU, Python, OS, and the load average (others' work skews figures)."""
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load average unknown"
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {load}"
    )


def this_command() -> str:
    """The command line that ran this script, to rerun it."""
    return shlex.join([Path(sys.executable).name, *sys.argv])


def run_header() -> str:
    """What a benchmark prints first: the machine, and the command to run it again."""
    return f"machine:  {describe_machine()}\ncommand:  uv run python {' '.join(sys.argv)}"
