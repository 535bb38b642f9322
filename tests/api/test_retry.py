"""POST /api/v1/documents/<id>/retry/: the owning client sends its failed document through
processing again; JSON errors for one that did not fail or cannot be retried."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from docproc import dispatch
from docproc.audit.models import AuditEvent
from docproc.models import Document, DocumentStatus

pytestmark = pytest.mark.django_db


def _doc(client, status=DocumentStatus.FAILED, code="internal_error") -> Document:
    doc = Document(client=client, doc_type="claim", original_name="x.pdf", sha256="e" * 64, size=9,
                   content_type="application/pdf", status=status, error_code=code)
    doc.file.save("original", ContentFile(b"%PDF-1.7\n"), save=False)
    doc.save()
    return doc


def test_the_owning_client_retries_its_failed_document(api, make_api_client, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    queued: list[str] = []
    monkeypatch.setattr(dispatch, "document_ingest_enqueue", lambda document_id, **kw: queued.append(str(document_id)))
    http, client = api
    doc = _doc(client)
    other, _ = make_api_client("other-client")
    foreign = _doc(other)
    assert http.post(f"/api/v1/documents/{foreign.pk}/retry/").status_code == 404  # not this client's
    with django_capture_on_commit_callbacks(execute=True):
        resp = http.post(f"/api/v1/documents/{doc.pk}/retry/")
    assert resp.status_code == 202, resp.content
    assert resp.json()["status"] == "received" and queued == [str(doc.pk)]
    event = AuditEvent.objects.get(action="document.retried", document_id=doc.pk)
    assert event.actor_type == "api_client"
    resp = http.post(f"/api/v1/documents/{doc.pk}/retry/")
    assert resp.status_code == 409 and resp.json()["code"] == "not_failed" and resp.json()["detail"]


def test_a_bad_file_is_refused_with_not_retryable(api):
    http, client = api
    doc = _doc(client, code="unsupported_type")
    resp = http.post(f"/api/v1/documents/{doc.pk}/retry/")
    assert resp.status_code == 409
    assert resp.json() == {"code": "not_retryable", "detail": resp.json()["detail"]} and "unsupported_type" in resp.json()["detail"]
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.FAILED
