"""Retention: a document past its client's retention period loses its file, page images, OCR
results and field values, and the content-bearing payloads of its audit events; the chain
still verifies, in the database and in an export."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from docproc.audit.models import AuditEvent
from docproc.audit.service import Actor, record
from docproc.audit.verify import verify_database, verify_file
from docproc.models import Document, Field, StageResult

from .conftest import tamper

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _eager(eager_tasks):
    return eager_tasks


def upload(make_api_client, claim_files, name: str, retention_days: int | None, index: int = 0) -> Document:
    from rest_framework.test import APIClient

    _client, token = make_api_client(name=name, retention_days=retention_days)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    path, _ = claim_files[index]
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("claim.pdf", path.read_bytes()),
                                            "doc_type": "claim"}, format="multipart")
    assert resp.status_code == 201, resp.content
    return Document.objects.get(pk=resp.json()["id"])


def test_purge_expired_keeps_the_chain(make_api_client, claim_files, tmp_path):
    old = upload(make_api_client, claim_files, "insurer-a", 30, 0)
    young = upload(make_api_client, claim_files, "insurer-b", 30, 1)
    forever = upload(make_api_client, claim_files, "insurer-c", None, 2)
    for doc in (old, young, forever):
        assert doc.status in ("auto_accepted", "needs_review"), doc.error_code
    record(actor=Actor("user", "rita"), action="field.edited", object_type="field", object_id="1", document_id=old.id,
           before="CLM-1", after="CLM-2", reason="typo", payload={"field": "claim_number"})
    Document.objects.filter(pk__in=[old.pk, forever.pk]).update(created_at=timezone.now() - timedelta(days=31))
    old_file = Path(old.file.path)
    pages_dir = Path(settings.MEDIA_ROOT) / "pages" / str(old.id)
    assert old_file.is_file() and pages_dir.is_dir()
    from docproc.audit.actions import ACTIONS

    content_events = [seq for seq, action in AuditEvent.objects.filter(document_id=old.id).values_list("seq", "action")
                      if not ACTIONS[action].keep_on_purge]
    assert {"document.uploaded", "field.edited"} <= set(
        AuditEvent.objects.filter(seq__in=content_events).values_list("action", flat=True))

    call_command("purge_expired")

    old.refresh_from_db()
    assert old.purged_at is not None and not old.file
    assert not old_file.exists() and not pages_dir.exists()
    assert not Field.objects.filter(document=old, value__isnull=False).exists()
    assert not Field.objects.filter(document=old, original_value__isnull=False).exists()
    assert Field.objects.filter(document=old).exists()  # names, confidences and boxes stay
    assert not StageResult.objects.filter(document=old).exists()
    purge = AuditEvent.objects.get(action="retention.purged", document_id=old.id)
    for seq in content_events:
        marker = AuditEvent.objects.get(seq=seq).payload
        assert list(marker) == ["_purged"] and marker["_purged"]["event"] == purge.seq
    kept = AuditEvent.objects.filter(document_id=old.id, action="document.status_changed")
    assert kept.exists() and all("after" in e.payload for e in kept)
    assert "CLM-1" not in json.dumps(list(AuditEvent.objects.filter(document_id=old.id).values_list("payload", flat=True)))
    for other in (young, forever):
        other.refresh_from_db()
        assert other.purged_at is None and Path(other.file.path).is_file()

    report = verify_database()
    assert report.ok and report.purged == len(content_events), report.problems
    call_command("audit_verify")
    out = tmp_path / "after-purge.jsonl"
    call_command("audit_export", "--format", "jsonl", "--out", str(out))
    assert verify_file(out)[0].ok

    from workers.tasks import purge_expired_documents

    assert purge_expired_documents() == 0  # nothing left; a second run changes nothing


def test_a_blanked_payload_without_a_purge_event_is_caught(make_events, tmp_path):
    events = make_events(4, action="field.edited")
    target = events[1].seq
    with tamper() as cur:
        cur.execute("UPDATE audit_auditevent SET payload = %s WHERE seq = %s",
                    [json.dumps({"_purged": {"at": "2026-01-01T00:00:00+00:00", "event": events[3].seq}}), target])
    report = verify_database()
    assert report.first_bad_seq == target and report.problems[0].code == "purge_marker"
    with pytest.raises(CommandError, match=f"first bad sequence number: {target}"):
        call_command("audit_verify")
    out = tmp_path / "tampered.jsonl"
    call_command("audit_export", "--format", "jsonl", "--out", str(out))
    report, _ = verify_file(out)
    assert report.first_bad_seq == target and report.problems[0].code == "purge_marker"


def test_retention_waits_for_a_pending_delivery_and_never_rewrites_it(make_api_client, claim_files):
    """Given a finished document past retention whose webhook is still pending, the purge skips it
    and its signed payload stays the result; once the delivery is dead (or delivered) it is purged."""
    from docproc.models import WebhookDelivery
    from docproc.services import document_purge, documents_purge_expired
    from docproc.webhooks import delivery_create

    doc = upload(make_api_client, claim_files, "insurer-hooked", 30, 0)
    client = doc.client
    client.webhook_url, client.webhook_secret = "https://hooks.example.com/docproc", "whsec_c2VjcmV0"
    client.save()
    delivery = delivery_create(document_id=doc.id, event="document.completed")
    payload = delivery.payload
    Document.objects.filter(pk=doc.pk).update(created_at=timezone.now() - timedelta(days=31))

    assert documents_purge_expired() == []
    assert document_purge(document_id=doc.id) is None
    delivery.refresh_from_db()
    doc.refresh_from_db()
    assert delivery.payload == payload and delivery.payload["data"]["fields"] and doc.purged_at is None

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.DEAD)
    assert [r.document_id for r in documents_purge_expired()] == [str(doc.id)]
    delivery.refresh_from_db()
    assert delivery.payload == {"purged": True}
