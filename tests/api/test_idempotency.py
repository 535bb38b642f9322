"""Idempotency keys bound to the request, content dedupe that never swallows a reference, a purged
document never answered as a duplicate, refused uploads audited (rate-limited), and concurrent
identical requests on PostgreSQL ending with one document and no file without a row."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from docproc import services
from docproc.audit.models import AuditEvent
from docproc.models import Document, StageResult

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _eager(eager_tasks):
    """The pipeline runs in process."""


@pytest.fixture(autouse=True)
def _fresh_refusal_counters():
    import redis

    from tests.conftest import redis_available

    if redis_available():
        conn = redis.Redis.from_url(django_settings.REDIS_URL)
        for key in conn.scan_iter("docproc:upload-refused:*"):
            conn.delete(key)


def upload(http, data: bytes, *, ref: str = "EXT-1", doc_type: str = "claim", name: str = "claim.pdf", **headers):
    return http.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), "doc_type": doc_type,
                                            "external_ref": ref}, format="multipart", **headers)


def refusals(code: str) -> list[AuditEvent]:
    return [e for e in AuditEvent.objects.filter(action="document.upload_refused") if e.payload.get("code") == code]


def test_a_key_reused_with_another_file_or_type_is_refused_409_and_audited(api, claim_files):
    http, _ = api
    first = upload(http, claim_files[0][0].read_bytes(), HTTP_IDEMPOTENCY_KEY="k-1")
    other_file = upload(http, claim_files[1][0].read_bytes(), HTTP_IDEMPOTENCY_KEY="k-1")
    other_type = upload(http, claim_files[0][0].read_bytes(), doc_type="receipt", HTTP_IDEMPOTENCY_KEY="k-1")
    other_ref = upload(http, claim_files[0][0].read_bytes(), ref="EXT-2", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    for answer in (other_file, other_type, other_ref):
        assert answer.status_code == 409 and answer.json()["code"] == "idempotency_key_reused", answer.content
    assert Document.objects.count() == 1
    (event, *_) = refusals("idempotency_key_reused")
    assert event.payload["document_id"] == first.json()["id"]
    replay = upload(http, claim_files[0][0].read_bytes(), HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]


def test_the_same_bytes_under_a_new_reference_make_a_new_document_reusing_the_first(api, claim_files):
    """Given a claim already processed under EXT-1, when the same bytes come under EXT-2, then a
    new document answers (201) with duplicate_of, found by its own reference, with the first one's
    stage results reused and its own reference in the result."""
    http, _ = api
    data = claim_files[2][0].read_bytes()
    first = upload(http, data, ref="EXT-1").json()
    second = upload(http, data, ref="EXT-2")
    assert second.status_code == 201, second.content
    body = second.json()
    assert body["id"] != first["id"] and body["duplicate_of"] == first["id"] and body["duplicate"] is False
    listed = http.get("/api/v1/documents/?external_ref=EXT-2").json()
    assert [d["id"] for d in listed["results"]] == [body["id"]]
    result = http.get(f"/api/v1/documents/{body['id']}/result/").json()
    assert result["document"]["external_ref"] == "EXT-2" and result["fields"]["claim_number"]["value"]
    copied = StageResult.objects.filter(document_id=body["id"]).count()
    assert copied and copied == StageResult.objects.filter(document_id=first["id"]).count()
    started = AuditEvent.objects.get(document_id=body["id"], action="pipeline.stage_started",
                                     payload__stage="extract")
    assert started.payload["reused_from"] == first["id"]
    same_again = upload(http, data, ref="EXT-2")
    assert same_again.status_code == 200 and same_again.json()["id"] == body["id"]


def test_a_purged_document_is_never_answered_as_a_duplicate(api, claim_files):
    http, _ = api
    data = claim_files[0][0].read_bytes()
    first = upload(http, data).json()
    services.document_purge(document_id=first["id"], reason="test")
    again = upload(http, data)
    assert again.status_code == 201 and again.json()["id"] != first["id"] and again.json()["duplicate_of"] is None


def test_every_refused_upload_is_audited_with_its_code(api, settings):
    http, _ = api
    assert upload(http, b"%PDF-1.4\n", doc_type="nope").json()["code"] == "unknown_doc_type"
    missing = http.post("/api/v1/documents/", {"doc_type": "claim"}, format="multipart")
    assert missing.json()["code"] == "missing_file"
    settings.DOCPROC_MAX_UPLOAD_BYTES = 10
    assert upload(http, b"%PDF-1.4\n" + b"x" * 100).json()["code"] == "file_too_large"
    for code in ("unknown_doc_type", "missing_file", "file_too_large"):
        assert len(refusals(code)) == 1, code


def test_a_flood_of_refusals_costs_a_counter_not_a_chain_row_each(api):
    from tests.conftest import redis_available

    if not redis_available():
        pytest.skip("the refusal counter lives in Redis")
    http, _ = api
    for _ in range(25):
        assert upload(http, b"", name="empty.pdf").status_code == 400
    events = refusals("empty_file")
    assert [e.payload["count"] for e in events] == [1, 10, 20][:len(events)] and len(events) <= 3
    assert events[0].payload["count"] == 1


def _media_files() -> list[Path]:
    return [p for p in (Path(django_settings.MEDIA_ROOT) / "documents").rglob("*") if p.is_file()]


@pytest.mark.postgres
def test_concurrent_uploads_with_one_key_end_with_one_document_and_no_orphan_file(make_api_client, claim_files):
    """Six requests with one key at once (PostgreSQL): one document, five answers of it, no 500,
    and exactly one stored file; with other files under that key, 409s, never a file alone."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the race runs on PostgreSQL (DATABASE_URL)")
    client, _ = make_api_client()
    data = claim_files[0][0].read_bytes()
    others = [path.read_bytes() for path, _ in claim_files[1:3]] + [data + b"\n% another revision\n"]
    results: list = []
    barrier = threading.Barrier(9)

    def send(payload: bytes) -> None:
        from django.db import connections

        barrier.wait()
        try:
            outcome = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", payload),
                                               doc_type="claim", external_ref="R-1", idempotency_key="same-key")
            results.append(("ok", str(outcome.document.pk), outcome.created))
        except services.UploadRefused as exc:
            results.append((exc.code, None, False))
        except Exception as exc:  # a 500 in the API
            results.append(("error", repr(exc), False))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(p,)) for p in [data] * 6 + others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in results if r[0] == "error"], results
    docs = list(Document.objects.filter(client=client))
    assert len(docs) == 1
    winner = docs[0]
    if winner.sha256 == services.uploads.hashlib.sha256(data).hexdigest():
        assert sorted(r[0] for r in results) == ["idempotency_key_reused"] * 3 + ["ok"] * 6
        assert {r[1] for r in results if r[0] == "ok"} == {str(winner.pk)}
    else:
        assert sum(r[0] == "ok" for r in results) == 1
    assert sum(r[2] for r in results) == 1  # exactly one request created it
    assert len(_media_files()) == 1 and _media_files()[0].name == "original"
    assert AuditEvent.objects.filter(action="document.uploaded").count() == 1
