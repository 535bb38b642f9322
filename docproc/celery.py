"""Celery application: queues ``cpu`` (ingest, a digital PDF's text layer, delivery), ``ocr``
(render, OCR, layout) and ``gpu`` (extraction: the LLM), JSON only, late acknowledgement for
idempotent tasks, message priorities for fairness between clients (docproc/dispatch.py)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docproc.settings")

app = Celery("docproc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_queues=(Queue("cpu"), Queue("ocr"), Queue("gpu")),
    task_default_queue="cpu",
    # The one place a task's queue is chosen; docproc/dispatch.py queues by task name only.
    task_routes={
        "workers.tasks.document_ingest": {"queue": "cpu"},
        "workers.tasks.document_ocr": {"queue": "ocr"},
        "workers.tasks.document_extract": {"queue": "gpu"},
        "workers.tasks.webhook_deliver": {"queue": "cpu"},
        "workers.tasks.document_reprocess": {"queue": "gpu"},
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        "sweep-stuck-documents": {"task": "workers.tasks.sweep_stuck_documents", "schedule": 60.0},
        "retry-due-webhooks": {"task": "workers.tasks.webhook_retry_due", "schedule": 30.0},
        "purge-expired-documents": {"task": "workers.tasks.purge_expired_documents", "schedule": 3600.0},
        "flush-auth-failures": {"task": "workers.tasks.flush_auth_failures", "schedule": 60.0},
        "flush-upload-refusals": {"task": "workers.tasks.flush_upload_refusals", "schedule": 60.0},
        # Proposals only: nothing changes until a supervisor applies one on the dashboard.
        "refit-calibrations": {"task": "workers.tasks.calibrations_refit", "schedule": 24 * 3600.0},
    },
)

app.autodiscover_tasks(["workers"])


@setup_logging.connect
def _django_logging(**_: object) -> None:
    """Workers log like the web: JSON lines with the request and document ids (Django's LOGGING)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
