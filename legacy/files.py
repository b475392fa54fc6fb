"""Reading one file of an old data directory safely, and saying what went wrong in one line.

An old data directory may be careless or hostile: a symbolic link named like
a log pointing at ``/etc/shadow``, a FIFO, a 2 GB sparse file with no
newline, a file name holding a newline that would forge a report line. So:

- ``open_legacy`` never follows a symbolic link (``O_NOFOLLOW``, so a link
  swapped in after the scan is refused too), never blocks on a FIFO
  (``O_NONBLOCK``) and reads only regular files (``fstat``);
- ``read_lines`` yields one line at a time, each at most ``LINE_MAX_BYTES``;
  a longer line is reported and skipped without ever being held, so reading
  a file costs one line of memory whatever its size;
- ``printable`` escapes what people are shown, so no name or value can start
  a line of its own or hide behind control characters.

Every whole-file failure is a ``LegacyFileError`` naming the (escaped) path.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import orjson

# One line holds one UI frame, and PROTOCOL.md bounds a frame at 64 KiB: what
# the service refuses on the wire, the import refuses too. Tables' rows are far shorter.
LINE_MAX_BYTES: Final = 64 * 1024
# Over-long lines are skipped in pieces of this size.
_SKIP_CHUNK: Final = LINE_MAX_BYTES
# A value echoed in a problem line is cut to this length.
ECHO_MAX_CHARS: Final = 40


class LegacyFileError(Exception):
    """A legacy file (or the directory) cannot be used as a whole.

    The message starts with the (escaped) path and says why. The importer
    reports the user as failed and writes nothing for it, so fixing or
    removing the file and running the import again is enough.
    """


class LineError(ValueError):
    """One log line or CSV row that is not imported; the message says why."""


@contextlib.contextmanager
def open_legacy(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for binary reading if it is a regular file reached without a link.

    Raises ``LegacyFileError`` for a symbolic link, anything but a regular
    file, or a file that cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise LegacyFileError(f"{shown_path(path)}: a symbolic link: not followed") from None
        raise LegacyFileError(f"{shown_path(path)}: cannot read: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise LegacyFileError(f"{shown_path(path)}: not a regular file: not read")
    os.set_blocking(descriptor, True)
    handle = os.fdopen(descriptor, "rb")
    with handle:
        yield handle


def file_size(handle: IO[bytes]) -> int:
    return os.fstat(handle.fileno()).st_size


def read_lines(handle: IO[bytes], path: Path) -> Iterator[tuple[int, bytes | None]]:
    """``(number, line)`` for every line, without its end; ``None`` for an over-long line.

    Lines end at ``\\n`` (a ``\\r`` before it is dropped too). At most
    ``LINE_MAX_BYTES`` of one line are ever held: the rest of a longer line
    is read in pieces and dropped. Raises ``LegacyFileError`` if reading fails.
    """
    number = 0
    try:
        while line := handle.readline(LINE_MAX_BYTES + 1):
            number += 1
            if len(line) > LINE_MAX_BYTES:
                if not line.endswith(b"\n"):
                    _skip_to_line_end(handle)
                yield number, None
                continue
            yield number, line.removesuffix(b"\n").removesuffix(b"\r")
    except OSError as exc:
        raise LegacyFileError(f"{shown_path(path)}: cannot read: {exc.strerror}") from exc


def _skip_to_line_end(handle: IO[bytes]) -> None:
    while piece := handle.readline(_SKIP_CHUNK):
        if piece.endswith(b"\n"):
            return


def too_long(number: int) -> str:
    return f"line {number}: longer than {LINE_MAX_BYTES} bytes; skipped"


def import_detail(size: int, lines: int, **more: Any) -> str:
    """The ``detail`` recorded with an imported file: JSON with its size and line count."""
    return orjson.dumps({"size": size, "lines": lines, **more}).decode()


def file_detail(path: Path, **more: Any) -> str:
    """The import detail of a file that is recorded without being parsed (read line by line)."""
    with open_legacy(path) as handle:
        lines = sum(1 for _ in read_lines(handle, path))
        return import_detail(file_size(handle), lines, **more)


def printable(text: str) -> str:
    """``text`` safe to show inside one line: every unprintable character escaped.

    A newline in a file name is shown as ``\\x0a``, so it cannot forge a
    report line; terminal escapes, bidirectional overrides and bytes that are
    not UTF-8 (surrogate escapes) are shown as codes too. Printable text,
    backslashes included, is left alone, so escaping twice changes nothing
    and the output choke points may escape what was already escaped.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown_path(path: Path | str) -> str:
    """A path as problem lines show it: escaped."""
    return printable(str(path))


def shown(value: object) -> str:
    """A value echoed in a problem line: its ``repr``, cut to ``ECHO_MAX_CHARS``."""
    text = printable(repr(value))
    return text if len(text) <= ECHO_MAX_CHARS else text[: ECHO_MAX_CHARS - 3] + "..."
