"""Retention: after a client's ``retention_days``, a finished document's file, page images,
OCR results and field values (extracted, and old/new values in the review history) are purged,
and so are the payloads of its audit events that hold document content, while the hash chain
still verifies (how: docproc/audit/purge.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from docproc.audit.purge import audit_payloads_purge
from docproc.audit.service import SYSTEM, Actor
from docproc.models import (
    FINAL_STATUSES,
    ApiClient,
    Document,
    Field,
    FieldOutcome,
    Page,
    StageResult,
    WebhookDelivery,
)
from docproc.pipeline.extract.llm import ResultCache, client_scope
from docproc.storage import file_delete, folder_delete
from reviewer.queue import review_history_purge

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    document_id: str
    files_deleted: int
    fields_purged: int
    events_purged: int
    purge_seq: int


def _delete_files(doc: Document) -> int:
    """Delete the original and the page images through the storage (before the database says so:
    if this fails half-way, the next run finishes it; a file is never left behind a 'purged'
    document), and whatever else is stored under the document's folders (a preview an earlier
    run left). Returns how many files were deleted."""
    names = [doc.file.name] if doc.file else []
    for image, thumb in Page.objects.filter(document=doc).values_list("image", "thumbnail"):
        names += [image, thumb]
    deleted = sum(file_delete(name) for name in dict.fromkeys(names) if name)
    deleted += folder_delete(f"pages/{doc.id}")
    deleted += folder_delete(f"documents/{doc.id.hex[:2]}/{doc.id.hex}")
    return deleted


def document_purge(*, document_id, actor: Actor = SYSTEM, reason: str = "retention", now: datetime | None = None
                   ) -> PurgeResult | None:
    """Purge one document's content (see the module docstring). Idempotent: a document already
    purged returns None. A document whose webhook delivery is still pending is not purged (None):
    its result is sent as it was, never a purge marker, and the purge waits for the delivery or
    its dead letter."""
    now = now or timezone.now()
    doc = Document.objects.filter(pk=document_id).first()
    if doc is None or doc.purged_at is not None:
        return None
    if _delivery_pending(doc.pk):
        log.info("purge of document %s waits for its webhook delivery", doc.pk)
        return None
    files_deleted = _delete_files(doc)
    # Cached LLM answers are extracted personal data too (scope as workers/observability sets it).
    cache_dir = getattr(settings, "DOCPROC_LLM_CACHE_DIR", "")
    files_deleted += ResultCache.purge_document(Path(cache_dir) if cache_dir else None,
                                                client=client_scope(doc.client_id),
                                                document=str(doc.id))
    with transaction.atomic():
        doc = Document.objects.select_for_update().get(pk=document_id)
        if doc.purged_at is not None or _delivery_pending(doc.pk):
            return None
        fields_purged = Field.objects.filter(document=doc).update(
            value=None, normalized=None, original_value=None, source_words=[], word_ids=[])
        purge = audit_payloads_purge(
            document_id=doc.id, actor=actor, reason=reason, at=now,
            payload={"retention_days": doc.client.retention_days if doc.client else None,
                     "files_deleted": files_deleted, "fields_purged": fields_purged},
        )
        StageResult.objects.filter(document=doc).delete()
        Page.objects.filter(document=doc).update(image="", thumbnail="")
        WebhookDelivery.objects.filter(document=doc).exclude(status=WebhookDelivery.Status.PENDING).update(
            payload={"purged": True})
        review_history_purge(document=doc)
        # What review taught stays (signals, right or wrong) for calibration; the values go.
        FieldOutcome.objects.filter(document=doc).update(machine_value=None, verified_value=None)
        Document.objects.filter(pk=doc.pk).update(file="", purged_at=now)
    return PurgeResult(str(doc.id), files_deleted, fields_purged, purge.payload["events_purged"], purge.seq)


def _delivery_pending(document_id) -> bool:
    return WebhookDelivery.objects.filter(document_id=document_id, status=WebhookDelivery.Status.PENDING).exists()


def documents_expired(*, now: datetime | None = None):
    """Finished, not yet purged documents older than their client's retention period, oldest
    first; a document whose webhook delivery is pending waits until it is delivered or dead."""
    now = now or timezone.now()
    q = models.Q(pk__in=[])
    for client_id, days in ApiClient.objects.filter(retention_days__isnull=False).values_list("id", "retention_days"):
        q |= models.Q(client_id=client_id, created_at__lt=now - timedelta(days=days))
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).values("document_id")
    return (Document.objects.filter(q, purged_at__isnull=True, status__in=list(FINAL_STATUSES))
            .exclude(pk__in=pending).order_by("created_at"))


def documents_purge_expired(*, now: datetime | None = None, limit: int | None = None) -> list[PurgeResult]:
    """Purge every expired document (at most ``limit``). A failure on one is logged and the
    others go on; the next run tries it again."""
    now = now or timezone.now()
    results = []
    ids = documents_expired(now=now).values_list("pk", flat=True)
    for document_id in list(ids[:limit] if limit else ids):
        try:
            result = document_purge(document_id=document_id, now=now)
        except Exception:
            log.exception("purge of document %s failed; the next run retries it", document_id)
            continue
        if result is not None:
            results.append(result)
    return results
