"""The storage helpers and the retention purge against a real S3-compatible server (SeaweedFS):
files go in and out through django-storages' S3 backend only, encrypted at rest, and a purge leaves
no object of the document in the bucket."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from docproc import storage
from docproc.models import Document, DocumentStatus, Page
from docproc.pipeline.types import PageImage
from docproc.services import processing
from docproc.services.retention import document_purge

pytestmark = [pytest.mark.storage, pytest.mark.django_db]


def test_the_configured_backend_is_s3_with_server_side_encryption(s3_storage):
    """Given DOCPROC_STORAGE=s3, the default storage is django-storages' S3 backend, and an object
    it writes lands in the bucket under the prefix, encrypted by the server (AES256)."""
    server, prefix = s3_storage
    from storages.backends.s3 import S3Storage

    name = storage.file_write("pages/x/page-1.png", b"\x89PNG-one")
    assert isinstance(default_storage._wrapped, S3Storage)
    assert name == "pages/x/page-1.png"
    assert server.keys(prefix) == [f"{prefix}/pages/x/page-1.png"]
    head = server.client().head_object(Bucket=server.bucket, Key=f"{prefix}/pages/x/page-1.png")
    assert head["ServerSideEncryption"] == "AES256"


def test_write_replaces_under_the_same_name_and_a_local_copy_is_removed_after_use(s3_storage):
    server, prefix = s3_storage
    storage.file_write("documents/ab/abc/original", b"first")
    assert storage.file_write("documents/ab/abc/original", b"second") == "documents/ab/abc/original"
    assert storage.file_read("documents/ab/abc/original") == b"second"
    with storage.local_copy("documents/ab/abc/original") as path:
        assert path.read_bytes() == b"second"
        folder = path.parent
    assert not folder.exists()
    with pytest.raises(FileNotFoundError):
        with storage.local_copy("documents/ab/abc/nothing-here"):
            pass
    assert storage.folder_delete("documents/ab/abc") == 1
    assert server.keys(prefix) == []


def test_purge_deletes_the_original_and_every_preview_from_the_bucket(s3_storage, make_api_client):
    """Given a document whose original and page previews (and a preview an earlier run left, that
    no page names any more) are in the bucket, the retention purge deletes every one of its
    objects through the storage, and leaves another document's objects alone."""
    server, prefix = s3_storage
    client, _ = make_api_client("kept-briefly", retention_days=1)

    def stored_document() -> Document:
        doc = Document.objects.create(client=client, doc_type="claim", status=DocumentStatus.DELIVERED,
                                      original_name="c.png", sha256="0" * 64, size=4)
        doc.file.save("original", io.BytesIO(b"scan"), save=True)
        image = Image.new("RGB", (200, 260), "white")
        Page.objects.create(document=doc, number=1, **processing._store_page_image(
            doc.id, PageImage(page=1, image=image, dpi=110.0)))
        return doc

    doc, other = stored_document(), stored_document()
    storage.file_write(f"pages/{doc.id}/page-2.png", b"left by an earlier run")
    ours = server.keys(f"{prefix}/pages/{doc.id}/") + server.keys(f"{prefix}/{doc.file.name}")
    assert len(ours) == 4, ours
    theirs = server.keys(f"{prefix}/pages/{other.id}/") + server.keys(f"{prefix}/{other.file.name}")
    result = document_purge(document_id=doc.pk)
    assert result is not None and result.files_deleted == 4
    assert [k for k in server.keys(prefix) if str(doc.id) in k or doc.id.hex in k] == []
    assert server.keys(f"{prefix}/pages/{other.id}/") + server.keys(f"{prefix}/{other.file.name}") == theirs
    doc.refresh_from_db()
    assert doc.purged_at is not None and not doc.file


def test_readyz_reaches_the_bucket(s3_storage, client):
    assert client.get("/readyz").json()["checks"]["storage"] == "ok"


def test_a_duplicate_gets_its_own_copy_of_the_previews_in_the_bucket(s3_storage):
    """Given an original's previews in the bucket, a duplicate's reused run copies them under its
    own folder (so purging one leaves the other's screen whole)."""
    import uuid

    server, prefix = s3_storage
    original, duplicate = uuid.uuid4(), uuid.uuid4()
    stored = processing._store_page_image(original, PageImage(page=1, image=Image.new("RGB", (90, 120), "white"),
                                                              dpi=110.0))
    page = Page(number=1, image=stored["image"], thumbnail=stored["thumbnail"], image_width=90, image_height=120)
    copied = processing._page_images_copy(original, duplicate, page)
    assert copied["image"] == f"pages/{duplicate}/page-1.png" and copied["thumbnail"] == f"pages/{duplicate}/page-1-thumb.png"
    assert storage.file_read(copied["image"]) == storage.file_read(stored["image"])
    assert server.keys(f"{prefix}/pages/{duplicate}/") == sorted(f"{prefix}/{copied[k]}" for k in ("image", "thumbnail"))
