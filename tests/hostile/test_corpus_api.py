"""The hostile corpus through the REST API and the Celery tasks: every case ends as declared
(a 4xx with a code, a failed document with a code, or a processed one), never a 500, and the
good documents uploaded in the same batch are all processed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fixtures.hostile import HOSTILE_MAX_IMAGE_PIXELS, HOSTILE_RENDER_DPI, TEST_MAX_UPLOAD_BYTES, cases

PROCESSED = {"needs_review", "auto_accepted"}


@pytest.fixture
def corpus(settings):
    settings.DOCPROC_MAX_UPLOAD_BYTES = TEST_MAX_UPLOAD_BYTES
    settings.DOCPROC_MAX_IMAGE_PIXELS = HOSTILE_MAX_IMAGE_PIXELS
    settings.DOCPROC_RENDER_DPI = HOSTILE_RENDER_DPI
    return cases(max_pages=settings.DOCPROC_MAX_PAGES)


def test_corpus_has_at_least_thirty_kinds_and_all_three_outcomes(corpus):
    assert len({c.name for c in corpus}) == len(corpus) >= 30
    assert {c.outcome for c in corpus} == {"refused", "failed", "processed"}
    for case in corpus:
        assert (case.outcome == "processed") == (case.code is None), case.name


@pytest.mark.slow
def test_every_hostile_upload_ends_as_declared_and_nothing_in_the_batch_is_lost(
        api, corpus, eager_tasks, ocr_available, settings):
    """Given the whole corpus uploaded as one batch, when every accepted document runs through
    the real tasks, then each ends as declared and the good ones carry their fields."""
    from docproc.models import Document, Field, Page
    from fixtures.claims import make_claim
    from workers import tasks

    http, client = api
    accepted: dict[str, str] = {}
    for i, case in enumerate(corpus):
        upload = SimpleUploadedFile(case.filename, case.make(), content_type="application/octet-stream")
        # Same bytes under different names must not dedupe: each case gets its own reference.
        resp = http.post("/api/v1/documents/", {"file": upload, "doc_type": "claim", "external_ref": f"hostile-{i}"},
                         format="multipart", HTTP_IDEMPOTENCY_KEY=f"hostile-{case.name}")
        assert resp.status_code < 500, (case.name, resp.status_code, resp.content[:300])
        body = resp.json()
        if case.outcome == "refused":
            assert (resp.status_code, body["code"]) == (case.status, case.code), (case.name, body)
            assert body["detail"] and "Traceback" not in body["detail"]
            continue
        assert resp.status_code in (200, 201), (case.name, body)
        accepted[case.name] = body["id"]

    refused = [c for c in corpus if c.outcome == "refused"]
    assert Document.objects.filter(client=client).count() == len(set(accepted.values())) == len(corpus) - len(refused)

    for name, doc_id in accepted.items():
        result = tasks.document_ingest.apply(args=[doc_id])
        assert result.successful(), (name, result.traceback)

    by_name = {c.name: c for c in corpus}
    for name, doc_id in accepted.items():
        case = by_name[name]
        doc = Document.objects.get(pk=doc_id)
        if case.outcome == "failed":
            assert (doc.status, doc.error_code) == ("failed", case.code), (name, doc.status, doc.error_code, doc.error_detail)
            assert doc.error_detail
            continue
        assert doc.status in PROCESSED, (name, doc.status, doc.error_code, doc.error_detail)
        assert doc.page_count >= 1 and Page.objects.filter(document=doc).count() == doc.page_count, name
        assert Field.objects.filter(document=doc).exists(), name
        assert "/" not in doc.original_name and "\\" not in doc.original_name, doc.original_name
        assert all(ch.isprintable() for ch in doc.original_name), repr(doc.original_name)
        stored = Path(doc.file.path).resolve()
        assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve() / "documents"), stored

    truth = make_claim(7)
    control = Document.objects.get(pk=accepted["control_claim_pdf"])
    assert control.fields.get(name="claim_number").value == truth.claim_number


def test_heic_refusal_says_to_convert(api):
    http, _ = api
    case = next(c for c in cases() if c.name == "heic_photo")
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile(case.filename, case.make()), "doc_type": "claim"},
                     format="multipart")
    assert resp.status_code == 415
    assert resp.json()["code"] == "unsupported_type"
    assert "HEIC" in resp.json()["detail"] and "JPEG" in resp.json()["detail"]


def _raw_post(http, body: bytes, content_type: str):
    return http.generic("POST", "/api/v1/documents/", body, content_type=content_type)


@pytest.mark.parametrize(("label", "make_request", "status", "code"), [
    ("no multipart boundary", lambda: (b"--x\r\n", "multipart/form-data"), 400, "malformed_request"),
    ("broken multipart", lambda: (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF",
                                  "multipart/form-data; boundary=b"), 400, None),
    ("json body", lambda: (b'{"file": "JVBERi0="}', "application/json"), 415, "unsupported_media_type"),
    ("form field over the memory limit",
     lambda: (b"--b\r\nContent-Disposition: form-data; name=\"external_ref\"\r\n\r\n" + b"x" * (11 * 1024 * 1024)
              + b"\r\n--b--\r\n", "multipart/form-data; boundary=b"), 413, "request_too_large"),
    ("too many form fields",
     lambda: (b"".join(b"--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n" % i for i in range(1200))
              + b"--b--\r\n", "multipart/form-data; boundary=b"), 400, "request_too_large"),
    ("too many files",
     lambda: (b"".join(b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%d.pdf\"\r\n\r\n%%PDF-1.4\r\n" % i
                       for i in range(150)) + b"--b--\r\n", "multipart/form-data; boundary=b"), 400, "request_too_large"),
])
def test_malformed_requests_get_a_coded_4xx(api, label, make_request, status, code):
    http, client = api
    body, content_type = make_request()
    resp = _raw_post(http, body, content_type)
    assert 400 <= resp.status_code < 500, (label, resp.status_code, resp.content[:300])
    data = resp.json()
    assert data["code"], label
    if code is not None:
        assert (resp.status_code, data["code"]) == (status, code), (label, data)
    assert not client.documents.exists()


def test_an_oversized_body_is_refused_from_its_declared_length_before_it_is_read(api, settings):
    """A client announcing 10 GB is answered 413 at once; the body is never read or spooled."""
    http, client = api
    settings.DOCPROC_MAX_UPLOAD_BYTES = TEST_MAX_UPLOAD_BYTES
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    resp = http.generic("POST", "/api/v1/documents/", body, content_type="multipart/form-data; boundary=b",
                        CONTENT_LENGTH=str(10 * 1024**3))
    assert resp.status_code == 413 and resp.json()["code"] == "file_too_large"
    assert not client.documents.exists()
