"""Real processes for the fault tests: a private redis-server on a free port (the shared Redis is
never touched), Celery workers and gunicorn started here, sharing the test database."""

from __future__ import annotations

import shutil

import pytest

from docproc.bench.stack import RedisServer, Stack

# Low limits so that a lost task is redelivered within seconds: the broker hands an unacked
# task to another worker after the visibility timeout, which stays above the hard time limit.
FAULT_ENV = {
    "DOCPROC_TASK_SOFT_TIME_LIMIT": "25",
    "DOCPROC_TASK_TIME_LIMIT": "30",
    "DOCPROC_VISIBILITY_TIMEOUT": "35",
    "DOCPROC_WEBHOOK_ALLOW_PRIVATE": "1",
    "DOCPROC_WEBHOOK_MAX_ATTEMPTS": "3",
    "DOCPROC_WEBHOOK_TIMEOUT": "2",
    "DOCPROC_WORKER_HEARTBEAT_SECONDS": "2",
    "DOCPROC_LOG_LEVEL": "INFO",
}


def _database_url(connection) -> str:
    db = connection.settings_dict
    if not db["ENGINE"].endswith("postgresql"):
        pytest.skip("fault tests need PostgreSQL (DATABASE_URL=postgres://...)")
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def stack(transactional_db, settings, tmp_path):
    """A private Redis and the environment for workers and web; stops everything at the end."""
    from django.db import connection

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    url = _database_url(connection)
    redis = RedisServer(tmp_path / "redis").start()
    s = Stack(folder=tmp_path, database_url=url, redis=redis, extra_env=dict(FAULT_ENV))
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir(exist_ok=True)
    yield s
    s.stop()


def fail_with_logs(stack: Stack, message: str) -> str:
    logs = []
    for proc in stack.procs:
        path = getattr(proc, "log_path", None)
        if path is not None and path.exists():
            logs.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}")
    return message + "\n" + "\n".join(logs)
