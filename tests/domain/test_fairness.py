"""Fairness between clients, against the real Redis broker: client A uploads a burst, client B
uploads one document afterwards, and B's document is taken before most of A's.

The first test takes the messages off the queue one by one with kombu, the same Redis transport
(and priority order) a Celery worker consumes with; the second lets a real worker process run
the whole pipeline and reads the order in which it started and finished the documents."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from docproc import services
from docproc.audit.models import AuditEvent
from docproc.models import Document
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BURST = 10


def _burst_then_one(make_api_client, claim_files) -> tuple[list[str], str]:
    """A's burst of BURST claims, then B's one claim; (A's ids in upload order, B's id)."""
    a, _ = make_api_client("client-a")
    b, _ = make_api_client("client-b")
    data = claim_files[0][0].read_bytes()
    # Trailing bytes after %%EOF are ignored by readers; they defeat the SHA-256 dedupe.
    a_ids = [str(services.document_upload(client=a, uploaded=SimpleUploadedFile(f"a{i}.pdf", data + b"\n%% a %d\n" % i),
                                          doc_type="claim").document.id) for i in range(BURST)]
    b_id = str(services.document_upload(client=b, uploaded=SimpleUploadedFile("b.pdf", data + b"\n%% b\n"),
                                        doc_type="claim").document.id)
    return a_ids, b_id


def _taken_in_order(queue: str) -> list[str]:
    """Every document id queued on ``queue``, in the order a consumer of the queue gets them."""
    from docproc.celery import app

    order = []
    with app.connection_for_read() as conn:
        q = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = q.get(block=True, timeout=0.5)
                except q.Empty:
                    break
                order.append(message.payload[0][0])  # Celery's message body: [args, kwargs, embed]
                message.ack()
        finally:
            q.close()
    return order


@pytest.mark.parametrize("step", [1, 0])
def test_a_later_client_overtakes_a_burst_at_the_broker(make_api_client, claim_files, broker, settings, step):
    """Given client A's burst of ten uploads queued and then client B's one, when a consumer takes
    the cpu queue's messages, then B's document comes second (after A's first, which has the same
    priority and came before it). With fairness off (DOCPROC_FAIR_SHARE_STEP=0) it comes last:
    the order is the priorities' doing."""
    settings.DOCPROC_FAIR_SHARE_STEP = step
    a_ids, b_id = _burst_then_one(make_api_client, claim_files)
    order = _taken_in_order("cpu")
    assert sorted(order) == sorted([*a_ids, b_id])
    if step:
        assert order.index(b_id) == 1 and order[0] == a_ids[0]
        assert [i for i in order if i != b_id] == a_ids  # A's own documents keep their order
    else:
        assert order == [*a_ids, b_id]


def test_a_real_worker_takes_the_later_clients_document_before_most_of_the_burst(make_api_client, claim_files,
                                                                                celery_worker_process):
    """Given a real worker (one process, every queue) busy with client A's burst of ten claims,
    when client B uploads one claim after the burst, then the worker starts B's document and
    finishes it before at least seven of A's."""
    a_ids, b_id = _burst_then_one(make_api_client, claim_files)
    ids = [*a_ids, b_id]
    wait_for(lambda: not Document.objects.filter(pk__in=ids, status__in=["received", "processing"]).exists(),
             timeout=240)
    log = celery_worker_process.log_path.read_text()[-3000:]
    assert set(Document.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"auto_accepted"}, log
    started = [str(e.document_id) for e in AuditEvent.objects.filter(
        document_id__in=ids, action="pipeline.stage_started", payload__stage="ingest").order_by("id")]
    finished = list(Document.objects.filter(pk__in=ids).order_by("finished_at").values_list("id", flat=True))
    finished = [str(i) for i in finished]
    assert started.index(b_id) <= BURST - 7, started
    assert finished.index(b_id) <= BURST - 7, finished
