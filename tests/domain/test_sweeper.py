"""The sweeper against the real Redis broker (no worker consumes here): a document waiting in a
queue or running is never queued again, one whose message is gone is, ``attempts`` counts every
stage, and only an attempted document that keeps stopping fails ``processing_timeout``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from docproc import services
from docproc.models import Document

pytestmark = pytest.mark.django_db(transaction=True)


def _age(doc: Document, **delta) -> None:
    Document.objects.filter(pk=doc.pk).update(updated_at=timezone.now() - timedelta(**delta))


def test_a_document_waiting_behind_a_backlog_is_left_alone(make_api_client, claim_files, broker):
    """Given an upload whose ingest task waits in the cpu queue for an hour (a backlog), the
    sweeper, run again and again, neither queues it again nor fails it."""
    client, _ = make_api_client()
    doc = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", claim_files[0][0].read_bytes()),
                                   doc_type="claim").document
    assert broker.llen("cpu") == 1
    for _ in range(5):
        _age(doc, hours=1)
        assert services.documents_requeue_stuck() == []
    doc.refresh_from_db()
    assert broker.llen("cpu") == 1 and doc.status == "received" and doc.attempts == 0


def test_a_running_task_is_not_queued_again(make_api_client, broker):
    """A task a worker holds unacknowledged (running, acks_late) is in flight; once its message
    is gone, a document in OCR (no reading stored) is queued for OCR again, not extraction."""
    from docproc import dispatch

    client, _ = make_api_client()
    doc = Document.objects.create(client=client, sha256="b" * 64, original_name="x.pdf", doc_type="claim", file="x",
                                  status="processing", stage="ocr:2", attempts=2)
    dispatch.document_ocr_enqueue(doc.id)
    message = broker.rpop("ocr")
    broker.hset("unacked", "tag-1", b'[' + message + b', "", "ocr"]')  # as a worker holds it while running
    _age(doc, hours=2)
    assert services.documents_requeue_stuck() == []
    broker.hdel("unacked", "tag-1")  # the worker died and its message is gone
    assert services.documents_requeue_stuck() == [str(doc.id)]
    assert broker.llen("ocr") == 1 and broker.llen("gpu") == 0


def test_a_read_document_is_queued_for_extraction(make_api_client, broker):
    """A document whose reading is stored (the OCR stage finished) and whose extraction message
    was lost goes back to the gpu queue, not through OCR again."""
    from docproc.models import StageResult
    from docproc.services.processing import READ_ENGINE, READ_STAGE, READ_VERSION

    client, _ = make_api_client()
    doc = Document.objects.create(client=client, sha256="c" * 64, original_name="x.pdf", doc_type="claim", file="x",
                                  status="processing", stage="queued", attempts=2)
    StageResult.objects.create(document=doc, page=0, stage=READ_STAGE, engine=READ_ENGINE, engine_version=READ_VERSION,
                               payload={})
    _age(doc, hours=2)
    assert services.documents_requeue_stuck() == [str(doc.id)]
    assert broker.llen("gpu") == 1 and broker.llen("ocr") == 0


def test_a_lost_document_is_queued_once_and_fails_only_after_its_attempts(make_api_client, claim_files, broker):
    client, _ = make_api_client()
    doc = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", claim_files[0][0].read_bytes()),
                                   doc_type="claim").document
    broker.delete("cpu")  # the broker lost the message
    _age(doc, minutes=5)
    assert services.documents_requeue_stuck() == [str(doc.id)]
    assert services.documents_requeue_stuck() == []  # queued now: not again
    assert broker.llen("cpu") == 1
    doc.refresh_from_db()
    assert doc.status == "received" and doc.attempts == 0  # never attempted: never failed

    stuck = Document.objects.create(client=client, sha256="c" * 64, original_name="x.pdf", doc_type="claim",
                                    file="x", status="processing", stage="extract", attempts=services.MAX_ATTEMPTS)
    _age(stuck, hours=2)
    services.documents_requeue_stuck()
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.error_code == "processing_timeout"


def test_attempts_count_every_stage_and_ingest_is_idempotent_past_it(make_api_client, claim_files, eager_tasks):
    client, _ = make_api_client()
    doc = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", claim_files[0][0].read_bytes()),
                                   doc_type="claim").document
    doc.refresh_from_db()
    assert doc.status == "auto_accepted" and doc.attempts == 2  # ingest (with the text layer), extraction: no OCR stage
    stopped = Document.objects.create(client=client, sha256="d" * 64, original_name="x.pdf", doc_type="claim",
                                      file="x", status="processing", stage="ocr:1", attempts=2)
    assert services.document_ingest(document_id=stopped.id) is None  # past ingest: a re-delivery ends here
    stopped.refresh_from_db()
    assert stopped.attempts == 2 and stopped.stage == "ocr:1"


def test_an_ingest_stopped_while_reading_a_text_layer_runs_again(make_api_client, claim_files, broker):
    """Given a digital claim whose ingest worker died while reading its text layer (its stage says
    so), when the sweeper finds it, then it queues ingest again (cpu), and that ingest reads the
    text layer, stores the reading and sends the document to extraction, skipping OCR."""
    from docproc.models import StageResult

    client, _ = make_api_client()
    doc = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", claim_files[0][0].read_bytes()),
                                   doc_type="claim").document
    broker.delete("cpu")  # the message went with the worker
    Document.objects.filter(pk=doc.pk).update(status="processing", stage="ingest:text_layer:1", attempts=1)
    _age(doc, hours=1)
    assert services.documents_requeue_stuck() == [str(doc.id)]
    assert broker.llen("cpu") == 1 and broker.llen("ocr") == 0 and broker.llen("gpu") == 0
    assert services.document_ingest(document_id=doc.id) == services.STAGE_EXTRACT
    doc.refresh_from_db()
    assert doc.stage == "queued" and doc.attempts == 2
    assert StageResult.objects.filter(document=doc, stage="read", page=0).exists()
