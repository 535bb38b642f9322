"""A run of real actions through the real services and HTTP endpoints (upload, pipeline, refused
upload, bad API token, sign-in, review with a correction, threshold change, role change,
export, purge) leaves one chain that verifies, in the database and as an exported file."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from docproc.api.throttling import flush_auth_failures
from docproc.audit.models import AuditEvent
from docproc.audit.verify import verify_database, verify_file
from docproc.models import Document

pytestmark = pytest.mark.django_db(transaction=True)


def test_real_actions_leave_a_chain_that_verifies(eager_tasks, make_api_client, user_in, tmp_path, upload_refusals):
    from fixtures.claims import make_claim, write_claim_pdf
    from reviewer import services as review

    _client, token = make_api_client(name="insurer", retention_days=30)
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    # A claim whose items do not add up to its total: it goes to review.
    pdf = write_claim_pdf(replace(make_claim(7001), amount_claimed="9,999.99"), tmp_path / "claim.pdf", layout="inline")
    resp = api.post("/api/v1/documents/", {"file": SimpleUploadedFile("claim.pdf", pdf.read_bytes()), "doc_type": "claim"},
                    format="multipart")
    assert resp.status_code == 201, resp.content
    doc = Document.objects.get(pk=resp.json()["id"])
    assert doc.status == "needs_review", doc.error_code
    assert api.post("/api/v1/documents/", {"file": SimpleUploadedFile("x.txt", b"hello"), "doc_type": "claim"},
                    format="multipart").status_code == 415
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer dp_not-a-token")
    assert bad.get("/api/v1/documents/").status_code == 401
    # Failed tokens and refused uploads are counted per minute, and written once it is over.
    flush_auth_failures(now=time.time() + 60)
    upload_refusals()

    rita = user_in("reviewer", username="rita")
    web = Client()
    assert web.post("/accounts/login/", {"username": "rita", "password": "pw-Secret-123"}).status_code == 302
    task = review.review_task_claim_next(user=rita)
    assert task is not None and task.document_id == doc.id
    field = doc.fields.get(name="amount_claimed")
    review.field_correct(document_id=doc.id, field_id=field.id, user=rita, raw_value="1,234.56", reason="misread")
    review.fields_accept_confident(document_id=doc.id, user=rita)
    for f in doc.fields.filter(status="needs_review"):
        review.field_accept(document_id=doc.id, field_id=f.id, user=rita, confirm=True)  # as printed
    review.document_review_submit(document_id=doc.id, user=rita)
    boss = user_in("supervisor", "auditor", username="boss")
    review.threshold_set(user=boss, doc_type="claim", field_name="claim_number", threshold=0.95)
    web.post("/accounts/logout/")

    auditor = Client()
    auditor.force_login(boss)
    export = auditor.post("/audit/export/jsonl/", {})
    assert export.status_code == 200
    b"".join(export.streaming_content)
    Document.objects.filter(pk=doc.pk).update(created_at=timezone.now() - timedelta(days=31))
    call_command("purge_expired")

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    expected = {"document.uploaded", "document.upload_refused", "api.auth_failed", "pipeline.stage_started",
                "pipeline.stage_finished", "document.status_changed", "auth.signed_in", "auth.signed_out",
                "review.claimed", "field.edited", "document.reviewed", "settings.threshold_changed",
                "role.changed", "user.created", "audit.exported", "retention.purged"}
    assert expected <= actions, expected - actions
    edited = AuditEvent.objects.filter(action="field.edited").first()
    assert edited.payload.get("_purged")  # a value-bearing event of a purged document
    from reviewer.models import FieldCorrection

    corrections = FieldCorrection.objects.filter(document_id=doc.id)
    assert corrections.exists()
    assert not corrections.filter(old_value__isnull=False).exists()
    assert not corrections.filter(new_value__isnull=False).exists()
    assert not doc.fields.filter(value__isnull=False).exists()
    refused = AuditEvent.objects.get(action="document.upload_refused")
    assert refused.client_ip == "203.0.113.9" and refused.request_id

    report = verify_database()
    assert report.ok and report.purged >= 1, report.problems
    out = tmp_path / "all.jsonl"
    call_command("audit_export", "--format", "jsonl", "--out", str(out))
    report, meta = verify_file(out)
    assert report.ok and meta["count"] == report.checked, report.problems
    assert json.loads(out.read_text().splitlines()[-1])["action"] == "retention.purged"
