"""Gunicorn settings: ``gunicorn -c python:docproc.gunicorn_conf docproc.wsgi``.

Its error and access logs go through docproc's JSON formatter, like the web and the workers:
one line per request with method, path, status, bytes, duration and the request id. The values
come from docproc/settings.py (DOCPROC_BIND, DOCPROC_WEB_WORKERS, DOCPROC_WEB_TIMEOUT, DOCPROC_LOG_*).
"""

from __future__ import annotations

from docproc import settings as _settings
from docproc.logging import logging_config

bind = _settings.DOCPROC_BIND
workers = _settings.DOCPROC_WEB_WORKERS
timeout = _settings.DOCPROC_WEB_TIMEOUT
# The formatter reads the atoms, not this text; %(M)s is the duration in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)s'
accesslog = "-"
logconfig_dict = logging_config(
    level=_settings.DOCPROC_LOG_LEVEL, log_dir=str(_settings.DOCPROC_LOG_DIR),
    extra_loggers={
        "gunicorn.error": {"handlers": ["console", "errors_file"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
)
