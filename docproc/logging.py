"""JSON log lines, one format for the web, the workers and gunicorn's access log.

Built on python-json-logger: every ``extra=`` field of a call is kept, and the request and
document ids are added when known. Gunicorn's access records carry their atoms (method, path,
status, duration ...) as fields rather than a text line.
"""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
document_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("document_id", default=None)

# Gunicorn access atoms worth a field each (see gunicorn's access_log_format documentation).
_ACCESS_ATOMS = {"h": "remote_addr", "m": "method", "U": "path", "q": "query", "s": "status", "B": "bytes",
                 "M": "duration_ms", "f": "referer", "a": "user_agent", "{x-request-id}i": "request_id"}


class JsonFormatter(_LibraryJsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*_RESERVED, "color_message"])
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat()
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            for atom, name in _ACCESS_ATOMS.items():
                value = record.args.get(atom)
                if value not in (None, "-", ""):
                    log_data[name] = int(value) if name in ("status", "bytes", "duration_ms") and str(value).isdigit() else value
            log_data["message"] = f"{log_data.get('method', '')} {log_data.get('path', '')} {log_data.get('status', '')}".strip()
        if (rid := request_id_var.get()) is not None:
            log_data.setdefault("request_id", rid)
        if (did := document_id_var.get()) is not None:
            log_data.setdefault("document_id", did)


_RESERVED = ("args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "levelname", "levelno",
             "lineno", "module", "msecs", "message", "msg", "name", "pathname", "process", "processName",
             "relativeCreated", "stack_info", "thread", "threadName", "taskName")


def logging_config(*, level: str, log_dir: str, extra_loggers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The LOGGING dict shared by Django, the Celery workers and gunicorn: JSON to the console,
    and ERROR and above also to ``<log_dir>/errors.log``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "docproc.logging.JsonFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
            "errors_file": {"class": "logging.handlers.WatchedFileHandler", "formatter": "json", "level": "ERROR",
                            "filename": f"{log_dir}/errors.log", "delay": True},
        },
        "root": {"handlers": ["console", "errors_file"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}, **(extra_loggers or {})},
    }
