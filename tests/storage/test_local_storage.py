"""The one-machine default: files under MEDIA_ROOT through FileSystemStorage, read by workers
and the review UI through the storage API (a temporary copy, a stream), deleted by the purge
through it; and the storage settings refuse what they cannot run with."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, default_storage
from django.test import Client
from PIL import Image

from docproc import storage
from docproc.models import Document, DocumentStatus, Page
from docproc.pipeline.types import PageImage
from docproc.services import processing
from docproc.services.retention import document_purge
from tests.storage.conftest import storages_from_env

pytestmark = pytest.mark.django_db


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_without_a_setting_files_are_on_the_local_disk(monkeypatch):
    monkeypatch.delenv("DOCPROC_STORAGE", raising=False)
    assert storages_from_env(monkeypatch, {})["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    storage.file_write("pages/x/page-1.png", b"png")
    assert isinstance(default_storage._wrapped, FileSystemStorage)


@pytest.mark.parametrize(("env", "says"), [
    ({"DOCPROC_STORAGE": "ftp"}, "use one of local, s3"),
    ({"DOCPROC_STORAGE": "s3"}, "needs DOCPROC_S3_BUCKET"),
    ({"DOCPROC_STORAGE": "s3", "DOCPROC_S3_BUCKET": "b", "DOCPROC_S3_SSE": "rot13"}, "use AES256, aws:kms"),
])
def test_a_storage_setting_that_cannot_work_is_refused_with_what_to_set(monkeypatch, env, says):
    monkeypatch.delenv("DOCPROC_S3_BUCKET", raising=False)
    with pytest.raises(ImproperlyConfigured, match=says):
        storages_from_env(monkeypatch, env)


def test_s3_settings_reach_the_backend(monkeypatch):
    options = storages_from_env(monkeypatch, {
        "DOCPROC_STORAGE": "s3", "DOCPROC_S3_BUCKET": "claims", "DOCPROC_S3_ENDPOINT_URL": "http://s3.internal:8333",
        "DOCPROC_S3_REGION": "eu-west-3", "DOCPROC_S3_SSE": "aws:kms", "DOCPROC_S3_SSE_KMS_KEY_ID": "key-1",
        "DOCPROC_S3_PREFIX": "/docproc/", "DOCPROC_S3_ACCESS_KEY_ID": "AK", "DOCPROC_S3_SECRET_ACCESS_KEY": "SK",
    })["default"]
    assert options["BACKEND"] == "storages.backends.s3.S3Storage"
    o = options["OPTIONS"]
    assert (o["bucket_name"], o["endpoint_url"], o["region_name"], o["location"]) == (
        "claims", "http://s3.internal:8333", "eu-west-3", "docproc")
    assert (o["access_key"], o["secret_key"], o["addressing_style"]) == ("AK", "SK", "path")  # path: a self-hosted server
    assert o["object_parameters"] == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "key-1"}
    assert o["default_acl"] is None


def test_a_local_copy_is_a_copy_and_is_removed_even_when_the_reader_fails(settings):
    name = storage.file_write("documents/ab/abc/original", b"%PDF-1.7 bytes")
    stored = Path(settings.MEDIA_ROOT) / name
    with pytest.raises(RuntimeError), storage.local_copy(name) as path:
        assert path.read_bytes() == b"%PDF-1.7 bytes" and path != stored
        copy = path
        raise RuntimeError("the PDF reader failed")
    assert not copy.exists() and not copy.parent.exists()
    assert stored.read_bytes() == b"%PDF-1.7 bytes"  # the original is untouched
    assert storage.file_write(name, b"again") == name  # replaced under its name, not renamed
    assert _files(Path(settings.MEDIA_ROOT)) == [name]


def _stored_document(client=None) -> Document:
    doc = Document.objects.create(client=client, doc_type="claim", status=DocumentStatus.DELIVERED,
                                  original_name="c.png", sha256="0" * 64, size=4)
    doc.file.save("original", io.BytesIO(b"scan"), save=True)
    Page.objects.create(document=doc, number=1, **processing._store_page_image(
        doc.id, PageImage(page=1, image=Image.new("RGB", (200, 260), "white"), dpi=110.0)))
    return doc


def test_purge_deletes_through_the_storage_and_leaves_no_folder(settings, make_api_client):
    """Given a document's original, previews and a preview an earlier run left, the purge deletes
    each through the storage and removes the document's emptied folders; another's stay whole."""
    client, _ = make_api_client("kept-briefly", retention_days=1)
    doc, other = _stored_document(client), _stored_document(client)
    storage.file_write(f"pages/{doc.id}/page-2.png", b"left by an earlier run")
    root = Path(settings.MEDIA_ROOT)
    theirs = [f for f in _files(root) if str(other.id) in f or other.id.hex in f]
    result = document_purge(document_id=doc.pk)
    assert result is not None and result.files_deleted == 4
    assert [f for f in _files(root) if str(doc.id) in f or doc.id.hex in f] == []
    assert not (root / "pages" / str(doc.id)).exists()
    assert not (root / "documents" / doc.id.hex[:2] / doc.id.hex).exists()
    assert [f for f in _files(root) if str(other.id) in f or other.id.hex in f] == theirs and len(theirs) == 3


def test_the_page_image_is_streamed_from_the_storage_after_the_permission_check(settings):
    from django.contrib.auth.models import Group, User

    doc = _stored_document()
    page = doc.pages.get()
    reviewer = User.objects.create_user("ana")
    reviewer.groups.add(Group.objects.get(name="reviewer"))
    nobody = User.objects.create_user("nobody")
    url = f"/review/doc/{doc.id}/page/1.png"

    http = Client()
    http.force_login(nobody)
    assert http.get(url).status_code == 403
    http.force_login(reviewer)
    resp = http.get(url)
    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    assert b"".join(resp.streaming_content) == storage.file_read(page.image)
    Page.objects.filter(pk=page.pk).update(image="../../../etc/passwd")  # a name outside the storage
    assert http.get(url).status_code == 404
    Page.objects.filter(pk=page.pk).update(image=f"pages/{doc.id}/missing.png")
    assert http.get(url).status_code == 404


def test_an_unreachable_storage_server_is_an_error_the_tasks_retry(settings, monkeypatch):
    """Given DOCPROC_STORAGE=s3 and a server that refuses connections, reading a document's
    original raises an error the pipeline tasks retry later (not one that fails the document)."""
    import socket

    from workers.tasks import RETRY_ON

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # boto3's own retries would only make this slower
    settings.STORAGES = storages_from_env(monkeypatch, {
        "DOCPROC_STORAGE": "s3", "DOCPROC_S3_BUCKET": "b", "DOCPROC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "DOCPROC_S3_ACCESS_KEY_ID": "k", "DOCPROC_S3_SECRET_ACCESS_KEY": "s", "DOCPROC_S3_REGION": "us-east-1"})
    with pytest.raises(RETRY_ON) as caught, storage.local_copy("documents/ab/abc/original"):
        pass
    assert type(caught.value).__module__.startswith("botocore")
    body = Client().get("/readyz").json()
    assert body["status"] == "unavailable" and body["checks"]["storage"] == "error: EndpointConnectionError"


def test_copies_a_killed_process_left_behind_are_swept(settings):
    """Given a worker copy and an upload spool that a killed process never removed, and a copy a
    running task still reads, the sweep removes the stale two only."""
    import os
    import time

    scratch = storage.scratch_dir()
    stale_copy = scratch / "copy-stale"
    stale_copy.mkdir()
    (stale_copy / "original").write_bytes(b"personal data")
    stale_upload = scratch / "upload-stale"
    stale_upload.write_bytes(b"personal data")
    live = scratch / "copy-live"
    live.mkdir()
    old = time.time() - 2 * settings.DOCPROC_TASK_TIME_LIMIT - 60
    for path in (stale_copy, stale_upload):
        os.utime(path, (old, old))
    assert storage.scratch_sweep(scratch) == 2
    assert sorted(p.name for p in scratch.iterdir()) == ["copy-live"]
