"""Writers of an old service's data directory, for the legacy import tests.

The tests write every file into ``tmp_path``; no data file is committed.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

UUID_USER = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
SPINNER_LOGS = ("voltage", "voltage_ramp", "position", "position_ramp", "speed", "speed_ramp")
PENDULUM_LOGS = (
    "start",
    "brake",
    "load",
    "free",
    "sampling",
    "drive_perc",
    "brake_perc",
    "measuring_tools",
    "record",
)


def frame(
    user: str,
    t: int,
    log: str,
    *,
    hardware: str,
    exp: str,
    course: str,
    kind: str = "analytics",
    data: Any = 1,
) -> dict[str, Any]:
    """One UI frame as the UI sent it."""
    payload: dict[str, Any] = {"log": log}
    if data is not None:
        payload["data"] = data
    return {
        "user": user,
        "t": t,
        "type": kind,
        "exp": exp,
        "course": course,
        "hardware": hardware,
        "payload": payload,
    }


def random_frames(
    rng: random.Random,
    user: str,
    n: int,
    *,
    hardware: str,
    exp: str,
    course: str,
    t0: int = 1_673_262_940_000,
    step: int = 1000,
    shuffle_t: bool = False,
) -> list[dict[str, Any]]:
    """``n`` analytics frames (with a few non-commands and ``log`` frames mixed in)."""
    logs = SPINNER_LOGS if exp == "spinner" else PENDULUM_LOGS
    times = [t0 + i * step for i in range(n)]
    if shuffle_t:
        rng.shuffle(times)
    frames = []
    for t in times:
        roll = rng.random()
        if roll < 0.1:
            frames.append(frame(user, t, "help", hardware=hardware, exp=exp, course=course))
        elif roll < 0.15:
            frames.append(
                frame(
                    user,
                    t,
                    "analytics-interaction",
                    hardware=hardware,
                    exp=exp,
                    course=course,
                    kind="log",
                    data=None,
                )
            )
        else:
            log = rng.choice(logs)
            frames.append(frame(user, t, log, hardware=hardware, exp=exp, course=course))
    return frames


def log_name(user: str, hardware: str, exp: str, course: str) -> str:
    return f"{user}-{hardware}-{exp}-{course}.json"


def write_log(directory: Path, name: str, lines: Iterable[Mapping[str, Any] | str | bytes]) -> Path:
    """JSON lines; a ``str``/``bytes`` item is written as is (for broken lines)."""
    out = bytearray()
    for line in lines:
        if isinstance(line, bytes):
            out += line
        elif isinstance(line, str):
            out += line.encode()
        else:
            out += orjson.dumps(line)
        out += b"\n"
    path = directory / name
    path.write_bytes(bytes(out))
    return path


def write_matrix_csv(
    directory: Path, name: str, nodes: Sequence[str], matrix: Sequence[Sequence[float]]
) -> Path:
    """pandas ``to_csv`` layout: an unnamed index column, header = nodes."""
    rows = ([node, *row] for node, row in zip(nodes, matrix, strict=True))
    return write_csv(directory, name, ["", *nodes], rows)


def write_csv(
    directory: Path, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Path:
    path = directory / name
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path
