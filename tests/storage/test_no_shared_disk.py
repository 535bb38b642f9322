"""Web app and worker with no shared disk: each has a local media folder of its own, every file
of a document lives in a real S3-compatible bucket (SeaweedFS), and a scanned claim goes through
upload, OCR and page previews on the worker, review in the web app, webhook delivery and the
retention purge, after which the bucket holds nothing of it."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from docproc.celery import app
from docproc.models import ApiClient, Document, Field, FieldStatus, StageResult
from tests.conftest import wait_for
from tests.storage.conftest import storages_from_env

pytestmark = [pytest.mark.storage, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class _Receiver(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        type(self).bodies.append(json.loads(self.rfile.read(length) or b"{}"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path):
    """The environment the worker process starts with: files in the bucket under a prefix of this
    test, a data folder of its own (logs and the like; its media folder is set by
    celery_worker_process), and webhooks allowed to the local receiver."""
    prefix = "e2e-" + secrets.token_hex(6)
    (tmp_path / "worker-data").mkdir()
    for key, value in s3_server.env(DOCPROC_S3_PREFIX=prefix, DOCPROC_WEBHOOK_ALLOW_PRIVATE="1",
                                    DOCPROC_DATA_DIR=str(tmp_path / "worker-data")).items():
        monkeypatch.setenv(key, value)
    return s3_server, prefix


@pytest.fixture
def split_hosts(s3_env, celery_worker_process, _module_celery_worker, settings, tmp_path, monkeypatch):
    """(server, prefix, worker process, web media folder, worker media folder): the worker reads
    the S3 settings from its environment, this process (the web app) from the same settings module,
    and each keeps its local files in a folder the other never sees."""
    server, prefix = s3_env
    web_media = tmp_path / "web-media"
    web_media.mkdir()
    settings.MEDIA_ROOT = web_media  # celery_worker_process pointed it at the worker's folder
    settings.STORAGES = storages_from_env(monkeypatch, {})
    worker_media = _module_celery_worker.media_root
    assert web_media.resolve() != worker_media.resolve()
    return server, prefix, celery_worker_process, web_media, worker_media


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_scanned_claim_is_processed_reviewed_delivered_and_purged_with_no_shared_disk(
        split_hosts, receiver, make_api_client, tmp_path):
    from django.contrib.auth.models import Group, User

    from fixtures.claims import make_claim, write_claim_pdf, write_scan
    from reviewer import services as review

    server, prefix, worker, web_media, worker_media = split_hosts
    hook_url, hook = receiver
    client, token = make_api_client("no-shared-disk", webhook_url=hook_url,
                                    webhook_secret="whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", retention_days=30)
    supervisor = User.objects.create_user("sue")
    supervisor.groups.add(Group.objects.get(name="supervisor"))
    reviewer = User.objects.create_user("ana")
    reviewer.groups.add(Group.objects.get(name="reviewer"))
    # No machine value reaches 1.0: the claimant's name waits for a person whatever OCR reads.
    review.threshold_set(user=supervisor, doc_type="claim", field_name="claimant_name", threshold=1.0)

    truth = make_claim(41)
    scan = write_scan(write_claim_pdf(truth, tmp_path / "claim.pdf"), tmp_path / "scan.png", dpi=150)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    resp = api.post("/api/v1/documents/", {"file": SimpleUploadedFile("scan.png", scan.read_bytes()),
                                           "doc_type": "claim"}, format="multipart")
    assert resp.status_code == 201, resp.content
    doc_id = resp.json()["id"]
    doc = Document.objects.get(pk=doc_id)
    assert server.keys(f"{prefix}/{doc.file.name}") == [f"{prefix}/{doc.file.name}"]  # the upload went to the bucket
    assert _files(web_media) == []  # and left nothing on the web side's disk

    def settled():
        status = Document.objects.get(pk=doc_id).status
        return status if status not in ("received", "processing") else None

    status = wait_for(settled, timeout=300, interval=0.5)
    assert status == "needs_review", worker.log_path.read_text()[-4000:]
    page = Document.objects.get(pk=doc_id).pages.get(number=1)
    assert page.source == "ocr" and page.image and page.thumbnail
    assert StageResult.objects.filter(document_id=doc_id, stage="ocr").exists()
    assert server.keys(prefix) == sorted(f"{prefix}/{name}" for name in (doc.file.name, page.image, page.thumbnail))
    assert _files(worker_media) == []  # the worker's copy of the original is gone

    # Review in the web app, which reads the worker's page preview from the bucket.
    http = Client()
    http.force_login(reviewer)
    assert http.post(f"/review/doc/{doc_id}/claim/").status_code == 302
    screen = http.get(f"/review/doc/{doc_id}/")
    assert screen.status_code == 200 and f"/review/doc/{doc_id}/page/1.png" in screen.content.decode()
    image = http.get(f"/review/doc/{doc_id}/page/1.png")
    in_bucket = server.client().get_object(Bucket=server.bucket, Key=f"{prefix}/{page.image}")["Body"].read()
    assert image.status_code == 200 and b"".join(image.streaming_content) == in_bucket
    assert in_bucket.startswith(b"\x89PNG")
    name_field = Field.objects.get(document_id=doc_id, name="claimant_name")
    resp = http.post(f"/review/doc/{doc_id}/field/{name_field.pk}/",
                     {"action": "correct", "value": truth.claimant_name, "reason": "misread"})
    assert resp.status_code == 302
    for field in Field.objects.filter(document_id=doc_id, status=FieldStatus.NEEDS_REVIEW):
        http.post(f"/review/doc/{doc_id}/field/{field.pk}/", {"action": "accept", "confirm": "1"})
    assert not Field.objects.filter(document_id=doc_id, status=FieldStatus.NEEDS_REVIEW).exists()
    assert http.post(f"/review/doc/{doc_id}/submit/").status_code == 302

    # Delivered by the worker to the client's receiver, with the reviewer's value.
    wait_for(lambda: Document.objects.get(pk=doc_id).status == "delivered", timeout=60)
    (body,) = [b for b in hook.bodies if b["data"]["document"]["id"] == doc_id]
    assert body["data"]["fields"]["claimant_name"]["value"] == truth.claimant_name

    # Retention runs on the worker (the beat job's task): it deletes from the bucket, not a disk.
    ApiClient.objects.filter(pk=client.pk).update(retention_days=1)
    Document.objects.filter(pk=doc_id).update(created_at=timezone.now() - timedelta(days=2))
    app.send_task("workers.tasks.purge_expired_documents")
    wait_for(lambda: Document.objects.get(pk=doc_id).purged_at is not None, timeout=60)
    assert server.keys(prefix) == [], "the bucket still holds objects of the purged document"
    assert http.get(f"/review/doc/{doc_id}/page/1.png").status_code == 404
    assert _files(web_media) == [] and _files(worker_media) == []
