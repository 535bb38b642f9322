"""Fixtures for the hostile-input corpus: tasks run in process, and an OCR engine."""

from __future__ import annotations

import pytest


@pytest.fixture
def eager_tasks():
    """Celery tasks run in this process when queued (the task code itself, not a stand-in)."""
    from docproc.celery import app

    # The app reads Django settings with the CELERY_ namespace: set the namespaced keys.
    keys = ("CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_EAGER_PROPAGATES")
    before = [app.conf.get(k) for k in keys]
    app.conf["CELERY_TASK_ALWAYS_EAGER"], app.conf["CELERY_TASK_EAGER_PROPAGATES"] = True, False
    assert app.conf.task_always_eager
    yield app
    for key, value in zip(keys, before, strict=True):
        app.conf[key] = bool(value)


@pytest.fixture
def ocr_available():
    """The configured OCR engine, built fresh for the test and dropped after it."""
    from docproc import engines

    engines.reset_engines()
    engines.get_ocr()
    yield
    engines.reset_engines()
