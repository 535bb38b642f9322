"""Re-runs for real: API upload -> a Celery worker -> review -> POST .../reprocess/ -> the worker
makes a second run beside the first -> the document page shows both; the reviewed values stay."""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from docproc.models import Document, ExtractionRun, Field, FieldStatus
from fixtures.claims import make_claim, write_claim_pdf
from fixtures.review_documents import INVALID
from reviewer import services as review_services
from reviewer.models import ReviewTask
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_reprocessed_document_keeps_both_runs_and_the_page_shows_the_diff(api, client, celery_worker_process,
                                                                            tmp_path):
    http, _ = api
    pdf = write_claim_pdf(dataclasses.replace(make_claim(21), **INVALID), tmp_path / "claim.pdf")
    doc_id = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("claim.pdf", pdf.read_bytes()),
                                               "doc_type": "claim"}, format="multipart").json()["id"]
    log = celery_worker_process.log_path
    assert wait_for(lambda: Document.objects.get(pk=doc_id).status == "needs_review", timeout=120), log.read_text()[-3000:]
    sue = User.objects.create_user("sue")
    sue.groups.add(Group.objects.get(name="supervisor"))
    review_services.review_task_claim(task=ReviewTask.objects.get(document_id=doc_id), user=sue)
    for f in Field.objects.filter(document_id=doc_id, status=FieldStatus.NEEDS_REVIEW):
        if f.name == "claimant_dob":
            review_services.field_correct(document_id=doc_id, field_id=f.pk, user=sue, raw_value="02/03/1943",
                                          reason="misread")
        else:
            review_services.field_accept(document_id=doc_id, field_id=f.pk, user=sue, confirm=not f.valid)
    review_services.document_review_submit(document_id=doc_id, user=sue)

    response = http.post(f"/api/v1/documents/{doc_id}/reprocess/", {"engine": "rules"}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["run"]
    wait_for(lambda: ExtractionRun.objects.get(pk=run_id).rerun_state == "pending", timeout=120)
    runs = ExtractionRun.objects.filter(document_id=doc_id)
    assert runs.count() == 2 and Field.objects.filter(document_id=doc_id).count() == 22
    assert Document.objects.get(pk=doc_id).status == "reviewed"  # a re-run moves no status
    result = http.get(f"/api/v1/documents/{doc_id}/result/").json()
    assert result["fields"]["claimant_dob"]["value"] == "02/03/1943"

    client.force_login(sue)
    page = client.get(reverse("reviewer:document", args=[doc_id])).content.decode()
    diff = page.split(f'<table class="rerun-diff" data-run="{run_id}">', 1)[1].split("</table>", 1)[0]
    row = diff.split('data-name="claimant_dob"', 1)[1].split("</tr>", 1)[0]
    assert "02/03/1943" in row and "02/30/1943" in row and "changed" in row
    assert 'data-name="claim_number"' in diff and diff.count("<strong>changed</strong>") == 1
    client.post(reverse("reviewer:rerun_decide", args=[doc_id, run_id]), {"choice": "keep"})
    assert ExtractionRun.objects.get(pk=run_id).rerun_state == "kept"
    assert http.get(f"/api/v1/documents/{doc_id}/result/").json()["fields"]["claimant_dob"]["value"] == "02/03/1943"
