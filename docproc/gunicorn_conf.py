"""Gunicorn settings: ``gunicorn -c python:docproc.gunicorn_conf docproc.wsgi``.

Its error and access logs go through docproc's JSON formatter, like the web and the workers:
one line per request with method, path, status, bytes, duration and the request id.
"""

from __future__ import annotations

import os
from pathlib import Path

from docproc.logging import logging_config

_data_dir = Path(os.environ.get("DOCPROC_DATA_DIR") or Path(__file__).resolve().parent.parent / "data")
_log_dir = Path(os.environ.get("DOCPROC_LOG_DIR") or _data_dir / "logs")
_log_dir.mkdir(parents=True, exist_ok=True)

bind = os.environ.get("DOCPROC_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("DOCPROC_WEB_WORKERS", "2"))
timeout = int(os.environ.get("DOCPROC_WEB_TIMEOUT", "120"))
# The formatter reads the atoms, not this text; %(M)s is the duration in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)s'
accesslog = "-"
logconfig_dict = logging_config(
    level=os.environ.get("DOCPROC_LOG_LEVEL", "INFO"), log_dir=str(_log_dir),
    extra_loggers={
        "gunicorn.error": {"handlers": ["console", "errors_file"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
)
