"""The service's own log: JSON lines on standard error, one object per event, never personal data.

An error is logged with the request id, its class and where it happened (file, line, function for
each frame), but not its message: exception texts can quote what a request carried (a name, an
ID, a payload), and the log is read by more people than the data may be. The request id leads an
operator from a problem document to its line here and to the audit log.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

LOGGER = "xinyong"


class JsonLines(logging.Formatter):
    """Formats a record as one line of JSON: time, level, logger, message, request id, error class and frames."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "method", "path", "status"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line["error"] = type(exc).__qualname__
            line["frames"] = [f"{frame.filename}:{frame.lineno} in {frame.name}"
                              for frame in traceback.extract_tb(exc.__traceback__)]
            causes: list[str] = []
            cause = exc.__cause__ or exc.__context__
            while cause is not None and len(causes) < 5:
                causes.append(type(cause).__qualname__)
                cause = cause.__cause__ or cause.__context__
            if causes:
                line["caused_by"] = causes
        return json.dumps(line, ensure_ascii=False)


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]  # its stream is not fixed
    """Writes to whatever `sys.stderr` is at the moment (a test's capture, gunicorn's error log)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def install() -> None:
    """Send the service's log to standard error as JSON lines (once per process)."""
    logger = logging.getLogger(LOGGER)
    if any(getattr(h, "_xinyong", False) for h in logger.handlers):
        return
    handler = _StandardError()
    handler.setFormatter(JsonLines())
    handler._xinyong = True  # type: ignore[attr-defined]  # marks the handler this function installed
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
