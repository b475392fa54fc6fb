"""Course files in the project's own JSON format, and the courses bundled with the service.

The format is documented field by field in ``comparison_graphs/README.md``. Parsing is
strict on purpose: the files are edited by hand, and a duplicated key or a typo must stop
the service at start-up with a message naming the file and field, not show up later as a
wrong indicator on a dashboard.
"""

import json
from pathlib import Path
from typing import Any

from courses.model import Catalog, Course, CourseError
from courses.validation import course_from_mapping


class _JsonObject(dict[str, Any]):
    """A parsed JSON object that remembers keys given twice (``json`` keeps only the last)."""

    __slots__ = ("duplicates",)

    def __init__(self) -> None:
        super().__init__()
        self.duplicates: list[str] = []


def _collect_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _find_duplicate(value: object, field: str) -> tuple[str, str] | None:
    """The first (field path, key) given twice, searching depth-first in file order."""
    if isinstance(value, _JsonObject):
        if value.duplicates:
            return field, value.duplicates[0]
        children = [
            (f"{key}" if field == "(top level)" else f"{field}[{key!r}]", child)
            for key, child in value.items()
        ]
    elif isinstance(value, list):
        children = [(f"{field}[{i}]", child) for i, child in enumerate(value)]
    else:
        return None
    for child_field, child in children:
        found = _find_duplicate(child, child_field)
        if found is not None:
            return found
    return None


def parse_course_json(text: str, *, source: str) -> Course:
    """Parse and validate the text of one course file; ``source`` names it in errors."""
    try:
        data = json.loads(text, object_pairs_hook=_collect_pairs)
    except json.JSONDecodeError as error:
        raise CourseError(
            f"{source}: (file): not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from error
    duplicate = _find_duplicate(data, "(top level)")
    if duplicate is not None:
        field, key = duplicate
        what = "task code" if field == "tasks" else "key"
        raise CourseError(
            f"{source}: {field}: {what} {key!r} is given twice (JSON keeps only the last one)"
        )
    return course_from_mapping(data, source=source)


def _read_course(path: Path) -> Course:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CourseError(f"{source}: (file): cannot read: {error}") from error
    return parse_course_json(text, source=source)


def _check_file_name(path: Path, course: Course) -> None:
    """One file per course, findable by name: ``<exp>-<course>.json``."""
    if path.name != f"{course.key}.json":
        raise CourseError(
            f"{path}: exp/course: file name must be {course.key + '.json'!r} for "
            f"exp {course.exp!r}, course {course.course!r}"
        )


def load_course_file(path: Path) -> Course:
    """Load one ``<exp>-<course>.json`` file; its name must match its exp and course."""
    course = _read_course(path)
    _check_file_name(path, course)
    return course


def load_directory(path: Path) -> Catalog:
    """Load every ``*.json`` course file of ``path`` (in name order) into one catalog."""
    files = sorted(path.glob("*.json")) if path.is_dir() else []
    if not files:
        raise CourseError(f"{path}: (directory): holds no *.json course files")
    courses = [_read_course(file) for file in files]
    # Duplicates first: for a stray copy "already defined by <file>" is the useful message.
    catalog = Catalog.of(courses, sources=[str(file) for file in files])
    for file, course in zip(files, courses, strict=True):
        _check_file_name(file, course)
    return catalog


def bundled_directory() -> Path:
    """Where the course files shipped with the service are."""
    package = Path(__file__).resolve().parent
    # An installed wheel carries the repo's comparison_graphs/ inside the package as
    # courses/bundled/ (hatch force-include in pyproject.toml), because site-packages has
    # no repo root. A development checkout (or editable install) has no such copy, so the
    # files are read straight from the repo root beside the package.
    installed = package / "bundled"
    if installed.is_dir():
        return installed
    return package.parent / "comparison_graphs"


def bundled_catalog() -> Catalog:
    """The courses shipped with the service."""
    return load_directory(bundled_directory())
