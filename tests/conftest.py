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
# DOCPROC_EXTRACT_ENGINE=rules, DOCPROC_SECRET_KEY and the other test-only settings: tests/settings.py.


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (scripts/test): tests are handed to the test processes one by one,
    except that the tests of a module using ``celery_worker_process`` go to one process together,
    so that the module's worker process starts once. (xdist's own loadgroup marks its groups by
    renaming tests, which pytest 9.2 no longer allows; this needs no marker.)"""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class ModuleWorkerScheduling(LoadScopeScheduling):
        _modules: dict[str, bool] = {}

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in self._modules:
                path = root / module
                text = path.read_text(errors="replace") if path.is_file() else ""
                self._modules[module] = "celery_worker_process" in text
            return module if self._modules[module] else nodeid

    return ModuleWorkerScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Tests marked ``slow`` (a real model or OCR engine; one of them runs for minutes) are handed
    out first: started last, the longest of them would run alone at the end while the other test
    processes idle. The order is otherwise kept (Django's test-case ordering included)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


SHARED_DATASETS = Path(os.environ.get("DOCPROC_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test databases, and a cheap reset for transactional tests.

    After a transactional test Django empties every table and runs the post_migrate handlers
    again (content types, permissions, the four roles, whose permission changes write audit
    events): about two seconds a test, most of a transactional test's cost. Here the rows that
    migrate left are remembered once, and the emptying puts exactly those rows back instead, so a
    transactional test starts from the same database as every other test."""
    from django.core.management.commands import flush
    from django.db import connections

    with django_db_blocker.unblock():
        snapshots = {alias: _rows_after_migrate(alias) for alias in connections}
    emit = flush.emit_post_migrate_signal

    def restore_rows_after_migrate(verbosity, interactive, db, **kwargs):
        if db not in snapshots:
            return emit(verbosity, interactive, db, **kwargs)
        from django.db import transaction

        with transaction.atomic(using=db):
            for model, rows in snapshots[db]:
                model._base_manager.using(db).bulk_create([model(**row) for row in rows])
        return None

    flush.emit_post_migrate_signal = restore_rows_after_migrate
    yield
    flush.emit_post_migrate_signal = emit


def _rows_after_migrate(alias: str) -> list:
    from django.apps import apps

    out = []
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        names = [f.attname for f in model._meta.concrete_fields]
        rows = list(model._base_manager.using(alias).values(*names))
        if rows:
            out.append((model, rows))
    return out


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


class _ModuleWorker:
    """The module's ``celery worker`` process; started again only when a test's environment
    differs from the one it was started with (a test that sets a variable for it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.media_root = folder / "media"
        self.media_root.mkdir()
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def ensure(self, env: dict[str, str]) -> subprocess.Popen:
        if self.proc is not None and self.proc.poll() is None and env == self.env:
            return self.proc
        self.stop()
        _purge_queues()
        log = self.folder / "worker.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "docproc", "worker", "-Q", "cpu,ocr,gpu", "-c", "1", "-P", "solo",
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
        self.proc, self.env = proc, env
        return proc

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def _module_celery_worker(django_db_setup, tmp_path_factory):
    """One real worker process per test module: started by the module's first test that asks for
    it, stopped after the module's last test, so the tests share its start-up and loaded engines."""
    worker = _ModuleWorker(tmp_path_factory.mktemp("celery-worker"))
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker_process(_module_celery_worker, transactional_db, settings):
    """A real ``celery worker`` process consuming every queue from the real Redis, sharing the
    test database and media folder, with the test's environment as it is when the test asks for
    it. Yields the Popen (``log_path``: its log, shared by the module's tests). Each test starts
    with empty queues and an emptied database."""
    if not redis_available():
        pytest.skip("Redis is not reachable at REDIS_URL")
    from django.db import connection

    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    if db["ENGINE"].endswith("sqlite3"):
        if str(db["NAME"]).startswith("file:memorydb") or db["NAME"] == ":memory:":
            pytest.skip("the worker process needs a file or PostgreSQL database, not in-memory SQLite")
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["DOCPROC_MEDIA_ROOT"] = str(_module_celery_worker.media_root)
    env["DOCPROC_WORKER_QUEUES"] = "cpu,ocr,gpu"
    settings.MEDIA_ROOT = _module_celery_worker.media_root
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _purge_queues()
    proc = _module_celery_worker.ensure(env)
    yield proc
    _purge_queues()


def _purge_queues() -> None:
    import redis

    r = redis.Redis.from_url(_redis_url())
    for q in ("cpu", "ocr", "gpu"):
        r.delete(q, *(f"{q}\x06\x16{p}" for p in range(1, 10)))  # and its priority lists


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



@pytest.fixture
def upload_refusals():
    """Refused uploads are counted per minute in Redis and written once the minute is over: this
    empties the counters of earlier tests and returns a function that writes the current minute's
    counts (as the beat job does a minute later)."""
    import time

    import redis

    from docproc import services

    if redis_available():
        conn = redis.Redis.from_url(_redis_url())
        for key in conn.scan_iter("docproc:upload-refused:*"):
            conn.delete(key)
    return lambda: services.flush_upload_refusals(now=time.time() + 60)
