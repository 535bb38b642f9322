"""Document state machine, the stuck-document sweeper, and webhook delivery to a real HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from docproc import lifecycle, services, webhooks
from docproc.audit.models import AuditEvent
from docproc.audit.service import WORKER
from docproc.models import Document, InvalidTransition, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


def _doc(client, **kw) -> Document:
    return Document.objects.create(client=client, sha256="a" * 64, original_name="x.pdf", doc_type="claim", file="x", **kw)


def test_transitions_follow_the_map_and_are_audited(make_api_client):
    client, _ = make_api_client()
    doc = _doc(client)
    lifecycle.document_transition(doc, "processing", actor=WORKER)
    with pytest.raises(InvalidTransition):
        lifecycle.document_transition(doc, "delivered", actor=WORKER)
    with pytest.raises(InvalidTransition):
        lifecycle.document_transition(doc, "rejected", actor=WORKER)  # only from received
    lifecycle.document_transition(doc, "needs_review", actor=WORKER)
    lifecycle.document_transition(doc, "failed", actor=WORKER, error_code="x")
    with pytest.raises(InvalidTransition):
        lifecycle.document_transition(doc, "processing", actor=WORKER)
    moves = [e.payload for e in AuditEvent.objects.filter(document_id=doc.id, action="document.status_changed")]
    assert [(m["before"], m["after"]) for m in moves] == [
        ("received", "processing"), ("processing", "needs_review"), ("needs_review", "failed")]


def test_sweeper_requeues_lost_documents_and_gives_up_after_three_attempts(make_api_client, eager_tasks, claim_files):
    client, _ = make_api_client()
    path, _ = claim_files[0]
    eager_tasks.conf.CELERY_TASK_ALWAYS_EAGER = False  # the broker "loses" this upload
    import redis

    from tests.conftest import redis_available

    if not redis_available():
        pytest.skip("Redis is not reachable")
    outcome = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", path.read_bytes()), doc_type="claim")
    doc = outcome.document
    redis.Redis.from_url(eager_tasks.conf.broker_url).delete("cpu")  # the message is gone
    Document.objects.filter(pk=doc.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    eager_tasks.conf.CELERY_TASK_ALWAYS_EAGER = True
    assert services.documents_requeue_stuck() == [str(doc.id)]
    doc.refresh_from_db()
    assert doc.status == "auto_accepted"

    stuck = _doc(client, status="processing", attempts=3)
    Document.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    services.documents_requeue_stuck()
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.error_code == "processing_timeout"


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver
    server.shutdown()


def test_webhook_is_signed_delivered_and_recorded(make_api_client, receiver, settings, eager_tasks, claim_files):
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True  # the receiver runs on loopback
    server, handler = receiver
    secret = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    client, _ = make_api_client(webhook_url=f"http://127.0.0.1:{server.server_port}/hook", webhook_secret=f"whsec_{secret}")
    path, truth = claim_files[0]
    outcome = services.document_upload(client=client, uploaded=SimpleUploadedFile("c.pdf", path.read_bytes()), doc_type="claim")
    doc = Document.objects.get(pk=outcome.document.pk)
    assert doc.status == "delivered"
    headers, body = handler.received[0]
    expected = base64.b64encode(hmac.new(base64.b64decode(secret),
                                         f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    payload = json.loads(body)
    assert payload["type"] == "document.completed"
    assert payload["data"]["fields"]["claim_number"]["value"] == truth.claim_number
    delivery = WebhookDelivery.objects.get(document=doc)
    assert delivery.status == "delivered" and delivery.attempt_log.count() == 1


def test_webhook_failures_retry_with_backoff_then_dead_letter(make_api_client, receiver, settings):
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    settings.DOCPROC_WEBHOOK_MAX_ATTEMPTS = 3
    server, handler = receiver
    handler.status = 503
    client, _ = make_api_client(webhook_url=f"http://127.0.0.1:{server.server_port}/hook", webhook_secret="s3cret")
    doc = _doc(client, status="auto_accepted")
    delivery = webhooks.delivery_create(document_id=doc.id, event="document.completed")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    delivery.refresh_from_db()
    first_wait = delivery.next_attempt_at - timezone.now()
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at - timezone.now() > first_wait  # backoff grows
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "dead"
    delivery.refresh_from_db()
    assert [a.status_code for a in delivery.attempt_log.all()] == [503, 503, 503]
    assert len(handler.received) == 3
    doc.refresh_from_db()
    assert doc.status == "auto_accepted"  # not delivered


def test_webhook_to_private_address_is_refused_by_default(make_api_client, receiver):
    server, handler = receiver
    client, _ = make_api_client(webhook_url=f"http://127.0.0.1:{server.server_port}/hook", webhook_secret="s")
    doc = _doc(client, status="auto_accepted")
    delivery = webhooks.delivery_create(document_id=doc.id, event="document.completed")
    webhooks.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert "non-public address" in delivery.last_error and handler.received == []
