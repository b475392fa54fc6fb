"""The old service's data directory (its ``DATA_PATH``): finding and reading its files.

The old service kept three kinds of files per user, flat in one directory:

- ``{user}-{hardware}-{exp}-{course}.json``: the unconverted log of one user
  on one hardware unit, JSON lines, one UI frame per line;
- ``{user}-{exp}-{course}-adjacency.csv``: the transition matrix accumulated
  by earlier conversions (header row = node names, first column = the same
  names, rows = from, columns = to, as ``courses.read_graph_csv`` reads);
- ``{user}-{exp}-{course}-feedback.csv``: the user's feedback, a header row
  naming at least ``state`` and ``subject``, optionally ``t``, ``input`` and
  ``hardware``; other columns (pandas' unnamed index, ...) are ignored.

User ids are UUIDs and hold ``-``, so names are split from the right: course,
exp, hardware (logs only), and the rest is the user. ``exp``, ``course`` and
``hardware`` hold no ``-``; ``course`` may be empty (UIs opened without a
course), the others may not. Other files (our own ``analytics.sqlite3*``) are
not legacy files; ``.json``/``.csv`` names that do not fit are listed as
ignored, with the reason.

Only regular files directly in the directory are read: a symbolic link is
never followed (not even to a file inside the directory, which would be
imported twice), and links, FIFOs and other special files with legacy names
are listed as ignored, with the reason. Problems in a line or a row never stop
anything; a file that cannot be used as a whole (unreadable, not UTF-8 where
text is required, an adjacency matrix that does not fit the course) raises
``LegacyFileError``. How a file is opened and read: ``legacy.files``.

Parsing uses orjson and the stdlib ``csv`` module: this also runs inside the
serving process (a cold legacy user), where ``import pandas`` costs 32 MB.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Final

import attrs

from legacy.files import LegacyFileError, printable, shown_path
from messages import (
    IdLimitError,
    check_course,
    check_exp,
    check_hardware,
    check_user,
)

ADJACENCY_SUFFIX: Final = "-adjacency.csv"
FEEDBACK_SUFFIX: Final = "-feedback.csv"
LOG_SUFFIX: Final = ".json"

__all__ = [
    "CourseFiles",
    "FileKind",
    "LegacyFile",
    "LegacyFileError",
    "LegacyIndex",
    "UserFiles",
    "has_legacy_files",
    "parse_legacy_name",
    "scan_legacy",
]


class FileKind(StrEnum):
    LOG = "log"
    ADJACENCY = "adjacency"
    FEEDBACK = "feedback"


@attrs.frozen
class LegacyFile:
    """One legacy file and what its name says. ``hardware`` is ``None`` except for logs."""

    path: Path
    kind: FileKind
    user: str
    exp: str
    course: str
    hardware: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


@attrs.frozen
class CourseFiles:
    """The files of one user on one ``(exp, course)``; ``logs`` sorted by name."""

    exp: str
    course: str
    logs: tuple[LegacyFile, ...] = ()
    adjacency: LegacyFile | None = None
    feedback: LegacyFile | None = None

    @property
    def files(self) -> tuple[LegacyFile, ...]:
        extra = (self.adjacency, self.feedback)
        return self.logs + tuple(file for file in extra if file is not None)


@attrs.frozen
class UserFiles:
    """Every legacy file of one user, per course, courses sorted by ``(exp, course)``."""

    user: str
    courses: tuple[CourseFiles, ...]

    @property
    def files(self) -> tuple[LegacyFile, ...]:
        return tuple(file for course in self.courses for file in course.files)


@attrs.frozen
class LegacyIndex:
    """What ``scan_legacy`` found: users sorted by id, and the names it ignored (with why)."""

    directory: Path
    users: tuple[UserFiles, ...]
    ignored: tuple[str, ...] = ()


def parse_legacy_name(path: Path) -> LegacyFile | None:
    """The legacy file ``path`` names, or ``None`` if it is not a ``.json``/``.csv`` file.

    Raises ``ValueError`` (with the reason) for a ``.json``/``.csv`` name that
    does not fit the layout or whose ids break the wire's limits.
    """
    name = path.name
    if name.endswith((ADJACENCY_SUFFIX, FEEDBACK_SUFFIX)):
        kind = FileKind.ADJACENCY if name.endswith(ADJACENCY_SUFFIX) else FileKind.FEEDBACK
        parts = name[: -len(f"-{kind}.csv")].rsplit("-", 2)
        if len(parts) != 3:
            raise ValueError(f"expected '{{user}}-{{exp}}-{{course}}-{kind}.csv'")
        user, exp, course = parts
        hardware = None
    elif name.endswith(LOG_SUFFIX):
        kind = FileKind.LOG
        parts = name[: -len(LOG_SUFFIX)].rsplit("-", 3)
        if len(parts) != 4:
            raise ValueError("expected '{user}-{hardware}-{exp}-{course}.json'")
        user, hardware, exp, course = parts
    elif name.endswith(".csv"):
        raise ValueError("a CSV that is neither '*-adjacency.csv' nor '*-feedback.csv'")
    else:
        return None
    try:
        check_user(user)
        check_exp(exp)
        check_course(course)
        if hardware is not None:
            check_hardware(hardware)
    except IdLimitError as exc:
        raise ValueError(f"an id in the name is not valid: {exc}") from None
    return LegacyFile(path, kind, user, exp, course, hardware)


def has_legacy_files(directory: Path) -> bool:
    """Whether ``directory`` holds at least one legacy file; stops at the first one.

    Cheap enough for the service's start-up hint. A directory that does not
    exist or cannot be listed holds none (no exception).
    """
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if parse_legacy_name(Path(entry.path)) is not None and _regular(entry):
                        return True
                except ValueError:
                    continue
    except OSError:
        return False
    return False


def scan_legacy(directory: Path) -> LegacyIndex:
    """Find every legacy file of ``directory`` (not its subdirectories) and group them.

    Symbolic links and special files are never taken, only listed as ignored.
    Raises ``LegacyFileError`` if the directory cannot be listed.
    """
    directory = Path(directory)
    found: dict[str, dict[tuple[str, str], list[LegacyFile]]] = {}
    ignored: list[str] = []
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        raise LegacyFileError(
            f"{shown_path(directory)}: cannot list the directory: {exc.strerror}"
        ) from exc
    for entry in entries:
        try:
            file = parse_legacy_name(Path(entry.path))
        except ValueError as exc:
            if _regular(entry):
                ignored.append(f"{printable(entry.name)}: {exc}")
            continue
        if file is None:
            continue
        why = _not_taken(entry)
        if why:
            ignored.append(f"{printable(entry.name)}: {why}")
        else:
            found.setdefault(file.user, {}).setdefault((file.exp, file.course), []).append(file)
    users = tuple(
        UserFiles(user, tuple(_course_files(key, files) for key, files in sorted(courses.items())))
        for user, courses in sorted(found.items())
    )
    return LegacyIndex(directory, users, tuple(ignored))


def _regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _not_taken(entry: os.DirEntry[str]) -> str:
    """Why a legacy-named entry is not read, or ``""``: only regular files are."""
    try:
        if entry.is_symlink():
            return "a symbolic link: not followed (only files in the directory are read)"
        if not entry.is_file(follow_symlinks=False):
            return "not a regular file: not read"
    except OSError as exc:
        return f"cannot be examined: {exc.strerror}"
    return ""


def _course_files(key: tuple[str, str], files: list[LegacyFile]) -> CourseFiles:
    """Group one course's files; ``files`` come sorted by name, so the logs are too."""
    by_kind = {file.kind: file for file in files if file.kind is not FileKind.LOG}
    return CourseFiles(
        *key,
        logs=tuple(file for file in files if file.kind is FileKind.LOG),
        adjacency=by_kind.get(FileKind.ADJACENCY),
        feedback=by_kind.get(FileKind.FEEDBACK),
    )


def owns_source(user: str) -> Callable[[str], bool]:
    """Whether an import record (a legacy file name) is ``user``'s, as the importer reads it.

    Names start with ``<user>-`` but user ids hold ``-`` too (``ana`` and
    ``ana-b``), so a prefix says nothing: the name is parsed.
    """

    def owned(source: str) -> bool:
        try:
            parsed = parse_legacy_name(Path(source))
        except ValueError:
            return False
        return parsed is not None and parsed.user == user

    return owned
