"""The upload API: lifecycle, idempotency, dedupe, auth and bad files, through the real
pipeline run eagerly in process (the worker-process path is in tests/integration)."""

from __future__ import annotations

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from docproc.api.throttling import flush_auth_failures
from docproc.audit.models import AuditEvent
from docproc.celery import app as celery_app
from docproc.models import Document

pytestmark = pytest.mark.django_db(transaction=True)

CLAIM_FIELDS = ["claim_number", "policy_number", "claimant_name", "claimant_dob", "claimant_address",
                "claimant_phone", "claimant_email", "date_of_loss", "type_of_loss", "amount_claimed", "line_items"]


@pytest.fixture(autouse=True)
def _eager(eager_tasks):
    """Tasks run in process here; tests/integration runs them in a worker process."""


def upload(http, data: bytes, name: str = "claim.pdf", doc_type: str = "claim", **headers):
    return http.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile(name, data), "doc_type": doc_type, "external_ref": "EXT-1"},
        format="multipart",
        **headers,
    )


def test_digital_claim_round_trip(api, claim_files):
    """Given a digital claim, when it is uploaded, then the result has every field with
    value, confidence, page and box, and the values are the ones printed."""
    http, _ = api
    path, truth = claim_files[0]
    resp = upload(http, path.read_bytes())
    assert resp.status_code == 201, resp.content
    doc_id = resp.json()["id"]
    status = http.get(f"/api/v1/documents/{doc_id}/").json()
    assert status["status"] == "auto_accepted"
    result = http.get(f"/api/v1/documents/{doc_id}/result/").json()
    assert result["document"]["pages"] == 1
    expected = truth.fields()
    for name in CLAIM_FIELDS:
        f = result["fields"][name]
        assert f["value"] == expected[name], name
        assert 0 < f["confidence"] <= 1
        assert f["page"] == 1
        x0, y0, x1, y1 = f["bbox"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert f["source"]
    assert result["fields"]["amount_claimed"]["normalized"] == expected["amount_claimed"].replace(",", "")
    assert result["fields"]["claimant_dob"]["normalized"].count("-") == 2
    actions = set(AuditEvent.objects.filter(document_id=doc_id).values_list("action", flat=True))
    assert {"document.uploaded", "document.status_changed", "pipeline.stage_started", "document.auto_accepted"} <= actions


def test_idempotency_key_replays_the_same_request_only(api, claim_files):
    """Given a key used for one file, the same request again answers the original document; the
    same key with another file is refused 409 idempotency_key_reused (see tests/api/test_idempotency.py)."""
    http, _ = api
    data = claim_files[1][0].read_bytes()
    first = upload(http, data, HTTP_IDEMPOTENCY_KEY="abc-123")
    again = upload(http, data, HTTP_IDEMPOTENCY_KEY="abc-123")
    other = upload(http, b"%PDF-1.4 something else entirely", HTTP_IDEMPOTENCY_KEY="abc-123")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert Document.objects.count() == 1


def test_same_content_from_same_client_is_deduplicated(api, make_api_client, claim_files):
    http, _ = api
    data = claim_files[2][0].read_bytes()
    a = upload(http, data, name="a.pdf")
    b = upload(http, data, name="b.pdf")
    assert b.status_code == 200 and b.json()["id"] == a.json()["id"]
    # Another client uploading the same bytes gets its own document.
    from rest_framework.test import APIClient

    _, token = make_api_client("other-system")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    c = upload(other, data)
    assert c.status_code == 201 and c.json()["id"] != a.json()["id"]
    # ... and cannot read the first client's document.
    assert other.get(f"/api/v1/documents/{a.json()['id']}/").status_code == 404


def test_auth_failures_are_json_with_codes_and_audited(db, claim_files):
    from rest_framework.test import APIClient

    anon = APIClient()
    r = anon.get("/api/v1/documents/")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    anon.credentials(HTTP_AUTHORIZATION="Bearer dp_not-a-real-token")
    r = anon.post("/api/v1/documents/", {"file": SimpleUploadedFile("x.pdf", b"%PDF-"), "doc_type": "claim"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    # Counted per address and minute, written once the minute is over (tests/security/test_auth_failures.py).
    flush_auth_failures(now=time.time() + 60)
    assert AuditEvent.objects.filter(action="api.auth_failed").exists()
    assert Document.objects.count() == 0


def test_token_is_stored_hashed(make_api_client):
    client, token = make_api_client()
    client.refresh_from_db()
    assert token not in (client.token_hash, client.token_prefix)
    assert len(client.token_hash) == 64


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (b"just some text, not a document\n", 415, "unsupported_type"),
        (b"PK\x03\x04 a zip archive", 415, "unsupported_type"),
    ],
)
def test_bad_uploads_are_refused_with_a_code(api, data, status, code, upload_refusals):
    http, _ = api
    resp = upload(http, data, name="evil.pdf")
    assert resp.status_code == status
    assert resp.json()["code"] == code
    assert Document.objects.count() == 0
    upload_refusals()
    assert AuditEvent.objects.filter(action="document.upload_refused", payload__code=code).exists()


def test_unknown_doc_type_and_missing_file(api):
    http, _ = api
    r = upload(http, b"%PDF-1.4", doc_type="passport")
    assert r.status_code == 400 and r.json()["code"] == "unknown_doc_type"
    r = http.post("/api/v1/documents/", {"doc_type": "claim"}, format="multipart")
    assert r.status_code == 400 and r.json()["code"] == "missing_file"


def _truncated_pdf(claim_pdf: bytes) -> bytes:
    return claim_pdf[: len(claim_pdf) // 3]


def _encrypted_pdf(claim_pdf: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(claim_pdf)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("make", "code"), [(_truncated_pdf, None), (_encrypted_pdf, "encrypted_pdf")])
def test_broken_pdfs_end_failed_with_a_code(api, claim_files, make, code):
    """A truncated PDF is either repaired and read, or fails with a code; never a 500."""
    http, _ = api
    resp = upload(http, make(claim_files[0][0].read_bytes()))
    assert resp.status_code == 201
    doc = Document.objects.get(pk=resp.json()["id"])
    if code is None:
        assert doc.status in ("failed", "needs_review", "auto_accepted")
        if doc.status == "failed":
            assert doc.error_code
    else:
        assert doc.status == "failed" and doc.error_code == code
    result = http.get(f"/api/v1/documents/{doc.id}/result/")
    if doc.status == "failed":
        assert result.status_code == 409 and result.json()["error"]["code"] == doc.error_code


def test_result_is_409_until_ready(api, claim_files):
    http, client = api
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False  # nothing consumes the queue in this test
    from docproc import selectors

    doc = Document.objects.create(client=client, sha256="0" * 64, original_name="x.pdf", doc_type="claim", file="x")
    resp = http.get(f"/api/v1/documents/{doc.id}/result/")
    assert resp.status_code == 409 and resp.json()["code"] == "not_ready"
    assert selectors.document_result(doc)["fields"] == {}


def test_list_filters(api, claim_files):
    http, _ = api
    for path, _ in claim_files:
        assert upload(http, path.read_bytes(), name=path.name).status_code == 201
    assert http.get("/api/v1/documents/").json()["count"] == 3
    assert http.get("/api/v1/documents/?status=auto_accepted").json()["count"] == 3
    assert http.get("/api/v1/documents/?doc_type=receipt").json()["count"] == 0
    assert http.get("/api/v1/documents/?external_ref=EXT-1").json()["count"] == 3


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/documents/" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()
