"""Settings for the test suite: the product's settings, with only what makes tests cheap changed.

pytest-django selects this module (pyproject.toml) and exports it as DJANGO_SETTINGS_MODULE, so
the worker processes, gunicorn and ``manage.py`` runs that tests start read it too. Nothing here
changes what a product process does with a document; the differences are:

- a fast password hasher: the default PBKDF2 spends a large part of a second per ``create_user``
  and per sign-in, which is security for stored passwords and pure waste for test users;
- the SQLite test database lives in RAM (``/dev/shm`` where there is one), still as a file, so
  that a real worker process can share it with the test;
- with pytest-xdist, each test process (gw0, gw1, ...) gets a Redis database of its own: its
  worker processes never take another test process's tasks and its heartbeats, rate-limit
  counters and queues are its own (the test databases per process are pytest-django's).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# The product's default extractor is the in-process LLM (seconds per document on CPU). Tests of
# everything around extraction use the label rules, exact on the generated claims; tests/extract
# runs every LLM backend for real by choosing it explicitly. Worker processes inherit this.
os.environ.setdefault("DOCPROC_EXTRACT_ENGINE", "rules")
# Commands run as subprocesses (migrate, check) refuse the built-in secret key with DEBUG off.
os.environ.setdefault("DOCPROC_SECRET_KEY", "test-only-" + os.urandom(24).hex())
# Every test process speaks from 127.0.0.1, so the per-address limit on unauthenticated requests
# (30 a minute) would be spent by whichever tests ran earlier in the same minute, and a test would
# get 429 for its neighbours' calls. The throttle's own tests set the limit they test.
os.environ.setdefault("DOCPROC_ANON_RATE_PER_MINUTE", "100000")
# The sampling audit sends a share of auto-accepted documents (chosen by a hash of their random
# id) to review: tests that expect auto-acceptance would fail by chance. Its tests set the rate.
os.environ.setdefault("DOCPROC_SAMPLE_RATE", "0")


def redis_url_for_worker(url: str, worker: int) -> str:
    """``url`` with its database number moved up by ``worker`` (redis://h:6379/3, 2 -> .../5).
    Other schemes (a unix socket) are left as they are."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    path = parts.path.strip("/")
    base = int(path) if path.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{base + worker}"))


# Done once, in the test process, before the product's settings read the environment; processes
# started by the tests inherit the moved URLs and the marker, so they do not move them again.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker.startswith("gw") and os.environ.get("DOCPROC_TEST_REDIS_WORKER") != _xdist_worker:
    _n = int(_xdist_worker[2:])
    os.environ["REDIS_URL"] = redis_url_for_worker(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), _n)
    if os.environ.get("CELERY_BROKER_URL"):
        os.environ["CELERY_BROKER_URL"] = redis_url_for_worker(os.environ["CELERY_BROKER_URL"], _n)
    os.environ["DOCPROC_TEST_REDIS_WORKER"] = _xdist_worker

from docproc.settings import *  # noqa: E402, F403
from docproc.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _ram_folder() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # One name per test run (xdist's run id is shared by its processes; pytest-django appends
    # _gw0, _gw1 ...), so that runs in different checkouts on one machine never meet.
    _run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:12] or str(os.getpid())
    DATABASES["default"]["TEST"] = {"NAME": str(_ram_folder() / f"docproc-test-{_run}.sqlite3")}
