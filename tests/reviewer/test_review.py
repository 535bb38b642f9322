"""Review queue: roles, claiming and locking, field decisions, submit and reject, safety.
Documents come from the real pipeline on generated claims (see fixtures.review_documents)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from docproc.audit.models import AuditEvent
from docproc.models import DocumentStatus, Field, FieldStatus
from reviewer import services
from reviewer.models import FieldCorrection, ReviewTask, ThresholdSetting
from reviewer.services import ReviewError

pytestmark = pytest.mark.django_db


def actions(doc) -> list[str]:
    return list(AuditEvent.objects.filter(document_id=doc.pk).values_list("action", flat=True))


def post_json(client, url, data=None):
    return client.post(url, data or {}, HTTP_ACCEPT="application/json")


# --- roles ---------------------------------------------------------------------------------------

def test_roles_exist_with_their_permissions(make_user):
    reviewer, supervisor = make_user("reviewer"), make_user("supervisor")
    auditor, admin = make_user("auditor"), make_user("admin")
    assert reviewer.has_perm("reviewer.review_documents") and not reviewer.has_perm("reviewer.supervise_reviews")
    assert not reviewer.has_perm("reviewer.change_thresholds") and not reviewer.has_perm("reviewer.export_results")
    assert supervisor.has_perm("reviewer.supervise_reviews") and supervisor.has_perm("reviewer.change_thresholds")
    assert auditor.has_perm("reviewer.view_results") and auditor.has_perm("reviewer.export_results")
    assert not auditor.has_perm("reviewer.review_documents") and not auditor.has_perm("reviewer.change_thresholds")
    assert admin.has_perm("reviewer.change_thresholds") and admin.has_perm("auth.change_user")


def test_pages_need_sign_in_and_a_role(client, make_user, review_doc):
    doc = review_doc()
    for url in (reverse("reviewer:queue"), reverse("reviewer:document", args=[doc.pk]),
                reverse("reviewer:page_image", args=[doc.pk, 1]), reverse("reviewer:dashboard")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(make_user(None, "no-role"))
    assert client.get(reverse("reviewer:queue")).status_code == 403
    assert client.get(reverse("reviewer:page_image", args=[doc.pk, 1])).status_code == 403
    assert client.post(reverse("reviewer:next")).status_code == 403


def test_page_images_are_private(client, make_user, review_doc):
    doc = review_doc()
    page = doc.pages.get(number=1)
    assert client.get("/_private_media/" + page.image).status_code == 404  # never public media
    client.force_login(make_user("auditor"))
    response = client.get(reverse("reviewer:page_image", args=[doc.pk, 1]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_auditor_reads_but_changes_nothing(client, make_user, review_doc):
    doc = review_doc()
    client.force_login(make_user("auditor"))
    assert client.get(reverse("reviewer:queue")).status_code == 200
    assert client.get(reverse("reviewer:document", args=[doc.pk])).status_code == 200
    assert client.get(reverse("reviewer:export_corrections")).status_code == 200
    assert client.post(reverse("reviewer:next")).status_code == 403
    assert client.post(reverse("reviewer:claim", args=[doc.pk])).status_code == 403
    assert client.post(reverse("reviewer:threshold"), {"doc_type": "claim", "field_name": "claimant_dob",
                                                       "threshold": "0.5"}).status_code == 403
    assert ReviewTask.objects.get(document=doc).assignee is None


def test_reviewer_has_no_supervisor_actions(client, make_user, review_doc):
    doc = review_doc()
    other = make_user("reviewer", "other")
    services.review_task_claim_next(user=other)
    client.force_login(make_user("reviewer", "ana"))
    page = client.get(reverse("reviewer:dashboard")).content.decode()
    assert 'id="supervisor-actions"' not in page and 'id="thresholds"' not in page
    assert client.post(reverse("reviewer:threshold"), {"doc_type": "claim", "field_name": "claimant_dob",
                                                       "threshold": "0.5"}).status_code == 403
    assert client.post(reverse("reviewer:reassign", args=[doc.pk]), {"to_user": other.pk}).status_code == 403
    assert client.post(reverse("reviewer:release", args=[doc.pk])).status_code == 403
    assert ReviewTask.objects.get(document=doc).assignee == other
    assert not ThresholdSetting.objects.exists()


# --- queue and claiming -----------------------------------------------------------------------------

def test_task_opens_with_the_review_status(review_doc):
    doc = review_doc()
    assert doc.status == DocumentStatus.NEEDS_REVIEW
    task = ReviewTask.objects.get(document=doc)
    assert task.state == "open" and task.doc_type == "claim" and task.received_at == doc.created_at
    pending = set(Field.objects.filter(document=doc, status=FieldStatus.NEEDS_REVIEW).values_list("name", flat=True))
    assert "claimant_dob" in pending
    # the total is the one printed on its line, but the items' sum does not explain it: held
    total = Field.objects.get(document=doc, name="amount_claimed")
    assert total.messages[0].startswith("cross-check: line items add up to") and "amount_claimed" in pending


def test_next_follows_sla_then_priority_then_age(make_user, review_doc):
    now = timezone.now()
    late = review_doc(seed=1, name="no-sla.pdf")
    low = review_doc(seed=2, name="sla-low.pdf", sla_deadline=now + timedelta(hours=2))
    high = review_doc(seed=3, name="sla-high.pdf", sla_deadline=now + timedelta(hours=2), priority=5)
    urgent = review_doc(seed=4, name="sla-soon.pdf", sla_deadline=now + timedelta(hours=1))
    got = [services.review_task_claim_next(user=make_user("reviewer")).document_id for _ in range(4)]
    assert got == [urgent.pk, high.pk, low.pk, late.pk]
    assert services.review_task_claim_next(user=make_user("reviewer")) is None


def test_queue_page_lists_counts_and_filters(client, make_user, review_doc, make_api_client):
    acme, _ = make_api_client("acme")
    review_doc(seed=1, name="first.pdf", client=acme)
    review_doc(seed=2, name="second.pdf")
    client.force_login(make_user("reviewer"))
    page = client.get(reverse("reviewer:queue")).content.decode()
    assert 'id="stat-total">2<' in page and "first.pdf" in page and "second.pdf" in page
    filtered = client.get(reverse("reviewer:queue"), {"client": acme.pk}).content.decode()
    assert 'id="stat-total">1<' in filtered and "first.pdf" in filtered and "second.pdf" not in filtered
    assert 'id="stat-total">0<' in client.get(reverse("reviewer:queue"), {"older_than": "24h"}).content.decode()


def test_next_gives_back_the_held_document_and_two_reviewers_differ(make_user, review_doc):
    a, b = review_doc(seed=1), review_doc(seed=2)
    ana, bo = make_user("reviewer"), make_user("reviewer")
    first = services.review_task_claim_next(user=ana)
    assert services.review_task_claim_next(user=ana).pk == first.pk
    second = services.review_task_claim_next(user=bo)
    assert {first.document_id, second.document_id} == {a.pk, b.pk}
    assert actions(a).count("review.claimed") == 1


def test_an_expired_lock_lets_another_reviewer_take_over(make_user, review_doc, settings):
    review_doc()
    ana, bo = make_user("reviewer"), make_user("reviewer")
    task = services.review_task_claim_next(user=ana)
    assert services.review_task_claim_next(user=bo) is None
    ReviewTask.objects.filter(pk=task.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert services.review_task_claim_next(user=bo).pk == task.pk
    with pytest.raises(ReviewError) as exc:
        services.field_accept(document_id=task.document_id, field_id=task.document.fields.first().pk, user=ana)
    assert exc.value.code == "not_yours"


def test_heartbeat_renews_the_lock(client, make_user, review_doc, settings):
    settings.DOCPROC_REVIEW_LOCK_SECONDS = 60
    review_doc()
    ana = make_user("reviewer")
    task = services.review_task_claim_next(user=ana)
    ReviewTask.objects.filter(pk=task.pk).update(locked_until=timezone.now() + timedelta(seconds=5))
    client.force_login(ana)
    response = client.post(reverse("reviewer:heartbeat", args=[task.document_id]))
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.locked_until > timezone.now() + timedelta(seconds=50)
    client.force_login(make_user("reviewer"))
    assert client.post(reverse("reviewer:heartbeat", args=[task.document_id])).json()["code"] == "not_yours"


def test_supervisor_releases_and_reassigns(client, make_user, review_doc):
    doc = review_doc()
    ana, bo, sup = make_user("reviewer", "ana"), make_user("reviewer", "bo"), make_user("supervisor", "sue")
    services.review_task_claim_next(user=ana)
    client.force_login(sup)
    assert client.post(reverse("reviewer:release", args=[doc.pk])).status_code == 302
    assert ReviewTask.objects.get(document=doc).assignee is None
    assert client.post(reverse("reviewer:reassign", args=[doc.pk]), {"to_user": bo.pk}).status_code == 302
    assert ReviewTask.objects.get(document=doc).assignee == bo
    assert services.review_task_claim_next(user=bo).document_id == doc.pk
    events = AuditEvent.objects.filter(document_id=doc.pk, action__in=["review.released", "review.reassigned"])
    assert [(e.action, e.actor, e.payload.get("to")) for e in events] == [
        ("review.released", "sue", None), ("review.reassigned", "sue", "bo")]


def test_escalated_and_postponed_documents_leave_the_reviewers_next(make_user, review_doc):
    one, two = review_doc(seed=1), review_doc(seed=2)
    ana = make_user("reviewer")
    first = services.review_task_claim_next(user=ana)
    with pytest.raises(ReviewError):
        services.review_task_escalate(task=first, user=ana, note="  ")
    services.review_task_escalate(task=first, user=ana, note="signature looks pasted")
    second = services.review_task_claim_next(user=ana)
    assert second.document_id != first.document_id
    services.review_task_postpone(task=second, user=ana)
    assert services.review_task_claim_next(user=ana) is None
    sup_task = services.review_task_claim_next(user=make_user("supervisor"))
    assert sup_task.document_id == first.document_id and sup_task.escalated
    assert "review.escalated" in actions(one if first.document_id == one.pk else two)


# --- field decisions ----------------------------------------------------------------------------------

def test_correction_keeps_old_and_new_value_who_when_and_why(client, make_user, review_doc):
    doc = review_doc()
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    dob = Field.objects.get(document=doc, name="claimant_dob")
    extracted = dob.value  # the rules extractor misreads the invalid printed date
    client.force_login(ana)
    url = reverse("reviewer:field", args=[doc.pk, dob.pk])
    refused = post_json(client, url, {"action": "correct", "value": "02/20/1943", "reason": ""})
    assert refused.status_code == 400 and refused.json()["code"] == "reason_required"
    response = post_json(client, url, {"action": "correct", "value": "02/20/1943", "reason": "misread"})
    assert response.status_code == 200 and response.json()["status"] == "corrected" and response.json()["messages"] == []
    dob.refresh_from_db()
    assert (dob.value, dob.original_value, dob.status, dob.reviewed_by) == ("02/20/1943", extracted, "corrected", ana)
    assert dob.normalized == "1943-02-20" and dob.messages == []
    c = FieldCorrection.objects.get(field=dob)
    assert (c.old_value, c.new_value, c.user, c.reason, c.previous_status) == (extracted, "02/20/1943", ana, "misread", "needs_review")
    event = AuditEvent.objects.get(document_id=doc.pk, action="field.edited")
    assert event.payload == {"field": "claimant_dob", "before": extracted, "after": "02/20/1943", "reason": "misread",
                             "note": "", "valid": True}
    assert (dob.confidence, dob.source, dob.valid) == (1.0, "reviewer", True)
    other = post_json(client, url, {"action": "correct", "value": "x", "reason": "other"})
    assert other.json()["code"] == "note_required"


def test_table_fields_are_corrected_as_json(make_user, review_doc):
    doc = review_doc()
    ana = make_user("reviewer")
    services.review_task_claim_next(user=ana)
    items = Field.objects.get(document=doc, name="line_items")
    with pytest.raises(ReviewError) as exc:
        services.field_correct(document_id=doc.pk, field_id=items.pk, user=ana, raw_value="[{oops", reason="misread")
    assert exc.value.code == "invalid_value"
    new = [{"description": "Laptop computer", "amount": "10.00"}]
    import json

    services.field_correct(document_id=doc.pk, field_id=items.pk, user=ana, raw_value=json.dumps(new), reason="misread")
    items.refresh_from_db()
    assert items.value == new and items.status == "corrected"


def _strict_thresholds(sup, names, value=0.9999):
    for name in names:
        services.threshold_set(user=sup, doc_type="claim", field_name=name, threshold=value)


def test_accept_all_confident_accepts_only_valid_fields_at_their_threshold(make_user, review_doc):
    """Fields held back by a strict threshold, then the thresholds lowered: the confident and
    valid ones are accepted in bulk, the invalid date never."""
    sup = make_user("supervisor")
    _strict_thresholds(sup, ("claim_number", "policy_number", "claimant_dob"))
    doc = review_doc()
    _strict_thresholds(sup, ("claim_number", "policy_number", "claimant_dob"), 0.5)
    ana = make_user("reviewer")
    services.review_task_claim_next(user=ana)
    waiting = {f.name: f for f in Field.objects.filter(document=doc, status="needs_review")}
    assert {"claim_number", "policy_number", "claimant_dob"} <= set(waiting)
    accepted = services.fields_accept_confident(document_id=doc.pk, user=ana)
    assert "claimant_dob" not in accepted and {"claim_number", "policy_number"} <= set(accepted)
    assert set(accepted) == {n for n, f in waiting.items() if f.confidence >= 0.5 and f.valid and not f.messages}
    assert actions(doc).count("field.accepted") == len(accepted)


def test_a_doubtful_value_is_never_accepted_in_bulk(make_user, review_doc):
    """A confident, valid field whose words the OCR engine doubted waits for a person's own
    decision: "Accept all confident" leaves it, and says nothing of it as accepted."""
    sup = make_user("supervisor")
    _strict_thresholds(sup, ("claim_number", "policy_number"))
    doc = review_doc()
    _strict_thresholds(sup, ("claim_number", "policy_number"), 0.5)
    doubted = Field.objects.get(document=doc, name="policy_number")
    Field.objects.filter(pk=doubted.pk).update(signals={**doubted.signals, "ocr": 0.42})
    ana = make_user("reviewer")
    services.review_task_claim_next(user=ana)
    accepted = services.fields_accept_confident(document_id=doc.pk, user=ana)
    assert "claim_number" in accepted and "policy_number" not in accepted
    assert Field.objects.get(pk=doubted.pk).status == "needs_review"


def test_fallback_values_are_never_accepted_in_bulk(client, make_user, review_doc):
    """The LLM was down: every field waits, carries the backup rules as its reason, and "Accept
    all confident" accepts none of them; the raw cause is in the run, not in the fields."""
    doc = review_doc(offline=True)
    fields = list(Field.objects.filter(document=doc))
    assert {f.status for f in fields} == {"needs_review"} and {f.source for f in fields} == {"fallback"}
    assert all(not any("did not answer" in m for m in f.messages) for f in fields)
    assert all(any("backup label rules" in r for r in f.reasons) for f in fields)
    assert doc.runs.get().fallback_reason.endswith("the model server did not answer")
    finished = AuditEvent.objects.get(document_id=doc.pk, action="pipeline.stage_finished", payload__stage="extract")
    assert finished.payload["fallback_reason"].endswith("the model server did not answer")
    from docproc.selectors import document_result

    delivered = document_result(doc)["fields"]
    assert not any("did not answer" in m for f in delivered.values() for m in f["messages"])
    assert {f["source"] for f in delivered.values()} == {"fallback"}
    ana = make_user("reviewer")
    services.review_task_claim_next(user=ana)
    assert services.fields_accept_confident(document_id=doc.pk, user=ana) == []
    client.force_login(ana)
    page = client.get(reverse("reviewer:review", args=[doc.pk]))
    assert page.context["confident_pending"] == 0
    assert page.content.count(b"extraction model was not available") == 1
    assert b"did not answer" not in page.content


