"""Reading one log file of the old service: JSON lines, one UI frame per line.

Log lines accepted, one JSON object per line:

1. a UI frame as the UI sent it, ``{"user", "t", "type", "exp", "course",
   "hardware", "payload": {...}}`` of type ``analytics``, ``log`` or
   ``feedback``, validated by ``messages.decode``. ``user``, ``exp``,
   ``course`` and ``hardware`` that are missing or null are taken from the
   file name;
2. a flat line ``{"t", "hardware", "log", ...}`` (no ``payload``, as the
   old converter read them): an ``analytics`` command, or the frame type its
   ``type`` key names. Keys other than ``user``, ``t``, ``type``, ``exp``,
   ``course``, ``hardware`` become its payload, so ``data`` and any extra key
   are kept.

The file is read one line at a time (``legacy.files``): a line longer than
a frame may be (64 KiB) is a problem and is never held whole. Blank lines are
skipped. Any other line is a problem (``"<file>: line N:
why"``) and is not imported: not JSON or not an object, a frame that fails
validation (e.g. no ``t``), a dashboard request (not an event), and a frame
whose ``user``, ``exp`` or ``course`` differs from the file name's. The old
service named each file after its frames, so such a line is damage; storing it
under another user would break the one-transaction-per-user import, and the
file itself stays on disk for a person to look at. A frame's own ``hardware``
is kept even when it differs from the file name's: it is what the UI sent.
"""

from __future__ import annotations

import codecs
from typing import Final

import attrs
import orjson

from legacy.directory import LegacyFile
from legacy.files import (
    LineError,
    file_size,
    import_detail,
    open_legacy,
    read_lines,
    shown,
    too_long,
)
from messages import DecodeError, Event, Request, decode

# The envelope keys of a frame; in a flat line every other key is payload.
ENVELOPE_KEYS: Final = frozenset({"user", "t", "exp", "course", "hardware"})
_FLAT_NOT_PAYLOAD: Final = ENVELOPE_KEYS | {"type"}


@attrs.frozen
class LogRead:
    """The events of one log file in line order, its problems, and its import detail."""

    events: tuple[Event, ...]
    problems: tuple[str, ...]
    detail: str


def read_log(file: LegacyFile) -> LogRead:
    """Every readable line of a log file; raises ``LegacyFileError`` if it cannot be read."""
    events: list[Event] = []
    problems: list[str] = []
    lines = 0
    with open_legacy(file.path) as handle:
        for number, raw in read_lines(handle, file.path):
            lines = number
            if raw is None:
                problems.append(f"{file.name}: {too_long(number)}")
                continue
            # A BOM (an editor's save) would make line 1 unreadable; it is not part of it.
            line = raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw
            if not line.strip():
                continue
            try:
                events.append(_log_event(line, file))
            except LineError as exc:
                problems.append(f"{file.name}: line {number}: {exc}")
        size = file_size(handle)
    return LogRead(tuple(events), tuple(problems), import_detail(size, lines))


def _log_event(line: bytes, file: LegacyFile) -> Event:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc}") from None
    if type(raw) is not dict:
        raise LineError("not a JSON object")
    if "payload" not in raw:
        if "log" not in raw:
            raise LineError("no 'payload' (a UI frame) and no 'log' (a flat log line)")
        payload = {key: value for key, value in raw.items() if key not in _FLAT_NOT_PAYLOAD}
        frame_type = raw.get("type", "analytics")
        raw = {key: raw[key] for key in ENVELOPE_KEYS & raw.keys()}
        raw |= {"type": frame_type, "payload": payload}
    for key, expected in (("user", file.user), ("exp", file.exp), ("course", file.course)):
        value = raw.get(key)
        if value is None:
            raw[key] = expected
        elif value != expected:
            raise LineError(f"the frame's {key} {shown(value)} is not the file's {shown(expected)}")
    if raw.get("hardware") is None:
        raw["hardware"] = file.hardware
    try:
        message = decode(orjson.dumps(raw))
    except DecodeError as exc:
        raise LineError(exc.message) from None
    except orjson.JSONEncodeError as exc:  # an integer orjson reads but cannot write
        raise LineError(f"not valid JSON for a frame: {exc}") from None
    if isinstance(message, Request):
        raise LineError("a dashboard request, not an event")
    return message
