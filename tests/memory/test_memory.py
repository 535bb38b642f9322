"""Vendor memory in the domain: what a review teaches, a review that contradicts it, a value the
next document does not print, and the supervisors' page. Real pipeline services and review
services in process (the rules extractor), on generated receipts."""

from __future__ import annotations

import pytest
from django.core.files import File
from django.urls import reverse

from docproc.audit.models import AuditEvent
from docproc.models import Document, Field, SenderMemory
from docproc.services import document_extract, document_ingest
from reviewer import services as review
from reviewer.models import ReviewTask

pytestmark = pytest.mark.django_db


def _process(path, client=None) -> Document:
    doc = Document(client=client, doc_type="receipt", original_name=path.name, sha256=path.name, size=1)
    with path.open("rb") as fh:
        doc.file.save("original", File(fh), save=False)
    doc.save()
    assert document_ingest(document_id=doc.pk)
    document_extract(document_id=doc.pk)
    doc.refresh_from_db()
    return doc


def _review(doc: Document, user, values: dict[str, str]) -> None:
    review.review_task_claim(task=ReviewTask.objects.get(document=doc), user=user)
    for f in Field.objects.filter(document=doc):
        want = values.get(f.name, f.value)
        if f.status == "needs_review" and want == f.value:
            review.field_accept(document_id=doc.pk, field_id=f.pk, user=user, confirm=True)
        elif want != f.value:
            review.field_correct(document_id=doc.pk, field_id=f.pk, user=user, raw_value=want, reason="misread")
    review.document_review_submit(document_id=doc.pk, user=user)


def test_a_review_that_contradicts_the_memory_replaces_it_and_is_audited(tmp_path, make_user):
    """Given a shop's receipt reviewed, and its next receipt auto-accepted from memory, when a
    reviewer corrects the remembered company on that receipt, then the memory holds the
    correction (counted once), the contradiction is audited with both values, and the shop's
    third receipt, which does not print the corrected name, gets no remembered company."""
    from fixtures.receipts import write_receipt_pdf

    user = make_user("reviewer", "rui")
    truths = [write_receipt_pdf(0, 40 + i, tmp_path / f"r{i}.pdf") for i in range(3)]
    first = _process(tmp_path / "r0.pdf")
    _review(first, user, truths[0].fields())
    second = _process(tmp_path / "r1.pdf")
    fields = {f.name: f for f in Field.objects.filter(document=second)}
    assert fields["company"].source == "memory" and fields["company"].status == "auto_accepted"
    renamed = "KEDAI RUNCIT SRI MAJU (JB) SDN BHD"
    _review(second, user, {**truths[1].fields(), "company": renamed})

    entry = SenderMemory.objects.get()
    assert entry.values["company"] == {"value": renamed, "documents": 1}
    assert entry.documents == 2
    event = AuditEvent.objects.get(action="memory.contradicted")
    assert event.payload["before"] == truths[0].company and event.payload["after"] == renamed
    assert event.payload["field"] == "company" and event.document_id == second.pk

    third = _process(tmp_path / "r2.pdf")
    fields = {f.name: f for f in Field.objects.filter(document=third)}
    assert fields["company"].source == "extractor" and fields["company"].status == "needs_review"
    run = third.runs.get()
    assert run.engines["memory"]["fields"]["company"] == "not_found"
    assert fields["address"].source == "memory"  # the address is still what reviewers verified


def test_memory_is_per_client(tmp_path, make_user, make_api_client):
    from fixtures.receipts import write_receipt_pdf

    user = make_user("reviewer", "rosa")
    truths = [write_receipt_pdf(0, 60 + i, tmp_path / f"r{i}.pdf") for i in range(2)]
    mine, _ = make_api_client("shop-a")
    theirs, _ = make_api_client("shop-b")
    _review(_process(tmp_path / "r0.pdf", client=mine), user, truths[0].fields())
    other = _process(tmp_path / "r1.pdf", client=theirs)
    assert not Field.objects.filter(document=other, source="memory").exists()


def test_supervisors_see_and_delete_entries_and_the_deletion_is_audited(tmp_path, make_user, client):
    from fixtures.receipts import write_receipt_pdf

    truth = write_receipt_pdf(1, 70, tmp_path / "r.pdf")
    _review(_process(tmp_path / "r.pdf"), make_user("reviewer", "raj"), truth.fields())
    entry = SenderMemory.objects.get()

    client.force_login(make_user("reviewer", "raj2"))
    assert client.get(reverse("reviewer:memory")).status_code == 403
    assert client.post(reverse("reviewer:memory_delete", args=[entry.pk])).status_code == 403
    assert SenderMemory.objects.filter(pk=entry.pk).exists()

    client.force_login(make_user("supervisor", "sam"))
    page = client.get(reverse("reviewer:memory"))
    assert page.status_code == 200 and truth.company in page.content.decode()
    resp = client.post(reverse("reviewer:memory_delete", args=[entry.pk]), HTTP_ACCEPT="application/json")
    assert resp.status_code == 200
    assert not SenderMemory.objects.exists()
    event = AuditEvent.objects.get(action="memory.deleted")
    assert event.actor_type == "user" and event.actor == "sam"
    assert event.payload["values"]["company"] == truth.company
    assert client.post(reverse("reviewer:memory_delete", args=[entry.pk]),
                       HTTP_ACCEPT="application/json").json()["code"] == "no_entry"


def test_an_entry_sharing_a_printed_number_outranks_a_like_header():
    """Two providers print the same form header; the one whose number this claim prints is found."""
    from docproc.memory import sender_memory_find
    from docproc.pipeline.memory import SenderFingerprint

    header = ["health insurance claim form", "approved by national uniform claim committee"]
    theirs = SenderMemory.objects.create(doc_type="cms1500", header=header, numbers=["1234567893"], values={})
    # Newer, so listed first: without the ranking its like header would win.
    SenderMemory.objects.create(doc_type="cms1500", header=header, numbers=["1111111112"], values={})
    found = sender_memory_find(client_id=None, doc_type="cms1500",
                               fingerprint=SenderFingerprint(tuple(header), ("1234567893",)))
    assert found == (theirs, 1.0)
