"""A failed document sent through processing again: the only move out of failed, its audit event,
the ingest it queues, and the retries refused because they would fail the same way."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from docproc import dispatch, lifecycle, services
from docproc.audit.models import AuditEvent
from docproc.audit.service import WORKER, Actor
from docproc.models import Document, DocumentStatus, InvalidTransition

pytestmark = pytest.mark.django_db

S = DocumentStatus


def _failed(code: str = "processing_timeout", **kw) -> Document:
    doc = Document(doc_type="claim", original_name="x.pdf", sha256="b" * 64, size=9, content_type="application/pdf", **kw)
    doc.file.save("original", ContentFile(b"%PDF-1.7\n"), save=False)
    doc.save()
    lifecycle.document_transition(doc, S.PROCESSING, actor=WORKER, stage="extract", attempts=3,
                                  processing_started_at=timezone.now())
    services.document_fail(doc.id, code=code, detail="Processing stopped after 3 attempts.")
    doc.refresh_from_db()
    assert doc.status == S.FAILED and doc.finished_at is not None
    return doc


@pytest.fixture
def queued(monkeypatch):
    """The document ids whose ingest was queued (the broker itself is not what is tested here)."""
    ids: list[str] = []
    monkeypatch.setattr(dispatch, "document_ingest_enqueue", lambda document_id, **kw: ids.append(str(document_id)))
    return ids


def test_a_retry_reopens_the_failed_document_audits_it_and_queues_ingest_on_commit(
        queued, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import User

    doc = _failed()
    sue = User.objects.create_user("sue")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.document_retry(document=doc, actor=Actor.user(sue))
        assert queued == []  # nothing queued before the commit
    for callback in callbacks:
        callback()
    assert queued == [str(doc.id)]
    doc.refresh_from_db()
    assert doc.status == S.RECEIVED and doc.error_code == "" and doc.error_detail == "" and doc.stage == ""
    assert doc.attempts == 0 and doc.finished_at is None and doc.processing_started_at is None
    event = AuditEvent.objects.get(action="document.retried", document_id=doc.id)
    assert event.actor == "sue" and event.payload == {"error_code": "processing_timeout", "attempts": 3}
    moved = AuditEvent.objects.filter(action="document.status_changed", document_id=doc.id).order_by("seq").last()
    assert moved.payload == {"before": "failed", "after": "received", "reason": "retry"}


def test_failed_is_left_only_by_a_retry():
    doc = _failed()
    with pytest.raises(InvalidTransition):
        lifecycle.document_transition(doc, S.RECEIVED, actor=WORKER)  # not the generic way
    with pytest.raises(InvalidTransition):
        lifecycle.document_transition(doc, S.PROCESSING, actor=WORKER)
    ok = Document.objects.create(doc_type="claim", original_name="y.pdf", sha256="c" * 64, file="y")
    with pytest.raises(InvalidTransition):
        lifecycle.document_reopen(ok, actor=WORKER)  # received is not failed


@pytest.mark.parametrize("code", sorted(services.BAD_FILE_CODES))
def test_a_bad_file_is_not_retried(code, queued):
    doc = _failed(code=code)
    with pytest.raises(services.RetryRefused) as refused:
        services.document_retry(document=doc, actor=WORKER)
    assert refused.value.code == "not_retryable" and code in refused.value.detail
    doc.refresh_from_db()
    assert doc.status == S.FAILED and doc.error_code == code and queued == []
    assert not AuditEvent.objects.filter(action="document.retried").exists()


def test_a_purged_or_missing_file_and_a_document_that_did_not_fail_are_not_retried(queued):
    doc = _failed()
    Document.objects.filter(pk=doc.pk).update(purged_at=timezone.now())
    with pytest.raises(services.RetryRefused) as refused:
        services.document_retry(document=doc, actor=WORKER)
    assert refused.value.code == "not_retryable" and "purged" in refused.value.detail
    gone = _failed()
    gone.file.storage.delete(gone.file.name)
    with pytest.raises(services.RetryRefused) as refused:
        services.document_retry(document=gone, actor=WORKER)
    assert refused.value.code == "not_retryable"
    fine = Document.objects.create(doc_type="claim", original_name="z.pdf", sha256="d" * 64, file="z",
                                   status=S.NEEDS_REVIEW)
    with pytest.raises(services.RetryRefused) as refused:
        services.document_retry(document=fine, actor=WORKER)
    assert refused.value.code == "not_failed" and refused.value.status == 409
    assert queued == [] and not AuditEvent.objects.filter(action="document.retried").exists()
