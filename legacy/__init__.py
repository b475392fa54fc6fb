"""The old service's data directory: finding its files, reading them, importing them.

Owns everything about the files the old service left in its ``DATA_PATH``
(``{user}-{hardware}-{exp}-{course}.json`` logs, adjacency and feedback
CSVs): their names (``legacy.directory``), opening and reading them safely
(``legacy.files``), reading logs (``legacy.logs``), the adjacency matrix
(``legacy.tables``) and feedback (``legacy.feedback``), turning one user's
files into store rows (``legacy.convert``), importing a whole directory
(``legacy.importer``, ``legacy.cli``) and writing one again from the store
(``legacy.export``, which alone uses pandas, imported lazily). It may import
``messages``, ``analytics``, ``courses``, ``store`` and ``config``; never
``actors``, ``websocket`` or trio: it is synchronous, and the service calls
it in a thread.
"""

from legacy.convert import ImportedUser, read_legacy_user
from legacy.directory import (
    CourseFiles,
    FileKind,
    LegacyFile,
    LegacyIndex,
    UserFiles,
    has_legacy_files,
    owns_source,
    parse_legacy_name,
    scan_legacy,
)
from legacy.feedback import FeedbackRead, FeedbackRow, read_feedback
from legacy.files import LegacyFileError, printable
from legacy.importer import (
    ImportOutcome,
    ImportReport,
    ImportStatus,
    LegacyImportError,
    format_report,
    import_directory,
)
from legacy.logs import LogRead, read_log
from legacy.tables import read_adjacency

__all__ = [
    "CourseFiles",
    "FeedbackRead",
    "FeedbackRow",
    "FileKind",
    "ImportOutcome",
    "ImportReport",
    "ImportStatus",
    "ImportedUser",
    "LegacyFile",
    "LegacyFileError",
    "LegacyImportError",
    "LegacyIndex",
    "LogRead",
    "UserFiles",
    "format_report",
    "has_legacy_files",
    "import_directory",
    "owns_source",
    "parse_legacy_name",
    "printable",
    "read_adjacency",
    "read_feedback",
    "read_legacy_user",
    "read_log",
    "scan_legacy",
]
