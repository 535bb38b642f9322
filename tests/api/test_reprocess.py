"""POST /api/v1/documents/<id>/reprocess/ and ``manage.py reprocess``: a new run beside the current
one, refused with stable codes; the current (reviewed) values stay the result until a supervisor
adopts the new ones. Documents are generated claims through the real pipeline (rules extractor);
the re-run itself is made by the service here (the worker's test is tests/integration)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse

from docproc import services
from docproc.audit.models import AuditEvent
from docproc.models import Document, DocumentStatus, ExtractionRun, Field, FieldStatus
from fixtures.review_documents import make_review_document
from reviewer import services as review_services
from reviewer.models import ReviewTask

pytestmark = pytest.mark.django_db


def reviewed(doc) -> Document:
    """``doc`` reviewed: the impossible birth date corrected, every other waiting field accepted."""
    ana = User.objects.create_user(f"ana-{doc.pk.hex[:6]}")
    ana.groups.add(Group.objects.get(name="reviewer"))
    review_services.review_task_claim(task=ReviewTask.objects.get(document=doc), user=ana)
    for f in Field.objects.filter(document=doc, status=FieldStatus.NEEDS_REVIEW):
        if f.name == "claimant_dob":
            review_services.field_correct(document_id=doc.pk, field_id=f.pk, user=ana, raw_value="02/03/1943",
                                          reason="misread")
        else:
            review_services.field_accept(document_id=doc.pk, field_id=f.pk, user=ana, confirm=not f.valid)
    review_services.document_review_submit(document_id=doc.pk, user=ana)
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REVIEWED
    return doc


def test_reprocess_refusals_have_stable_codes(api, make_api_client):
    http, me = api
    mine = make_review_document(seed=5, client=me)
    theirs = make_review_document(seed=6, client=make_api_client("globex")[0])
    assert http.post(f"/api/v1/documents/{theirs.pk}/reprocess/").json()["code"] == "not_found"
    bad = http.post(f"/api/v1/documents/{mine.pk}/reprocess/", {"engine": "nonsense"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_engine" and "rules" in bad.json()["detail"]
    Document.objects.filter(pk=theirs.pk).update(client=me, status=DocumentStatus.RECEIVED)
    early = http.post(f"/api/v1/documents/{theirs.pk}/reprocess/")
    assert early.status_code == 409 and early.json()["code"] == "not_reprocessable"

    ok = http.post(f"/api/v1/documents/{mine.pk}/reprocess/", {"engine": "rules"}, format="json")
    assert ok.status_code == 202, ok.content
    body = ok.json()
    assert body["state"] == "queued" and body["current_run"] == ExtractionRun.objects.get(document=mine, rerun_state="").pk
    again = http.post(f"/api/v1/documents/{mine.pk}/reprocess/")
    assert again.status_code == 409 and again.json()["code"] == "reprocess_in_progress"
    event = AuditEvent.objects.get(document_id=mine.pk, action="document.reprocess_requested")
    assert (event.actor_type, event.payload["run"], event.payload["engine"]) == ("api_client", body["run"], "rules")


def test_a_supervisor_adopts_a_rerun_and_the_result_changes_only_then(api, client):
    """Given a reviewed claim whose birth date the reviewer corrected, a re-run reads the printed
    (impossible) date again beside it: the result keeps the reviewed date, the document page
    shows both; when a supervisor adopts the re-run its values become the result, audited."""
    http, me = api
    doc = reviewed(make_review_document(seed=7, client=me))
    run_id = http.post(f"/api/v1/documents/{doc.pk}/reprocess/").json()["run"]
    assert services.document_reprocess(run_id=run_id) == "pending"
    assert services.document_reprocess(run_id=run_id) is None  # a redelivered task adds nothing
    assert ExtractionRun.objects.filter(document=doc).count() == 2
    assert Field.objects.filter(run_id=run_id).count() == 11
    assert http.get(f"/api/v1/documents/{doc.pk}/result/").json()["fields"]["claimant_dob"]["value"] == "02/03/1943"
    finished = AuditEvent.objects.get(document_id=doc.pk, action="pipeline.rerun_finished")
    assert finished.payload["changed"] == ["claimant_dob"]

    sue = User.objects.create_user("sue")
    sue.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(sue)
    page = client.get(reverse("reviewer:document", args=[doc.pk])).content.decode()
    assert f'<table class="rerun-diff" data-run="{run_id}">' in page
    row = page.split('data-name="claimant_dob"', 2)[2].split("</tr>", 1)[0]  # the diff table's row
    assert "02/03/1943" in row and "02/30/1943" in row and "changed" in row
    # A reviewer cannot choose.
    reviewer = User.objects.create_user("rita")
    reviewer.groups.add(Group.objects.get(name="reviewer"))
    client.force_login(reviewer)
    assert client.post(reverse("reviewer:rerun_decide", args=[doc.pk, run_id]), {"choice": "adopt"}).status_code == 403
    client.force_login(sue)
    response = client.post(reverse("reviewer:rerun_decide", args=[doc.pk, run_id]), {"choice": "adopt"})
    assert response.status_code == 302
    assert ExtractionRun.objects.get(pk=run_id).rerun_state == "adopted"
    result = http.get(f"/api/v1/documents/{doc.pk}/result/").json()["fields"]
    assert result["claimant_dob"]["value"] == "02/30/1943" and result["claimant_dob"]["reviewed_by"] == "sue"
    adopted = AuditEvent.objects.get(document_id=doc.pk, action="document.rerun_adopted")
    assert adopted.payload["before"] == {"claimant_dob": "02/03/1943"} and adopted.payload["after"] == {
        "claimant_dob": "02/30/1943"}
    assert client.post(reverse("reviewer:rerun_decide", args=[doc.pk, run_id]), {"choice": "keep"},
                       HTTP_ACCEPT="application/json").json()["code"] == "not_pending"


def test_the_command_reruns_a_document_type_in_process_and_lists_what_changed(make_api_client):
    me, _ = make_api_client("acme")
    doc = reviewed(make_review_document(seed=8, client=me))
    untouched = make_review_document(seed=9, client=me)
    Document.objects.filter(pk=untouched.pk).update(doc_type="invoice")
    out = StringIO()
    call_command("reprocess", "--doc-type", "claim", "--inline", "--since", "2000-01-01", stdout=out)
    assert f"{doc.pk} run" in out.getvalue() and "changed: claimant_dob" in out.getvalue()
    assert ExtractionRun.objects.filter(document=doc, rerun_state="pending").count() == 1
    assert not ExtractionRun.objects.filter(document=untouched).exclude(rerun_state="").exists()
    # The reviewed value is still the result.
    assert services.rerun_changes(run=ExtractionRun.objects.get(document=doc, rerun_state="pending")) == {
        "claimant_dob": ("02/03/1943", "02/30/1943")}
