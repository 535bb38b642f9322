"""The nastiest files through a real Celery worker: each ends as declared and the same worker
process is still alive and still processing afterwards."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fixtures.hostile import HOSTILE_MAX_IMAGE_PIXELS, HOSTILE_RENDER_DPI, cases
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NASTY = ("png_decompression_bomb", "png_text_chunk_bomb", "tiff_500_pages", "tiff_bomb_frame", "pdf_deeply_nested",
         "pdf_page_tree_loop", "pdf_huge_page", "pdf_encrypted", "image_wide_strip", "control_claim_pdf")


@pytest.fixture
def small_limits(monkeypatch, settings):
    # Read by the worker process from its environment (the fixture below copies os.environ).
    monkeypatch.setenv("DOCPROC_MAX_IMAGE_PIXELS", str(HOSTILE_MAX_IMAGE_PIXELS))
    monkeypatch.setenv("DOCPROC_RENDER_DPI", str(HOSTILE_RENDER_DPI))
    settings.DOCPROC_MAX_IMAGE_PIXELS = HOSTILE_MAX_IMAGE_PIXELS


def test_nasty_files_fail_or_pass_cleanly_and_the_worker_survives(small_limits, celery_worker_process, api):
    from docproc.models import Document

    http, _ = api
    by_name = {c.name: c for c in cases()}
    ids = {}
    for name in NASTY:
        case = by_name[name]
        resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile(case.filename, case.make()),
                                                 "doc_type": "claim"}, format="multipart")
        assert resp.status_code == 201, (name, resp.content[:300])
        ids[name] = resp.json()["id"]

    def all_final():
        docs = {d.pk: d for d in Document.objects.filter(pk__in=ids.values())}
        return all(d.status not in ("received", "processing") for d in docs.values()) and docs

    try:
        wait_for(all_final, timeout=300, interval=1)
    except AssertionError:
        pytest.fail(celery_worker_process.log_path.read_text(errors="replace")[-4000:])
    for name, doc_id in ids.items():
        doc = Document.objects.get(pk=doc_id)
        case = by_name[name]
        if case.outcome == "failed":
            assert (doc.status, doc.error_code) == ("failed", case.code), (name, doc.status, doc.error_code)
        else:
            assert doc.status in ("auto_accepted", "needs_review"), (name, doc.status, doc.error_code, doc.error_detail)
    assert celery_worker_process.poll() is None, "the worker process died"
    assert "WorkerLostError" not in celery_worker_process.log_path.read_text(errors="replace")
