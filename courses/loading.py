"""Pick the course source the service was configured with (``COMP_PATH``)."""

from pathlib import Path

from courses.files import bundled_catalog, load_directory
from courses.legacy import load_legacy_directory
from courses.model import Catalog, CourseError


def load_catalog(path: Path | None) -> Catalog:
    """None -> the bundled courses; a directory of ``*.json`` course files -> our format;
    a directory of ``*.csv`` graphs -> the legacy layout (figures from the bundled courses).

    A directory holding both is refused rather than guessed at: which one wins would be a
    silent surprise for whoever set ``COMP_PATH``.
    """
    if path is None:
        return bundled_catalog()
    if not path.is_dir():
        raise CourseError(f"{path}: (directory): is not a directory")
    has_json = any(path.glob("*.json"))
    has_csv = any(path.glob("*.csv"))
    if has_json and has_csv:
        raise CourseError(
            f"{path}: (directory): holds both *.json course files and legacy *.csv graphs; "
            "keep one layout per directory"
        )
    if has_json:
        return load_directory(path)
    if has_csv:
        return load_legacy_directory(path)
    raise CourseError(f"{path}: (directory): holds no *.json course files and no *.csv graphs")
