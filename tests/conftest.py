"""Shared fixtures: API clients, generated claims, and a real Celery worker on the real Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The product's default extractor is the in-process LLM (seconds per document on CPU). Tests of
# everything around extraction use the label rules, exact on the generated claims; tests/extract
# runs every LLM backend for real by choosing it explicitly. Worker processes inherit this.
os.environ.setdefault("DOCPROC_EXTRACT_ENGINE", "rules")
# Commands run as subprocesses (migrate, check) refuse the built-in secret key with DEBUG off.
os.environ.setdefault("DOCPROC_SECRET_KEY", "test-only-" + os.urandom(24).hex())


def pytest_configure(config):
    # pytest-django has read the settings before this file: set the value there too.
    from django.conf import settings

    settings.DOCPROC_EXTRACT_ENGINE = os.environ["DOCPROC_EXTRACT_ENGINE"]
SHARED_DATASETS = Path(os.environ.get("DOCPROC_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test stores files in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


@pytest.fixture(scope="session", autouse=True)
def _audit_truncate_allowed():
    """Transactional tests empty every table with TRUNCATE between tests; on PostgreSQL the audit
    table's trigger refuses that unless the connection opts in (docproc/audit/migrations/0003)."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    def allow(sender, connection, **kwargs):
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET docproc.audit_allow_truncate = 'on'")

    connection_created.connect(allow, weak=False, dispatch_uid="audit-truncate-in-tests")
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            allow(None, conn)
    yield
    connection_created.disconnect(dispatch_uid="audit-truncate-in-tests")


@pytest.fixture
def datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not present")
    return SHARED_DATASETS


@pytest.fixture
def make_api_client(db):
    from docproc.models import ApiClient

    def make(name: str = "claims-platform", **kwargs) -> tuple[ApiClient, str]:
        token = ApiClient.new_token()
        client = ApiClient(name=name, **kwargs)
        client.set_token(token)
        client.save()
        return client, token

    return make


@pytest.fixture
def api(make_api_client):
    """(DRF test client authenticated as a fresh API client, the ApiClient)."""
    from rest_framework.test import APIClient

    client, token = make_api_client()
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return http, client


@pytest.fixture
def eager_tasks():
    """Celery tasks run in process, exceptions propagating (the app reads CELERY_* keys)."""
    from docproc.celery import app

    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield app
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.CELERY_TASK_EAGER_PROPAGATES = False


@pytest.fixture(scope="session")
def claim_files(tmp_path_factory):
    """Digital claims in every layout, with their ground truth."""
    from fixtures.claims import LAYOUTS, make_claim, write_claim_pdf

    out = tmp_path_factory.mktemp("claims")
    files = []
    for i, layout in enumerate(LAYOUTS):
        truth = make_claim(100 + i)
        files.append((write_claim_pdf(truth, out / f"claim-{layout}.pdf", layout=layout), truth))
    return files


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    import redis

    try:
        redis.Redis.from_url(_redis_url(), socket_timeout=1).ping()
        return True
    except Exception:
        return False


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path):
    """A real ``celery worker`` process consuming both queues from the real Redis, sharing the
    test database. Yields the Popen; stops it at the end."""
    if not redis_available():
        pytest.skip("Redis is not reachable at REDIS_URL")
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    if db["ENGINE"].endswith("sqlite3"):
        if str(db["NAME"]).startswith("file:memorydb") or db["NAME"] == ":memory:":
            pytest.skip("the worker process needs a file or PostgreSQL database, not in-memory SQLite")
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["DOCPROC_MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env["DOCPROC_WORKER_QUEUES"] = "cpu,gpu"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _purge_queues()
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "docproc", "worker", "-Q", "cpu,gpu", "-c", "1", "-P", "solo",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready" in log.read_text(errors="replace"):
            break
        if proc.poll() is not None:
            pytest.fail(f"celery worker exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"celery worker did not start: {log.read_text()[-2000:]}")
    proc.log_path = log  # type: ignore[attr-defined]
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _purge_queues() -> None:
    import redis

    r = redis.Redis.from_url(_redis_url())
    for q in ("cpu", "gpu"):
        r.delete(q)


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def have(binary: str) -> bool:
    return shutil.which(binary) is not None