def test_threshold_override_is_audited_and_used(client, make_user, review_doc):
    doc = review_doc()
    sup = make_user("supervisor", "sue")
    client.force_login(sup)
    response = client.post(reverse("reviewer:threshold"), {"doc_type": "claim", "field_name": "claimant_phone", "threshold": "0.95"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="settings.threshold_changed")
    assert (event.actor, event.object_id, event.payload) == ("sue", "claim.claimant_phone", {"before": 0.9, "after": 0.95})
    assert client.post(reverse("reviewer:threshold"), {"doc_type": "claim", "field_name": "nope", "threshold": "0.5"}).status_code == 302
    assert ThresholdSetting.objects.count() == 1
    ana = make_user("reviewer")
    # Both fields extracted again under strict thresholds wait; then the phone's stays above its confidence.
    _strict_thresholds(sup, ("claimant_phone", "claimant_email"))
    doc = review_doc(seed=3)
    services.threshold_set(user=sup, doc_type="claim", field_name="claimant_email", threshold=0.5)
    services.review_task_claim(task=ReviewTask.objects.get(document=doc), user=ana)
    phone, email = (Field.objects.get(document=doc, name=n) for n in ("claimant_phone", "claimant_email"))
    assert phone.status == email.status == "needs_review" and phone.confidence < 0.9999
    accepted = services.fields_accept_confident(document_id=doc.pk, user=ana)
    assert "claimant_email" in accepted and "claimant_phone" not in accepted  # the override is used


# --- submit and reject ------------------------------------------------------------------------------

def test_submit_needs_every_field_then_reviews_queues_webhook_and_opens_next(
        client, make_user, review_doc, make_api_client, django_capture_on_commit_callbacks, settings):
    acme, _ = make_api_client("acme", webhook_url="https://hooks.example.com/docproc", webhook_secret="s3cret")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    doc = review_doc(seed=1, client=acme, sla_deadline=timezone.now())
    following = review_doc(seed=2)
    ana = make_user("reviewer", "ana")
    client.force_login(ana)
    assert client.post(reverse("reviewer:next"))["Location"] == reverse("reviewer:review", args=[doc.pk])
    refused = client.post(reverse("reviewer:submit", args=[doc.pk]), follow=True)
    assert b"Accept or correct every field first" in refused.content
    for f in Field.objects.filter(document=doc, status="needs_review"):
        url = reverse("reviewer:field", args=[doc.pk, f.pk])
        response = post_json(client, url, {"action": "accept"})
        if f.valid:
            assert response.status_code == 200
        else:  # a value that fails a check is accepted only when confirmed as printed
            assert response.status_code == 409 and response.json()["code"] == "confirm_required"
            confirmed = post_json(client, url, {"action": "accept", "confirm": "1"})
            assert confirmed.status_code == 200 and confirmed.json()["valid"] is False
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reviewer:submit", args=[doc.pk]))
    assert response["Location"] == reverse("reviewer:review", args=[following.pk])
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REVIEWED
    task = ReviewTask.objects.get(document=doc)
    assert (task.state, task.outcome, task.closed_by) == ("done", "reviewed", ana)
    assert {"document.reviewed", "webhook.queued", "document.status_changed"} <= set(actions(doc))
    assert doc.deliveries.get().event == "document.completed"


def test_reject_needs_a_reason(client, make_user, review_doc):
    doc = review_doc()
    ana = make_user("reviewer")
    client.force_login(ana)
    client.post(reverse("reviewer:next"))
    client.post(reverse("reviewer:reject", args=[doc.pk]), {"reason": ""})
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.NEEDS_REVIEW
    client.post(reverse("reviewer:reject", args=[doc.pk]), {"reason": "other", "note": ""})
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.NEEDS_REVIEW
    response = client.post(reverse("reviewer:reject", args=[doc.pk]), {"reason": "duplicate", "note": "same as CLM-1"})
    assert response["Location"] == reverse("reviewer:queue")  # nothing left to review
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REJECTED and doc.error_code == "rejected_duplicate"
    event = AuditEvent.objects.get(document_id=doc.pk, action="document.rejected")
    assert event.payload == {"reason": "duplicate", "note": "same as CLM-1"}
    assert ReviewTask.objects.get(document=doc).reject_reason == "duplicate"


def test_stale_tasks_are_skipped(make_user, review_doc):
    from docproc.services import document_fail

    gone, kept = review_doc(seed=1, sla_deadline=timezone.now()), review_doc(seed=2)
    document_fail(gone.pk, code="purged", detail="removed by retention")
    task = services.review_task_claim_next(user=make_user("reviewer"))
    assert task.document_id == kept.pk
    assert ReviewTask.objects.get(document=gone).outcome == "withdrawn"


# --- safety -----------------------------------------------------------------------------------------

def test_document_text_is_escaped(client, make_user, review_doc):
    doc = review_doc(changes={"claimant_name": "<script>alert(1)</script>", "claimant_dob": "02/30/1943"})
    assert Field.objects.get(document=doc, name="claimant_name").value == "<script>alert(1)</script>"
    ana = make_user("reviewer")
    client.force_login(ana)
    client.post(reverse("reviewer:next"))
    for url in (reverse("reviewer:review", args=[doc.pk]), reverse("reviewer:document", args=[doc.pk])):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_forms_need_the_csrf_token(make_user, review_doc):
    review_doc()
    http = Client(enforce_csrf_checks=True)
    http.force_login(make_user("reviewer"))
    assert http.post(reverse("reviewer:next")).status_code == 403
    page = http.get(reverse("reviewer:queue")).content.decode()
    assert page.count("csrfmiddlewaretoken") >= page.count('method="post"') >= 2
    assert ReviewTask.objects.filter(assignee__isnull=False).count() == 0


# --- document page and dashboard ----------------------------------------------------------------------

def test_document_page_shows_timeline_runs_history_and_events(client, make_user, review_doc):
    doc = review_doc()
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    dob = Field.objects.get(document=doc, name="claimant_dob")
    services.field_correct(document_id=doc.pk, field_id=dob.pk, user=ana, raw_value="02/20/1943", reason="misread")
    client.force_login(make_user("auditor"))
    page = client.get(reverse("reviewer:document", args=[doc.pk])).content.decode()
    for text in ("processing", "needs_review", "extract", "rules", "02/20/1943", "field.edited",
                 "review.claimed", "Misread"):
        assert text in page, text
    assert client.get(reverse("reviewer:document_status", args=[doc.pk])).json()["status"] == "needs_review"


def test_dashboard_counts_reviews_and_corrections(client, make_user, review_doc):
    auto = review_doc(seed=5, changes={})  # clean digital claim: auto-accepted
    assert auto.status == DocumentStatus.AUTO_ACCEPTED
    doc = review_doc(seed=1)
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    for f in Field.objects.filter(document=doc).exclude(status="needs_review")[:1]:
        services.field_correct(document_id=doc.pk, field_id=f.pk, user=ana, raw_value="changed", reason="as_printed")
    for f in Field.objects.filter(document=doc, status="needs_review"):
        services.field_accept(document_id=doc.pk, field_id=f.pk, user=ana, confirm=True)
    services.document_review_submit(document_id=doc.pk, user=ana)
    client.force_login(make_user("supervisor"))
    response = client.get(reverse("reviewer:dashboard"))
    d = response.context["d"]
    assert d["documents"]["auto"] == 1 and d["documents"]["total"] == 2
    assert [(r["closed_by__username"], r["n"]) for r in d["per_reviewer"]] == [("ana", 1)]
    assert d["auto_later_corrected"] == 1
    assert b"<svg" in response.content and b'id="supervisor-actions"' in response.content


def test_a_processing_document_shows_its_live_stage(client, make_user):
    from docproc.models import Document

    doc = Document.objects.create(doc_type="claim", original_name="scan.pdf", sha256="0" * 64, file="x",
                                  status=DocumentStatus.PROCESSING, stage="ocr:2")
    client.force_login(make_user("auditor"))
    page = client.get(reverse("reviewer:document", args=[doc.pk])).content.decode()
    assert "reviewer/document.js" in page and 'id="live-status"' in page and "ocr:2" in page
    assert client.get(reverse("reviewer:document_status", args=[doc.pk])).json() | {"updated_at": None} == {
        "status": "processing", "stage": "ocr:2", "updated_at": None}
    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.FAILED, stage="")
    assert "reviewer/document.js" not in client.get(reverse("reviewer:document", args=[doc.pk])).content.decode()


