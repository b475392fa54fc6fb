"""Structured logs: one event per line, JSON when not on a terminal.

Every log call names an event (``session.crashed``) and passes ids and
figures in ``extra``; the formatter writes them as fields. No learner
payloads above DEBUG.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson

# Attributes every LogRecord has; anything else came in through ``extra``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...extra, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """``12:00:01 warning session.crashed user=...`` for people."""

    COLORS: ClassVar[dict[str, str]] = {
        "WARNING": "\x1b[33m",
        "ERROR": "\x1b[31m",
        "CRITICAL": "\x1b[31m",
    }

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{key}={value}" for key, value in fields_of(record).items())
        color = self.COLORS.get(record.levelname, "")
        reset = "\x1b[0m" if color else ""
        text = (
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
            f"{color}{record.levelname.lower():7s}{reset} {record.getMessage()} {extra}"
        ).rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(level: str = "INFO", *, stream: Any = None) -> None:
    """Send every log line to ``stream`` (stderr), JSON unless it is a terminal."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    handler.setFormatter(ConsoleFormatter() if is_terminal else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _OwnFile(logging.handlers.WatchedFileHandler):
    """A stream's own file; reopened when logrotate moves it."""


def send_to_file(logger_name: str, path: Path | None) -> None:
    """Lines of ``logger_name`` (at INFO and above, whatever the main level) to ``path``.

    JSON lines, created ``0o640``, and no longer in the main log; ``path``
    None keeps them in the main log. Used for the audit stream
    (``--audit-log``). Raises ``OSError`` if the file cannot be opened.
    """
    logger = logging.getLogger(logger_name)
    for handler in [h for h in logger.handlers if isinstance(h, _OwnFile)]:
        logger.removeHandler(handler)
        handler.close()
    # Its own level: an audit line is kept even when the main log says WARNING.
    logger.setLevel(logging.INFO)
    if path is None:
        logger.propagate = True
        return
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))
    handler = _OwnFile(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
