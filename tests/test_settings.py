"""The test settings give each parallel test process a Redis database of its own."""

from __future__ import annotations

import pytest

from tests.settings import redis_url_for_worker


@pytest.mark.parametrize(("url", "worker", "expected"), [
    ("redis://127.0.0.1:6379/0", 0, "redis://127.0.0.1:6379/0"),
    ("redis://127.0.0.1:6379/3", 2, "redis://127.0.0.1:6379/5"),
    ("redis://127.0.0.1:6379", 1, "redis://127.0.0.1:6379/1"),
    ("rediss://:secret@cache.internal:6380/4?ssl_cert_reqs=none", 1, "rediss://:secret@cache.internal:6380/5?ssl_cert_reqs=none"),
    ("unix:///run/redis.sock?db=2", 3, "unix:///run/redis.sock?db=2"),
])
def test_each_test_process_moves_the_redis_database_number_by_its_own(url, worker, expected):
    assert redis_url_for_worker(url, worker) == expected


def test_this_process_reads_the_redis_database_chosen_for_it(settings):
    """Under xdist the settings already carry the moved number, and the product reads them."""
    import os

    from docproc.celery import app

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker:
        assert os.environ["DOCPROC_TEST_REDIS_WORKER"] == worker
    assert settings.REDIS_URL == os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