def test_an_expired_claim_nobody_took_stays_with_its_holder(make_user, review_doc):
    review_doc(seed=1, sla_deadline=timezone.now())
    review_doc(seed=2)
    ana = make_user("reviewer")
    task = services.review_task_claim_next(user=ana)
    ReviewTask.objects.filter(pk=task.pk).update(locked_until=timezone.now() - timedelta(minutes=5))
    again = services.review_task_claim_next(user=ana)
    assert again.pk == task.pk and again.locked_until > timezone.now()
    assert ReviewTask.objects.filter(assignee=ana).count() == 1


def test_supervisor_thresholds_route_new_documents(make_user, review_doc):
    before = review_doc(seed=1)
    phone = Field.objects.get(document=before, name="claimant_phone")
    assert phone.status == "auto_accepted" and phone.messages == [] and 0.9 <= phone.confidence < 0.95
    services.threshold_set(user=make_user("supervisor"), doc_type="claim", field_name="claimant_phone", threshold=0.95)
    after = review_doc(seed=1)
    routed = Field.objects.get(document=after, name="claimant_phone")
    assert (routed.status, routed.threshold) == ("needs_review", 0.95)
    assert Field.objects.get(document=before, name="claimant_phone").status == "auto_accepted"  # earlier ones unchanged


