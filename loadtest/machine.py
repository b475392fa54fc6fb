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


def _starting_cpus() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return set()


# Taken once: after a first pinning this process has fewer CPUs of its own,
# and the next service started must get the same split.
_STARTING_CPUS = _starting_cpus()


def split_cpus() -> tuple[set[int], set[int]] | None:
    """One CPU for the service and the rest for the load, or None if that is not possible.

    "On one core" is then literally true, and the load generator's own work
    does not take turns with the service on its core.
    """
    cpus = sorted(_STARTING_CPUS)
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def pin_apart(pid: int) -> set[int] | None:
    """Pin process ``pid`` to one CPU and this process (and what it starts later) to the
    others; the CPUs ``pid`` got, or None (nothing changed) where that is not possible."""
    split = split_cpus()
    if split is None:
        return None
    service_cpus, load_cpus = split
    if not pin_process(pid, service_cpus) or not pin_process(os.getpid(), load_cpus):
        return None
    return service_cpus


def pin_process(pid: int, cpus: set[int]) -> bool:
    """Pin every thread of process ``pid`` to ``cpus``; False if the OS would not."""
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        for tid in threads:
            os.sched_setaffinity(tid, cpus)
    except (AttributeError, OSError):
        return False
    return True


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time process ``pid`` has used so far (Linux ``/proc``; else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5); we split after field 2.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
