"""Fixtures of the domain tests that read the real broker."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings as django_settings

from tests.conftest import _purge_queues, redis_available


@pytest.fixture
def broker():
    """The real Redis broker, its queues and unacked set empty before and after the test."""
    if not redis_available():
        pytest.skip("Redis is not reachable at REDIS_URL")
    from docproc.celery import app

    assert not app.conf.task_always_eager
    _purge_queues()
    conn = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    conn.delete("unacked")
    yield conn
    _purge_queues()
    conn.delete("unacked")