# --- what a person enters is validated -------------------------------------------------------------

def test_an_invalid_correction_is_refused_with_the_validators_message(client, make_user, review_doc):
    """ "not a date" and 02/30/2025 for a date are refused through the JSON endpoint; the field
    keeps waiting and counts among the fields to check."""
    doc = review_doc()
    ana = make_user("reviewer")
    services.review_task_claim_next(user=ana)
    loss = Field.objects.get(document=doc, name="date_of_loss")
    client.force_login(ana)
    url = reverse("reviewer:field", args=[doc.pk, loss.pk])
    for bad in ("not a date", "02/30/2025"):
        refused = post_json(client, url, {"action": "correct", "value": bad, "reason": "misread"})
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_value"
        assert refused.json()["detail"].startswith("invalid: not a date")
    loss.refresh_from_db()
    assert loss.status != "corrected" and loss.value != "02/30/2025"
    with pytest.raises(ReviewError) as exc:
        services.field_correct(document_id=doc.pk, field_id=loss.pk, user=ana, raw_value="Date of Loss", reason="misread")
    assert exc.value.detail.startswith("this is the form's label, not a value")


def test_an_invalid_value_kept_as_printed_is_delivered_invalid(make_user, review_doc, django_capture_on_commit_callbacks):
    """Confirmed as printed, an impossible date is kept, and the result says valid: false,
    source reviewer, confidence 1.0, the machine's value, who and when."""
    from docproc.selectors import document_result

    doc = review_doc()
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    dob = Field.objects.get(document=doc, name="claimant_dob")
    machine = dob.original_value
    services.field_correct(document_id=doc.pk, field_id=dob.pk, user=ana, raw_value="02/31/1943", reason="as_printed")
    for f in Field.objects.filter(document=doc, status="needs_review"):
        services.field_accept(document_id=doc.pk, field_id=f.pk, user=ana, confirm=True)
    with django_capture_on_commit_callbacks(execute=False):
        services.document_review_submit(document_id=doc.pk, user=ana)
    doc.refresh_from_db()
    result = document_result(doc)["fields"]["claimant_dob"]
    assert (result["value"], result["valid"], result["source"], result["confidence"]) == ("02/31/1943", False, "reviewer", 1.0)
    assert result["original_value"] == machine and result["reviewed_by"] == "ana" and result["reviewed_at"]
    assert result["normalized"] is None and result["messages"] == ["invalid: not a date"]


