"""Celery tasks: thin, take ids, call services. Each is idempotent (see services)."""

from __future__ import annotations

import logging
import os

from celery import shared_task
from celery.signals import worker_init, worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

from docproc import dispatch, engines, services, webhooks
from docproc.api import throttling
from docproc.storage import STORAGE_UNAVAILABLE
from workers import observability  # noqa: F401  (heartbeat and log context signals)

log = logging.getLogger(__name__)

RETRY_ON = (OperationalError, InterfaceError, ConnectionError, *STORAGE_UNAVAILABLE)


@worker_init.connect
def _yield_cpu_to_the_web(**_: object) -> None:
    """Lower this worker's CPU priority to DOCPROC_WORKER_NICE before its pool starts (children
    inherit it), never raise it: requests on a shared host are served first, and the backlog
    waits a few milliseconds instead."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if settings.DOCPROC_WORKER_NICE > current:
        os.setpriority(os.PRIO_PROCESS, 0, settings.DOCPROC_WORKER_NICE)


@worker_process_init.connect
def _load_engines(**_: object) -> None:
    """Load the models of this worker's queues once per process, not per task: OCR and layout
    on "ocr", the extractor on "gpu" (and all three on "gpu" when one task does every stage)."""
    queues = settings.DOCPROC_WORKER_QUEUES
    getters = []
    if "ocr" in queues or ("gpu" in queues and not settings.DOCPROC_PIPELINE_STAGES):
        getters += [engines.get_ocr, engines.get_layout]
    if "gpu" in queues:
        getters.append(engines.get_extractor)
    for getter in getters:
        try:
            getter()
        except Exception:  # a missing model fails the documents that need it, with a code
            log.exception("engine failed to load at start-up")


def _crash_fails(document_id: str, call) -> str | None:
    """Run a stage; an engine bug must not leave the document in processing forever: it fails
    with a code. Database and broker errors propagate, so Celery retries the task."""
    try:
        return call(document_id=document_id)
    except RETRY_ON:
        raise
    except Exception as exc:
        log.exception("stage crashed")
        services.document_fail(document_id, code="internal_error", detail=f"{type(exc).__name__}: {exc}"[:500])
        return None


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON,
             retry_backoff=True, max_retries=5)
def document_ingest(self, document_id: str) -> None:
    """Queue "cpu": validate, count pages, read a digital PDF's text layer; queue the next stage."""
    next_stage = services.document_ingest(document_id=document_id)
    if next_stage:
        dispatch.document_stage_enqueue(document_id, next_stage)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON,
             retry_backoff=True, max_retries=5)
def document_ocr(self, document_id: str) -> None:
    """Queue "ocr": render, OCR and lay out the pages, store the reading; queue extraction."""
    if _crash_fails(document_id, services.document_ocr) == services.STAGE_EXTRACT:
        dispatch.document_stage_enqueue(document_id, services.STAGE_EXTRACT)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=RETRY_ON,
             retry_backoff=True, max_retries=5)
def document_extract(self, document_id: str) -> None:
    """Queue "gpu": extract from the stored reading (the LLM), route to review or acceptance."""
    _crash_fails(document_id, services.document_extract)


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
