"""Fixtures for the hostile-input corpus: tasks run in process, and an OCR engine."""

from __future__ import annotations

import warnings

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
def ocr_available(settings):
    """The configured OCR engine; while no OCR engine package is installed in this checkout, an
    engine that finds no words, so that the code around OCR (render, colour modes, limits) is
    still exercised on every image."""
    from docproc import engines
    from docproc.pipeline import registry

    try:
        engines.get_ocr()
    except (ImportError, registry.UnknownEngine) as exc:
        warnings.warn(f"configured OCR engine unavailable ({exc}); hostile images read by a blank engine", stacklevel=1)
        registry.ENGINES["ocr"]["blank"] = "tests.hostile.blank_ocr:BlankOcrEngine"
        settings.DOCPROC_OCR_ENGINE = "blank"
    yield
    engines.reset_engines()