def test_a_label_read_as_a_value_waits_and_is_never_accepted_in_bulk(client, make_user, review_doc):
    """The claim prints an empty "Police Report No.:" line and the extractor is sure that label
    is the type of loss: even at threshold 0 it is refused as a label, its normalised value is
    None, bulk accept skips it and a single accept asks for confirmation."""
    from dataclasses import replace

    from docproc.pipeline.extract.rules import RulesExtractor
    from docproc.selectors import document_result

    class CopiesALabel(RulesExtractor):
        """Reads like the rules, but is sure the type of loss is another field's printed label."""

        def extract(self, document, doctype):
            out = super().extract(document, doctype)
            return replace(out, candidates=tuple(replace(c, value="Police Report No.", model_confidence=0.97)
                                                 if c.name == "type_of_loss" else c for c in out.candidates))

    sup = make_user("supervisor")
    services.threshold_set(user=sup, doc_type="claim", field_name="type_of_loss", threshold=0.0)
    doc = review_doc(changes={}, extractor=CopiesALabel(), injection="Police Report No.: ______________")
    loss = Field.objects.get(document=doc, name="type_of_loss")
    assert loss.value == "Police Report No." and loss.status == "needs_review" and not loss.valid
    assert loss.messages[0] == "this is the form's label, not a value" and loss.reasons
    assert document_result(doc)["fields"]["type_of_loss"]["valid"] is False
    ana = make_user("reviewer")
    services.review_task_claim_next(user=ana)
    assert "type_of_loss" not in services.fields_accept_confident(document_id=doc.pk, user=ana)
    client.force_login(ana)
    refused = post_json(client, reverse("reviewer:field", args=[doc.pk, loss.pk]), {"action": "accept"})
    assert refused.status_code == 409 and refused.json()["code"] == "confirm_required"
