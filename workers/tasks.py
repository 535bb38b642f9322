"""Celery tasks: thin, take ids, call services. Each is idempotent (see services)."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

from docproc import dispatch, engines, services, webhooks
from docproc.api import throttling
from workers import observability  # noqa: F401  (heartbeat and log context signals)

log = logging.getLogger(__name__)

RETRY_ON = (OperationalError, InterfaceError, ConnectionError)


@worker_process_init.connect
def _load_engines(**_: object) -> None:
    """Load the configured models once per worker process, not per task."""
    if "gpu" in settings.DOCPROC_WORKER_QUEUES:
        for getter in (engines.get_ocr, engines.get_layout, engines.get_extractor):
            try:
                getter()
            except Exception:  # a missing model fails the documents that need it, with a code
                log.exception("engine failed to load at start-up")


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON,
             retry_backoff=True, max_retries=5)
def document_ingest(self, document_id: str) -> None:
    if services.document_ingest(document_id=document_id):
        dispatch.document_extract_enqueue(document_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON,
             retry_backoff=True, max_retries=5)
def document_extract(self, document_id: str) -> None:
    try:
        services.document_extract(document_id=document_id)
    except RETRY_ON:
        raise
    except Exception as exc:
        # An engine bug must not leave the document in processing forever: it fails with a code.
        log.exception("extraction crashed")
        services.document_fail(document_id, code="internal_error", detail=f"{type(exc).__name__}: {exc}"[:500])


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON,
             retry_backoff=True, max_retries=5)
def document_reprocess(self, run_id: str) -> None:
    """A requested re-run beside the document's current run (docproc/services/reprocess.py)."""
    try:
        services.document_reprocess(run_id=int(run_id))
    except RETRY_ON:
        raise
    except Exception as exc:
        # An engine bug must not leave the re-run queued forever; the current run is untouched.
        log.exception("re-run crashed")
        services.rerun_fail(run_id=int(run_id), code="internal_error", detail=f"{type(exc).__name__}: {exc}"[:500])


@shared_task
def calibrations_refit() -> int:
    """Refit calibrations on reviewer outcomes and propose them (beat, daily); nothing is applied."""
    return len(services.calibrations_refit())


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON, max_retries=5)
def webhook_deliver(self, delivery_id: str) -> None:
    webhooks.delivery_attempt(delivery_id=delivery_id)


@shared_task
def webhook_retry_due() -> int:
    due = webhooks.deliveries_due()
    for delivery_id in due:
        dispatch.webhook_deliver_enqueue(delivery_id, quiet=False)
    return len(due)


@shared_task
def sweep_stuck_documents() -> int:
    return len(services.documents_requeue_stuck())


@shared_task
def purge_expired_documents() -> int:
    """Retention: purge documents older than their client's retention_days (beat, hourly)."""
    return len(services.documents_purge_expired())


@shared_task
def flush_auth_failures() -> int:
    """Write the per-address counts of failed API authentications of finished minutes (beat, every minute)."""
    return throttling.flush_auth_failures()


@shared_task
def flush_upload_refusals() -> int:
    """Write the per-client, per-code counts of refused uploads of finished minutes (beat, every minute)."""
    return services.flush_upload_refusals()
