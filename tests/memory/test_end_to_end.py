"""Learning from a review, for real: API upload -> Redis -> a Celery worker -> the review screen's
endpoints -> the vendor memory -> the next upload from the same sender -> the result API."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from docproc.audit.models import AuditEvent
from docproc.models import Document, Field, SenderMemory
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receipts(tmp_path):
    from fixtures.receipts import write_receipt_pdf

    # Two receipts of one shop (seller 0) and one of another (seller 1).
    return {name: (tmp_path / f"{name}.pdf", write_receipt_pdf(seller, seed, tmp_path / f"{name}.pdf"))
            for name, seller, seed in (("first", 0, 11), ("second", 0, 12), ("other", 1, 13))}


def _upload(http, path):
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile(path.name, path.read_bytes()),
                                             "doc_type": "receipt"}, format="multipart")
    assert resp.status_code == 201, resp.content
    doc_id = resp.json()["id"]

    def finished():
        status = Document.objects.get(pk=doc_id).status
        return status if status not in ("received", "processing") else None

    return doc_id, wait_for(finished, timeout=120)


def _review_to_truth(client, doc_id, truth):
    """What a reviewer does on the review screen: Next claims, each waiting field is accepted or
    corrected to what the receipt prints, Submit."""
    assert client.post(reverse("reviewer:next")).status_code == 302
    for f in Field.objects.filter(document_id=doc_id, status="needs_review"):
        url = reverse("reviewer:field", args=[doc_id, f.pk])
        if f.value == truth[f.name]:
            resp = client.post(url, {"action": "accept", "confirm": "1"}, HTTP_ACCEPT="application/json")
        else:
            resp = client.post(url, {"action": "correct", "value": truth[f.name], "reason": "misread"},
                               HTTP_ACCEPT="application/json")
        assert resp.status_code == 200, resp.content
    resp = client.post(reverse("reviewer:submit", args=[doc_id]))
    assert resp.status_code == 302
    assert Document.objects.get(pk=doc_id).status == "reviewed"


def test_a_sender_reviewed_before_is_auto_accepted_on_what_the_memory_verified(
        api, client, make_user, receipts, celery_worker_process):
    """Given a receipt whose shop name and address the rules cannot be sure of, reviewed through
    the review screen (the address corrected), when the same shop's next receipt is uploaded, then
    the worker gives it the verified name and address, grounded to its own words, auto-accepted
    with the reviewers' evidence; a receipt of another shop gets nothing from that memory."""
    http, _ = api
    path, truth = receipts["first"]
    first_id, status = _upload(http, path)
    assert status == "needs_review", celery_worker_process.log_path.read_text()[-3000:]
    before = http.get(f"/api/v1/documents/{first_id}/result/").json()["fields"]
    assert before["company"]["status"] == "needs_review" and before["address"]["status"] == "needs_review"
    assert before["address"]["value"] != truth.address  # the rules read the registration line into it

    client.force_login(make_user("reviewer", "rita"))
    _review_to_truth(client, first_id, truth.fields())
    entry = SenderMemory.objects.get()
    assert entry.values["company"] == {"value": truth.company, "documents": 1}
    assert entry.values["address"] == {"value": truth.address, "documents": 1}
    assert AuditEvent.objects.filter(action="memory.learned", document_id=first_id).exists()

    path, truth2 = receipts["second"]
    second_id, _ = _upload(http, path)
    result = http.get(f"/api/v1/documents/{second_id}/result/").json()
    fields = result["fields"]
    for name in ("company", "address"):
        assert fields[name]["status"] == "auto_accepted", fields[name]
        assert fields[name]["source"] == "memory"
        assert fields[name]["value"] == getattr(truth2, name)
        assert fields[name]["evidence"] == ["verified by a reviewer on 1 document from this sender"]
        assert fields[name]["page"] == 1 and len(fields[name]["bbox"]) == 4 and fields[name]["word_ids"]
    # The other fields are this receipt's own: memory does not touch them.
    assert fields["date"]["source"] == "extractor" and fields["total"]["value"] == truth2.total
    assert result["engines"]["memory"]["entry"] == str(entry.pk)
    # The reviewer who opens it for its date and total sees why the name and address were taken.
    assert result["document"]["status"] == "needs_review"
    assert client.post(reverse("reviewer:next")).status_code == 302
    page = client.get(reverse("reviewer:review", args=[second_id])).content.decode()
    assert "From memory: verified by a reviewer on 1 document from this sender" in page

    path, _ = receipts["other"]
    other_id, _ = _upload(http, path)
    other = http.get(f"/api/v1/documents/{other_id}/result/").json()
    assert {f["source"] for f in other["fields"].values()} == {"extractor"}
    assert other["engines"]["memory"]["entry"] == ""
