"""Files written whole or not at all: a temporary file beside the target, then one rename.

A backup or an export that fails halfway (a full disk, Ctrl-C) must not leave
a torn file where a complete one is expected, and must never replace a file
the operator did not ask to replace, not even one that appeared while it ran.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_output(
    destination: Path, *, overwrite: bool, mode: str = "w", sync: bool = True
) -> Iterator[IO]:
    """A file to write that appears at ``destination`` only once it is complete.

    ``mode`` is ``open``'s (text mode writes UTF-8, newlines untranslated).
    On success the file is synced (unless ``sync`` is false: ~8 ms a file
    here, so a writer of many files syncs once at the end instead) and
    published (``publish_file``); on any failure the temporary file is
    removed and ``destination`` is untouched.
    Raises ``FileExistsError`` if ``destination`` exists and ``overwrite``
    is false, ``OSError`` if it cannot be written.
    """
    temporary = temporary_beside(destination)
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with temporary.open(mode, **text) as handle:
            yield handle
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        publish_file(temporary, destination, overwrite=overwrite, sync=sync)
    finally:
        temporary.unlink(missing_ok=True)


def temporary_beside(destination: Path) -> Path:
    """A new empty file in ``destination``'s directory (so the rename stays on one disk)."""
    descriptor, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    os.close(descriptor)
    return Path(name)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def publish_file(temporary: Path, destination: Path, *, overwrite: bool, sync: bool = True) -> None:
    """Rename ``temporary`` to ``destination`` atomically, never clobbering unless asked.

    With ``sync``, the directory entry is on disk when it returns.

    Raises ``FileExistsError`` (nothing changed) if ``destination`` exists and
    ``overwrite`` is false; ``OSError`` if the rename fails.
    """
    if overwrite:
        temporary.replace(destination)
    else:
        _link_without_clobbering(temporary, destination)
    if not sync:
        return
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        directory = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _link_without_clobbering(temporary: Path, destination: Path) -> None:
    """``link`` fails if ``destination`` appeared meanwhile, where ``rename`` would replace it."""
    try:
        os.link(temporary, destination)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: check, then rename (a narrow race).
        if destination.exists():
            raise FileExistsError(destination) from None
        temporary.replace(destination)
    else:
        temporary.unlink()
