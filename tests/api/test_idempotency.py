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
def _fresh_refusal_counters(upload_refusals):
    """Refusal counts of earlier tests are not flushed into this one."""


def upload(http, data: bytes, *, ref: str = "EXT-1", doc_type: str = "claim", name: str = "claim.pdf", **headers):
    return http.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), "doc_type": doc_type,
                                            "external_ref": ref}, format="multipart", **headers)


def refusals(code: str) -> list[AuditEvent]:
    return [e for e in AuditEvent.objects.filter(action="document.upload_refused") if e.payload.get("code") == code]


def test_a_key_reused_with_another_file_or_type_is_refused_409_and_audited(api, claim_files, upload_refusals):
    http, _ = api
    first = upload(http, claim_files[0][0].read_bytes(), HTTP_IDEMPOTENCY_KEY="k-1")
    other_file = upload(http, claim_files[1][0].read_bytes(), HTTP_IDEMPOTENCY_KEY="k-1")
    other_type = upload(http, claim_files[0][0].read_bytes(), doc_type="receipt", HTTP_IDEMPOTENCY_KEY="k-1")
    other_ref = upload(http, claim_files[0][0].read_bytes(), ref="EXT-2", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    for answer in (other_file, other_type, other_ref):
        assert answer.status_code == 409 and answer.json()["code"] == "idempotency_key_reused", answer.content
    assert Document.objects.count() == 1
    upload_refusals()
    (event,) = refusals("idempotency_key_reused")
    assert event.payload["count"] == 3
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
    # Every per-page result is copied; the whole document's reading is not (it names the first's previews).
    assert copied and copied == StageResult.objects.filter(document_id=first["id"]).exclude(stage="read").count()
    started = AuditEvent.objects.get(document_id=body["id"], action="pipeline.stage_started",
                                     payload__stage="extract")
    assert started.payload["reused_from"] == first["id"]
    same_again = upload(http, data, ref="EXT-2")
    assert same_again.status_code == 200 and same_again.json()["id"] == body["id"]


class _MustNotRun:
    """An extractor or OCR engine that fails the test if the pipeline reaches it."""

    name = "must-not-run"

    def __getattr__(self, attr):
        raise AssertionError(f"the duplicate called the engine ({attr})")


def _forbid_engines(monkeypatch):
    from docproc import engines

    monkeypatch.setattr(engines, "get_extractor", lambda *a, **k: _MustNotRun())
    monkeypatch.setattr(engines, "get_ocr", lambda *a, **k: _MustNotRun())


def test_a_duplicate_of_a_finished_document_reuses_its_run_without_a_model_call(api, claim_files, monkeypatch):
    """Given a claim extracted under EXT-1, when the same bytes come under EXT-2 with every engine
    made to fail if touched, then the new document gets its own run with the same engine and
    versions, the same fields, values, confidences and provenance, no ModelCall row, and an audit
    event naming the reused run."""
    from docproc.models import ExtractionRun, Field, ModelCall

    http, _ = api
    data = claim_files[1][0].read_bytes()
    first = upload(http, data, ref="EXT-1").json()
    source = ExtractionRun.objects.get(document_id=first["id"])
    _forbid_engines(monkeypatch)
    calls_before = ModelCall.objects.count()
    second = upload(http, data, ref="EXT-2").json()
    doc = Document.objects.get(pk=second["id"])
    assert doc.duplicate_of_id is not None and str(doc.duplicate_of_id) == first["id"]
    assert doc.status == Document.objects.get(pk=first["id"]).status
    run = ExtractionRun.objects.get(document=doc)
    assert run.pk != source.pk
    assert (run.extractor, run.extractor_version, run.prompt_version, run.fallback_reason) == \
        (source.extractor, source.extractor_version, source.prompt_version, source.fallback_reason)
    keys = ("name", "value", "normalized", "confidence", "status", "page", "bbox", "source_words", "word_ids")
    assert list(Field.objects.filter(run=run).values(*keys)) == list(Field.objects.filter(run=source).values(*keys))
    assert ModelCall.objects.count() == calls_before and not ModelCall.objects.filter(document=doc).exists()
    event = AuditEvent.objects.get(document_id=doc.id, action="pipeline.run_reused")
    assert event.payload["original_run"] == source.pk and event.payload["run"] == run.pk
    assert doc.pages.count() == Document.objects.get(pk=first["id"]).pages.count()
    result = http.get(f"/api/v1/documents/{doc.id}/result/").json()
    assert result["document"]["external_ref"] == "EXT-2" and result["fields"]["claim_number"]["value"]


def test_a_duplicate_takes_the_extractors_values_not_a_reviewers_decisions(api, claim_files, monkeypatch):
    """Given the original's fields confirmed and corrected by a person, then the duplicate carries
    the extractor's values with no reviewer; the corrected field goes to review, and a confirmed
    one is routed by its confidence alone."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from docproc.models import Field, FieldStatus

    http, _ = api
    data = claim_files[2][0].read_bytes()
    first = upload(http, data, ref="EXT-1").json()
    person = get_user_model().objects.create_user("rev", password="x" * 12)
    fields = list(Field.objects.filter(document_id=first["id"]).order_by("position"))
    corrected, confirmed = fields[0], fields[1]
    Field.objects.filter(pk=corrected.pk).update(value="CHANGED BY A PERSON", status=FieldStatus.CORRECTED,
                                                 reviewed_by=person, reviewed_at=timezone.now())
    Field.objects.filter(pk=confirmed.pk).update(status=FieldStatus.ACCEPTED, reviewed_by=person,
                                                 reviewed_at=timezone.now())
    _forbid_engines(monkeypatch)
    second = upload(http, data, ref="EXT-2").json()
    copied = {f.name: f for f in Field.objects.filter(document_id=second["id"])}
    assert not any(f.reviewed_by_id or f.reviewed_at for f in copied.values())
    assert {f.status for f in copied.values()} <= {FieldStatus.AUTO_ACCEPTED, FieldStatus.NEEDS_REVIEW}
    assert copied[corrected.name].value == corrected.original_value
    assert copied[corrected.name].status == FieldStatus.NEEDS_REVIEW
    expected = FieldStatus.AUTO_ACCEPTED if (confirmed.confidence >= copied[confirmed.name].threshold
                                            and not confirmed.messages) else FieldStatus.NEEDS_REVIEW
    assert copied[confirmed.name].status == expected
    assert Document.objects.get(pk=second["id"]).status == "needs_review"


def test_a_duplicate_of_an_unfinished_document_is_processed_normally(api, claim_files):
    from docproc.models import ExtractionRun

    http, _ = api
    data = claim_files[0][0].read_bytes()
    first = upload(http, data, ref="EXT-1").json()
    ExtractionRun.objects.filter(document_id=first["id"]).delete()  # as if extraction had not finished
    second = upload(http, data, ref="EXT-2").json()
    assert second["duplicate_of"] == first["id"]
    assert ExtractionRun.objects.filter(document_id=second["id"]).count() == 1
    assert not AuditEvent.objects.filter(document_id=second["id"], action="pipeline.run_reused").exists()


def test_a_duplicate_of_a_document_rejected_since_is_read_afresh(api, claim_files):
    """Given the original rejected after the duplicate was accepted (it was not yet when the
    duplicate arrived), then the duplicate does not take the rejected document's run."""
    from docproc import dispatch
    from docproc.models import ExtractionRun

    http, _ = api
    data = claim_files[0][0].read_bytes()
    first = upload(http, data, ref="EXT-1").json()
    queued = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dispatch, "document_ingest_enqueue", queued.append)
        second = upload(http, data, ref="EXT-2").json()
    Document.objects.filter(pk=first["id"]).update(status="rejected")
    services.document_ingest(document_id=queued[0])
    services.document_extract(document_id=queued[0])
    assert second["duplicate_of"] == first["id"]
    assert ExtractionRun.objects.filter(document_id=second["id"]).count() == 1
    assert not AuditEvent.objects.filter(document_id=second["id"], action="pipeline.run_reused").exists()


