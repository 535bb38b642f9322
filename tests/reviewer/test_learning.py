"""Learning from review, for real: outcomes made by reviewing documents the pipeline extracted, the
calibration refit and its proposal over them, the supervisor's decision on the dashboard, the
sampling audit. Documents are generated claims through the real pipeline (rules extractor)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from docproc import services as document_services
from docproc.audit.models import AuditEvent
from docproc.models import (
    CalibrationProposal,
    DocumentStatus,
    ExtractionRun,
    Field,
    FieldOutcome,
    FieldStatus,
)
from docproc.pipeline.calibration_fit import NEVER, OutcomeSample, propose, wilson_interval
from reviewer import services
from reviewer.models import ReviewTask

pytestmark = pytest.mark.django_db

WRONG_PHONE = "(555) 555-0199"


def review(doc, user, *, correct_phone: bool = False) -> None:
    """A reviewer's work on one claim: the impossible birth date corrected, the total confirmed as
    printed, every other waiting field accepted; with ``correct_phone`` the phone the machine
    auto-accepted is corrected too (the machine read it wrong)."""
    services.review_task_claim(task=ReviewTask.objects.get(document=doc), user=user)
    for f in Field.objects.filter(document=doc).order_by("position"):
        if f.name == "claimant_dob":
            services.field_correct(document_id=doc.pk, field_id=f.pk, user=user, raw_value="02/03/1943", reason="misread")
        elif f.name == "claimant_phone" and correct_phone:
            services.field_correct(document_id=doc.pk, field_id=f.pk, user=user, raw_value=WRONG_PHONE, reason="misread")
        elif f.status == FieldStatus.NEEDS_REVIEW:
            services.field_accept(document_id=doc.pk, field_id=f.pk, user=user, confirm=not f.valid)
    services.document_review_submit(document_id=doc.pk, user=user)


def test_reviewed_fields_become_outcomes_and_a_corrected_auto_accepted_one_counts_double(make_user, review_doc):
    ana = make_user("reviewer", "ana")
    doc = review_doc(seed=4)
    phone = Field.objects.get(document=doc, name="claimant_phone")
    assert phone.status == FieldStatus.AUTO_ACCEPTED and phone.routed_status == FieldStatus.AUTO_ACCEPTED
    machine_confidence = phone.confidence
    review(doc, ana, correct_phone=True)
    outcomes = {o.field_name: o for o in FieldOutcome.objects.filter(document=doc)}
    assert set(outcomes) == {f.name for f in Field.objects.filter(document=doc)}
    late = outcomes["claimant_phone"]
    assert (late.auto_accepted, late.correct, late.weight, late.verified_value) == (True, False, 2, WRONG_PHONE)
    assert late.confidence == machine_confidence  # the machine's, not the person's 1.0
    dob = outcomes["claimant_dob"]
    assert (dob.auto_accepted, dob.correct, dob.weight, dob.machine_value) == (False, False, 1, "02/30/1943")
    assert outcomes["claim_number"].correct and outcomes["claim_number"].backend == "rules"
    assert outcomes["amount_claimed"].correct and outcomes["amount_claimed"].explicit  # confirmed as printed
    assert {o.source for o in outcomes.values()} == {"extractor"}
    # A retention purge takes the values and leaves what review taught.
    document_services.document_purge(document_id=doc.pk)
    late.refresh_from_db()
    assert (late.machine_value, late.verified_value, late.correct, late.weight) == (None, None, False, 2)


def test_refit_proposes_thresholds_and_a_supervisor_applies_them_on_the_dashboard(client, make_user, review_doc,
                                                                                   make_api_client, settings):
    """Given six reviewed claims of one client whose phone the machine auto-accepted and read
    wrong on every other one, when calibrations are refitted, the proposal keeps the fields the
    machine reads right automatic at the target precision on held-out outcomes and never
    auto-accepts the phone; a supervisor applies it on the dashboard, and the client's next
    document is scored by it (its run records the version) and routed by its thresholds."""
    settings.DOCPROC_CALIBRATION_MIN_OUTCOMES = 30
    acme, _ = make_api_client("acme")
    ana, sup = make_user("reviewer", "ana"), make_user("supervisor", "sue")
    for seed in range(10, 16):
        review(review_doc(seed=seed, client=acme), ana, correct_phone=seed % 2 == 0)
    assert FieldOutcome.objects.filter(client=acme).count() == 6 * 11

    call_command("calibrate")
    proposal = CalibrationProposal.objects.get()
    assert (proposal.status, proposal.client, proposal.doc_type, proposal.backend) == ("proposed", acme, "claim", "rules")
    assert proposal.outcomes == 66 and proposal.folds >= 2
    fields = proposal.proposed["fields"]
    assert fields["claim.claimant_phone"]["never"] and fields["claim.claimant_phone"]["accepted"] == 0
    # As routed: 3 of 6 right, and the 3 auto-accepted and corrected count double: 3 / (3 + 2 * 3).
    assert proposal.current["fields"]["claim.claimant_phone"]["precision"] == round(3 / 9, 4)
    for key in ("claim.claim_number", "claim.policy_number", "claim.claimant_email"):
        assert fields[key]["automation"] > 0.5 and fields[key]["precision"] >= 0.995, (key, fields[key])
    assert fields["claim.claimant_dob"]["accepted"] == 0  # always wrong, never accepted
    assert proposal.proposed["calibration"]["thresholds"]["claim.claimant_phone"] == NEVER
    assert AuditEvent.objects.filter(action="calibration.proposed", object_id=proposal.version).exists()

    # A reviewer sees the proposal nowhere and cannot apply it.
    client.force_login(ana)
    assert b"calibration-proposals" not in client.get(reverse("reviewer:dashboard")).content
    client.post(reverse("reviewer:calibration_decide", args=[proposal.pk]), {"choice": "apply"})
    assert CalibrationProposal.objects.get().status == "proposed"

    client.force_login(sup)
    page = client.get(reverse("reviewer:dashboard")).content.decode()
    assert proposal.version in page and "Expected automation" in page
    response = client.post(reverse("reviewer:calibration_decide", args=[proposal.pk]), {"choice": "apply"})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("applied", sup)
    event = AuditEvent.objects.get(action="calibration.applied")
    assert event.payload["new_version"] == proposal.version and event.payload["new_calibration"]["thresholds"]
    assert event.payload["previous_version"] == "" and (event.actor_type, event.actor) == ("user", "sue")
    # A second decision on the same proposal is refused.
    assert client.post(reverse("reviewer:calibration_decide", args=[proposal.pk]), {"choice": "reject"},
                       HTTP_ACCEPT="application/json").json()["code"] == "not_open"

    after = review_doc(seed=30, client=acme)
    run = ExtractionRun.objects.get(document=after)
    assert run.calibration_version == proposal.version
    phone = Field.objects.get(document=after, name="claimant_phone")
    assert (phone.status, phone.threshold) == ("needs_review", NEVER)
    number = Field.objects.get(document=after, name="claim_number")
    assert number.status == "auto_accepted" and number.threshold < NEVER
    # Another client's documents keep the shipped behaviour.
    other = review_doc(seed=30, client=make_api_client("globex")[0])
    assert ExtractionRun.objects.get(document=other).calibration_version == ""
    assert Field.objects.get(document=other, name="claimant_phone").status == "auto_accepted"


def test_a_supervisor_rejects_a_proposal_and_nothing_changes(client, make_user, review_doc, settings):
    settings.DOCPROC_CALIBRATION_MIN_OUTCOMES = 20
    ana, sup = make_user("reviewer", "ana"), make_user("supervisor", "sue")
    for seed in (40, 41):
        review(review_doc(seed=seed), ana)
    (proposal,) = document_services.calibrations_refit()
    client.force_login(sup)
    client.post(reverse("reviewer:calibration_decide", args=[proposal.pk]), {"choice": "reject"})
    assert CalibrationProposal.objects.get().status == "rejected"
    assert AuditEvent.objects.filter(action="calibration.rejected", object_id=proposal.version).exists()
    assert ExtractionRun.objects.get(document=review_doc(seed=42)).calibration_version == ""
    # Too few outcomes: no proposal.
    settings.DOCPROC_CALIBRATION_MIN_OUTCOMES = 1000
    assert document_services.calibrations_refit() == []


def test_sampling_sends_an_auto_accepted_document_to_review_flagged(client, make_user, review_doc, settings):
    """Given the sample rate at 1.0, a claim whose every field the machine accepts goes to review
    as a sample, flagged in the queue and on its page; its review measures the precision of the
    auto-accepted fields on the dashboard. At rate 0 the same claim is auto-accepted."""
    settings.DOCPROC_SAMPLE_RATE = 0.0
    assert review_doc(seed=50, changes={}).status == DocumentStatus.AUTO_ACCEPTED
    settings.DOCPROC_SAMPLE_RATE = 1.0
    doc = review_doc(seed=50, changes={})
    assert (doc.status, doc.review_sample) == (DocumentStatus.NEEDS_REVIEW, True)
    fields = list(Field.objects.filter(document=doc))
    assert {(f.status, f.routed_status) for f in fields} == {("needs_review", "auto_accepted")}
    assert AuditEvent.objects.filter(document_id=doc.pk, action="document.sampled").exists()
    ana = make_user("reviewer", "ana")
    client.force_login(ana)
    queue = client.get(reverse("reviewer:queue")).content.decode()
    assert 'data-role="sample"' in queue and doc.original_name in queue
    assert 'data-role="sample"' in client.get(reverse("reviewer:document", args=[doc.pk])).content.decode()

    services.review_task_claim(task=ReviewTask.objects.get(document=doc), user=ana)
    with pytest.raises(services.ReviewError) as refused:  # a sample is checked field by field
        services.fields_accept_confident(document_id=doc.pk, user=ana)
    assert refused.value.code == "sample_field_by_field"
    for f in fields:
        if f.name == "claimant_email":
            services.field_correct(document_id=doc.pk, field_id=f.pk, user=ana, raw_value="someone@example.org",
                                   reason="misread")
        else:
            services.field_accept(document_id=doc.pk, field_id=f.pk, user=ana)
    services.document_review_submit(document_id=doc.pk, user=ana)
    outcomes = FieldOutcome.objects.filter(document=doc)
    assert outcomes.count() == len(fields) and all(o.sampled and o.auto_accepted and o.explicit for o in outcomes)
    rows = {(r["doc_type"], r["field"]): r for r in document_services.measured_precision()}
    assert rows[("claim", "claim_number")]["precision"] == 1.0 and rows[("claim", "claimant_email")]["precision"] == 0.0
    low, high = rows[("claim", "claim_number")]["low"], rows[("claim", "claim_number")]["high"]
    assert (low, high) == wilson_interval(1, 1) and 0 < low < high == 1.0
    page = client.get(reverse("reviewer:dashboard")).content.decode()
    assert 'data-field="claim.claimant_email"' in page and "Measured precision of auto-accepted fields" in page


# --- the fit itself (no database) ---------------------------------------------------------------

def test_wilson_interval_matches_the_textbook_values():
    assert wilson_interval(0, 10) == (0.0, 0.2775)
    assert wilson_interval(10, 10) == (0.7225, 1.0)
    assert wilson_interval(0, 0) is None


def test_propose_separates_on_a_signal_and_measures_on_held_out_documents():
    """Values whose words are found (grounding 1) are right and the others wrong: the held-out
    thresholds accept the first and none of the second, at full held-out precision."""
    samples = [OutcomeSample(key="t.f", group=f"d{i}", signals={"model": 0.9, "grounding": g, "ocr": 1.0, "valid": 1.0},
                             correct=g == 1.0, has_value=True, eligible=True, confidence=0.9, threshold=0.5)
               for i in range(40) for g in ((1.0,) if i % 4 else (0.0,))]
    result = propose(samples, shipped=None, version="v", engine="rules", model="1", prompt_version="", target=0.99,
                     floor=0.5, folds=5)
    fig = result.proposed["t.f"]
    assert result.folds == 5 and fig.precision == 1.0 and fig.automation == 0.75
    assert result.current["t.f"].precision == 0.75  # as routed: everything accepted
    with pytest.raises(ValueError):
        propose(samples[:1], shipped=None, version="v", engine="rules", model="1", prompt_version="", target=0.99,
                floor=0.5)
