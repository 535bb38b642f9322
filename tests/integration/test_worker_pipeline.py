"""The walking skeleton for real: API upload -> Redis -> a Celery worker process -> database."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from docproc.models import Document, Field
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_uploaded_claim_is_processed_by_a_real_worker(api, claim_files, celery_worker_process):
    """Given a worker consuming the real Redis, when a digital claim is uploaded over the API,
    then the worker reads its text layer and the API returns every claim field with value,
    confidence, page and box."""
    http, _ = api
    path, truth = claim_files[1]
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("claim.pdf", path.read_bytes()),
                                             "doc_type": "claim"}, format="multipart")
    assert resp.status_code == 201, resp.content
    doc_id = resp.json()["id"]

    def finished():
        doc = Document.objects.get(pk=doc_id)
        return doc.status if doc.status not in ("received", "processing") else None

    status = wait_for(finished, timeout=120)
    assert status == "auto_accepted", celery_worker_process.log_path.read_text()[-3000:]
    result = http.get(f"/api/v1/documents/{doc_id}/result/")
    assert result.status_code == 200
    fields = result.json()["fields"]
    expected = truth.fields()
    assert set(fields) == set(expected)
    for name, value in expected.items():
        assert fields[name]["value"] == value, name
        assert fields[name]["page"] == 1 and len(fields[name]["bbox"]) == 4
        assert fields[name]["confidence"] > 0
    # Exactly one run's fields: no duplicates from redelivery.
    assert Field.objects.filter(document_id=doc_id).count() == len(expected)
    doc = Document.objects.get(pk=doc_id)
    page = doc.pages.get(number=1)
    assert page.source == "text-layer" and page.image
    # The worker yields the CPU to the web server on a shared host (DOCPROC_WORKER_NICE, 10).
    assert os.getpriority(os.PRIO_PROCESS, celery_worker_process.pid) == max(10, os.getpriority(os.PRIO_PROCESS, 0))


def test_bad_file_fails_in_the_worker_with_a_code(api, claim_files, celery_worker_process):
    http, _ = api
    data = claim_files[0][0].read_bytes()
    # A PDF header followed by garbage: accepted by the sniffer, refused by the PDF reader.
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("x.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50),
                                             "doc_type": "claim"}, format="multipart")
    assert resp.status_code == 201
    doc_id = resp.json()["id"]
    wait_for(lambda: Document.objects.get(pk=doc_id).status == "failed", timeout=60)
    doc = Document.objects.get(pk=doc_id)
    assert doc.error_code == "corrupt_pdf"
    # The good document next to it is unaffected.
    ok = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("ok.pdf", data), "doc_type": "claim"},
                   format="multipart")
    wait_for(lambda: Document.objects.get(pk=ok.json()["id"]).status == "auto_accepted", timeout=120)


def test_a_retried_document_is_processed_again_by_a_real_worker(api, claim_files, celery_worker_process):
    """Given a claim that the worker finished and that then failed (a stage that timed out), when
    its client retries it over the API, the worker runs its pipeline again to a final state."""
    from docproc import services
    from docproc.audit.models import AuditEvent

    http, _ = api
    path, _truth = claim_files[1]
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("claim.pdf", path.read_bytes()),
                                             "doc_type": "claim"}, format="multipart")
    doc_id = resp.json()["id"]
    wait_for(lambda: Document.objects.get(pk=doc_id).status == "auto_accepted", timeout=120)
    services.document_fail(doc_id, code="processing_timeout", detail="Processing stopped after 5 attempts.")
    assert Document.objects.get(pk=doc_id).status == "failed"
    resp = http.post(f"/api/v1/documents/{doc_id}/retry/")
    assert resp.status_code == 202, resp.content

    def finished():
        doc = Document.objects.get(pk=doc_id)
        return doc.status if doc.status not in ("received", "processing") else None

    status = wait_for(finished, timeout=120)
    assert status == "auto_accepted", celery_worker_process.log_path.read_text()[-3000:]
    doc = Document.objects.get(pk=doc_id)
    assert doc.error_code == "" and doc.attempts >= 2  # ingest and extraction ran again
    assert AuditEvent.objects.filter(action="document.retried", document_id=doc_id).count() == 1
    assert http.get(f"/api/v1/documents/{doc_id}/result/").status_code == 200


def test_a_scan_goes_through_three_stage_tasks_and_a_digital_claim_skips_ocr(api, claim_files, celery_worker_process,
                                                                           tmp_path):
    """Given a worker on the cpu, ocr and gpu queues, when a scanned claim and a digital claim are
    uploaded, then the scan is ingested, OCR'd and extracted by three tasks (three attempts, an OCR
    stage in its audit trail, its reading stored as a stage artefact) and reaches a final state
    with its fields read by OCR, while the digital claim never enters the OCR stage."""
    from docproc.audit.models import AuditEvent
    from docproc.metrics import queue_busy
    from docproc.models import StageResult
    from fixtures.claims import write_scan

    busy_before = queue_busy()
    http, _ = api
    scan = write_scan(claim_files[0][0], tmp_path / "scan.png", dpi=200, seed=3)
    ids = {}
    for kind, name, data in (("scan", "scan.png", scan.read_bytes()), ("digital", "d.pdf", claim_files[1][0].read_bytes())):
        resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), "doc_type": "claim"},
                         format="multipart")
        assert resp.status_code == 201, resp.content
        ids[kind] = resp.json()["id"]

    def finished():
        docs = Document.objects.filter(pk__in=ids.values())
        return all(d.status not in ("received", "processing") for d in docs)

    wait_for(finished, timeout=240)
    log = celery_worker_process.log_path.read_text()

    def stages(doc_id) -> list[str]:
        return [e.payload["stage"] for e in AuditEvent.objects.filter(
            document_id=doc_id, action="pipeline.stage_started").order_by("id")]

    scanned = Document.objects.get(pk=ids["scan"])
    assert scanned.status in ("auto_accepted", "needs_review"), log[-3000:]
    assert stages(scanned.id) == ["ingest", "ocr", "extract"] and scanned.attempts == 3
    assert StageResult.objects.filter(document=scanned, stage="read", page=0).exists()
    assert scanned.pages.get(number=1).source == "ocr" and scanned.pages.get(number=1).image
    assert Field.objects.filter(document=scanned).exclude(value=None).exists()
    assert "workers.tasks.document_ocr" in log
    digital = Document.objects.get(pk=ids["digital"])
    assert digital.status == "auto_accepted" and stages(digital.id) == ["ingest", "extract"]
    assert digital.attempts == 2
    # Each task's run time went to its queue's busy counter (what autoscaling and bench_load read).
    busy_after = queue_busy()
    for queue, tasks in (("cpu", 2), ("ocr", 1), ("gpu", 2)):
        seconds, count = busy_after[queue]
        before = busy_before.get(queue, (0.0, 0))
        assert count - before[1] >= tasks and seconds > before[0], (queue, busy_before, busy_after)