def test_a_purged_document_is_never_answered_as_a_duplicate(api, claim_files):
    http, _ = api
    data = claim_files[0][0].read_bytes()
    first = upload(http, data).json()
    services.document_purge(document_id=first["id"], reason="test")
    again = upload(http, data)
    assert again.status_code == 201 and again.json()["id"] != first["id"] and again.json()["duplicate_of"] is None


def test_every_refused_upload_is_audited_with_its_code(api, settings, upload_refusals):
    http, _ = api
    assert upload(http, b"%PDF-1.4\n", doc_type="nope").json()["code"] == "unknown_doc_type"
    missing = http.post("/api/v1/documents/", {"doc_type": "claim"}, format="multipart")
    assert missing.json()["code"] == "missing_file"
    settings.DOCPROC_MAX_UPLOAD_BYTES = 10
    assert upload(http, b"%PDF-1.4\n" + b"x" * 100).json()["code"] == "file_too_large"
    upload_refusals()
    for code in ("unknown_doc_type", "missing_file", "file_too_large"):
        assert len(refusals(code)) == 1, code


def _needs_redis():
    from tests.conftest import redis_available

    if not redis_available():
        pytest.skip("the refusal counter lives in Redis")


def test_a_flood_of_refusals_is_one_event_with_its_count_once_the_minute_is_over(api, upload_refusals):
    """Given 25 empty files in one minute, then nothing is written while the minute runs, and the
    flush writes one event with count 25 and the first refusal's detail."""
    import time

    _needs_redis()
    http, _ = api
    minute = int(time.time() // 60)
    for _ in range(25):
        assert upload(http, b"", name="empty.pdf").status_code == 400
    if int(time.time() // 60) != minute:
        pytest.skip("the minute turned during the burst")
    assert refusals("empty_file") == []
    assert upload_refusals() == 1
    (event,) = refusals("empty_file")
    assert event.payload["count"] == 25 and event.payload["file"] == "empty.pdf"
    assert event.payload["window_start"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(minute * 60)))
    assert event.actor_type == "api_client" and event.request_id


def test_two_codes_are_two_events_and_a_second_flush_loses_and_repeats_nothing(api, upload_refusals):
    import time

    _needs_redis()
    http, _ = api
    minute = int(time.time() // 60)
    for _ in range(4):
        upload(http, b"")
    for _ in range(3):
        upload(http, b"just text\n")
    if int(time.time() // 60) != minute:
        pytest.skip("the minute turned during the burst")
    assert upload_refusals() == 2
    assert upload_refusals() == 0
    assert [e.payload["count"] for e in refusals("empty_file")] == [4]
    assert [e.payload["count"] for e in refusals("unsupported_type")] == [3]


def test_a_flush_that_fails_halfway_loses_nothing_on_the_next(api, upload_refusals, monkeypatch):
    """Given a flush whose audit write fails after it took the minute's counts, then the next
    flush writes them, once."""
    import time

    from docproc.services import uploads

    _needs_redis()
    http, _ = api
    minute = int(time.time() // 60)
    for _ in range(6):
        upload(http, b"")
    if int(time.time() // 60) != minute:
        pytest.skip("the minute turned during the burst")
    real = uploads.UPLOAD_REFUSALS.write

    def broken(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr(uploads.UPLOAD_REFUSALS, "write", broken)
    with pytest.raises(RuntimeError):
        upload_refusals()
    monkeypatch.setattr(uploads.UPLOAD_REFUSALS, "write", real)
    assert refusals("empty_file") == []
    assert upload_refusals() == 1 and upload_refusals() == 0
    assert [e.payload["count"] for e in refusals("empty_file")] == [6]


def test_a_refusal_after_the_minute_writes_the_last_minutes_count(api, upload_refusals):
    """The next refusal after a minute is over flushes that minute, without the beat job."""
    import time

    from docproc.services import uploads

    _needs_redis()
    http, client = api
    for _ in range(5):
        uploads.UPLOAD_REFUSALS.seen(f"{client.pk}|empty_file", counter="refused",
                                     first={"client": client.name, "code": "empty_file"}, now=time.time() - 60)
    assert refusals("empty_file") == []
    assert upload(http, b"").status_code == 400  # this minute's refusal writes the last minute's
    assert [e.payload["count"] for e in refusals("empty_file")] == [5]
    assert upload_refusals() == 1 and [e.payload["count"] for e in refusals("empty_file")] == [5, 1]


def test_while_redis_is_down_each_refusal_is_written_alone(api, upload_refusals, settings, monkeypatch):
    from docproc.api import throttling

    http, _ = api
    monkeypatch.setattr(throttling, "_redis", None)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    for _ in range(3):
        assert upload(http, b"").status_code == 400
    assert [e.payload["count"] for e in refusals("empty_file")] == [1, 1, 1]


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
