"""The data going out again: the stored events as a table researchers' tools read.

Owns ``export-events`` (``exports.events``): every stored event, one row
each, in CSV or JSON lines with process-mining column names, read page by
page from one snapshot of the store, so it runs beside a serving process.
The old service's layout goes out through ``legacy.export`` instead. It may
import ``messages``, ``courses`` and ``store``; never ``actors``, trio or
pandas: it is synchronous, and runs only in the CLI.
"""

from exports.events import (
    COLUMNS,
    EventsReport,
    ExportError,
    ExportFormat,
    export_events,
    timestamp,
)

__all__ = [
    "COLUMNS",
    "EventsReport",
    "ExportError",
    "ExportFormat",
    "export_events",
    "timestamp",
]
