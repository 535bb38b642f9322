"""Review services: claiming, locking, field decisions, submit and reject. Each write checks the
caller's permission and lock, and records its audit event in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from docproc import memory as vendor_memory
from docproc import services as document_services
from docproc.audit.service import Actor, record
from docproc.doctypes import UnknownDocType, get_doctype
from docproc.lifecycle import document_transition
from docproc.models import Document, DocumentStatus, Field, FieldStatus, SenderMemory
from docproc.pipeline.runner import blocking, doubts
from docproc.results import jsonable
from docproc.selectors import document_latest_run
from docproc.webhooks import webhook_enqueue

from . import roles
from .models import CorrectionReason, FieldCorrection, RejectReason, ReviewTask, ThresholdSetting
from .queue import thresholds_for


class ReviewError(Exception):
    """A review action refused; ``code`` is stable, ``detail`` says what to do."""

    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def queue_order():
    return (F("due_at").asc(), F("priority").desc(), F("received_at").asc(), F("id").asc())


def lock_seconds() -> int:
    return int(settings.DOCPROC_REVIEW_LOCK_SECONDS)


def postpone_seconds() -> int:
    return int(settings.DOCPROC_REVIEW_POSTPONE_SECONDS)


def _require(user, perm: str) -> None:
    if not user.has_perm(perm):
        raise ReviewError("forbidden", "Your role does not allow this action.", 403)


@contextmanager
def _refusal_as_review_error(*refusals: type[Exception]) -> Iterator[None]:
    """A domain service's refusal (code, detail, status) answered as the review UI's error."""
    try:
        yield
    except refusals as exc:
        raise ReviewError(exc.code, exc.detail, exc.status) from None  # type: ignore[attr-defined]


def _actor(user) -> Actor:
    return Actor.user(user)


def _audit(user, action: str, task_or_doc_id, payload: dict[str, Any] | None = None) -> None:
    record(actor=_actor(user), action=action, object_type="document", object_id=task_or_doc_id,
           document_id=task_or_doc_id, payload=payload or {})


# --- claiming ----------------------------------------------------------------------------------

def claimable_q(now) -> Q:
    free = Q(assignee__isnull=True) | Q(locked_until__lt=now)
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    return Q(state=ReviewTask.State.OPEN) & free & due


def _claimable(user, now):
    qs = ReviewTask.objects.filter(claimable_q(now))
    if not user.has_perm(roles.SUPERVISE):
        qs = qs.filter(escalated=False)  # escalated work waits for a supervisor
    return qs.order_by(*queue_order())


def _take(task_id: int, user, now) -> bool:
    """Compare-and-set: give the task to ``user`` only if it is still free."""
    return bool(
        ReviewTask.objects.filter(claimable_q(now) | Q(state=ReviewTask.State.OPEN, assignee=user), pk=task_id)
        .update(assignee=user, claimed_at=now, locked_until=now + timedelta(seconds=lock_seconds()), not_before=None)
    )


def _claim_one(user, now) -> ReviewTask | None:
    candidates = _claimable(user, now)
    if connection.vendor == "postgresql":
        # Rows another reviewer is claiming right now are skipped, not waited for.
        task = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if task is None:
            return None
        _take(task.pk, user, now)
        task.refresh_from_db()
        return task
    for _ in range(20):
        ids = list(candidates.values_list("pk", flat=True)[:5])
        if not ids:
            return None
        for pk in ids:
            if _take(pk, user, now):
                return ReviewTask.objects.get(pk=pk)
    return None


def review_task_claim_next(*, user, now=None) -> ReviewTask | None:
    """The reviewer's current document if they hold one, else the first free one in queue
    order, claimed atomically: two reviewers never get the same task. None when the queue is empty."""
    _require(user, roles.REVIEW)
    now = now or timezone.now()
    # Still assigned means still theirs, even past the lock: taking a task changes its assignee.
    held = ReviewTask.objects.filter(state=ReviewTask.State.OPEN, assignee=user).order_by("claimed_at").first()
    if held is not None:
        return review_task_renew(task=held, user=user, now=now)
    for _ in range(50):
        with transaction.atomic():
            task = _claim_one(user, now)
            if task is None:
                return None
            status = Document.objects.filter(pk=task.document_id).values_list("status", flat=True).first()
            if status == DocumentStatus.NEEDS_REVIEW:
                _audit(user, "review.claimed", task.document_id,
                       {"locked_until": task.locked_until.isoformat(), "how": "next"})
                return task
            # The document left review another way (failed, purged): the task is stale.
            ReviewTask.objects.filter(pk=task.pk).update(
                state=ReviewTask.State.DONE, outcome=ReviewTask.Outcome.WITHDRAWN, closed_at=now,
                assignee=None, locked_until=None)
    return None


def review_task_claim(*, task: ReviewTask, user, now=None) -> ReviewTask:
    """Claim one chosen task (from the queue list); refused while someone else holds it."""
    _require(user, roles.REVIEW)
    now = now or timezone.now()
    if task.escalated and not user.has_perm(roles.SUPERVISE):
        raise ReviewError("escalated", "This document was escalated; a supervisor handles it.", 403)
    with transaction.atomic():
        if not _take(task.pk, user, now):
            raise ReviewError("locked", "Another reviewer is working on this document.")
        task.refresh_from_db()
        _audit(user, "review.claimed", task.document_id, {"locked_until": task.locked_until.isoformat(), "how": "chosen"})
    return task


def _lock_held(task_id: int, user, now) -> ReviewTask:
    """Lock the task row and check that ``user`` holds an unexpired claim; extends the claim."""
    task = ReviewTask.objects.select_for_update().select_related("document").filter(pk=task_id).first()
    if task is None or task.state != ReviewTask.State.OPEN:
        raise ReviewError("closed", "This review is finished.")
    if task.assignee_id != user.pk:
        raise ReviewError("not_yours", "You do not hold this document; press Next to get one.")
    # An expired claim that nobody took meanwhile still belongs to its holder: taking a task
    # changes its assignee, so checking the assignee on the locked row is enough.
    task.locked_until = now + timedelta(seconds=lock_seconds())
    ReviewTask.objects.filter(pk=task.pk).update(locked_until=task.locked_until)
    return task


def review_task_renew(*, task: ReviewTask, user, now=None) -> ReviewTask:
    """Extend the holder's claim (the open review page calls this periodically)."""
    now = now or timezone.now()
    with transaction.atomic():
        return _lock_held(task.pk, user, now)


def review_task_release(*, task: ReviewTask, user, note: str = "") -> None:
    """Put the document back in the queue: its holder, or a supervisor for anyone's."""
    with transaction.atomic():
        task = ReviewTask.objects.select_for_update().get(pk=task.pk)
        if task.state != ReviewTask.State.OPEN or task.assignee_id is None:
            raise ReviewError("not_claimed", "Nobody holds this document.")
        if task.assignee_id != user.pk:
            _require(user, roles.SUPERVISE)
        previous = task.assignee.get_username()
        ReviewTask.objects.filter(pk=task.pk).update(assignee=None, locked_until=None, claimed_at=None)
        _audit(user, "review.released", task.document_id, {"from": previous, "note": note[:500]})


def review_task_reassign(*, task: ReviewTask, user, to_user) -> None:
    """A supervisor gives the document to another reviewer, who finds it under Next."""
    _require(user, roles.SUPERVISE)
    if not to_user.is_active or not to_user.has_perm(roles.REVIEW):
        raise ReviewError("not_a_reviewer", f"{to_user.get_username()} may not review documents.", 400)
    now = timezone.now()
    with transaction.atomic():
        task = ReviewTask.objects.select_for_update().get(pk=task.pk)
        if task.state != ReviewTask.State.OPEN:
            raise ReviewError("closed", "This review is finished.")
        previous = task.assignee.get_username() if task.assignee_id else None
        ReviewTask.objects.filter(pk=task.pk).update(
            assignee=to_user, claimed_at=now, locked_until=now + timedelta(seconds=lock_seconds()), not_before=None)
        _audit(user, "review.reassigned", task.document_id, {"from": previous, "to": to_user.get_username()})


def review_task_escalate(*, task: ReviewTask, user, note: str) -> None:
    """The holder hands the document to the supervisors, with a note."""
    _require(user, roles.REVIEW)
    if not note.strip():
        raise ReviewError("note_required", "Say why the document needs a supervisor.", 400)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(task.pk, user, now)
        ReviewTask.objects.filter(pk=task.pk).update(
            escalated=True, escalated_at=now, escalation_note=note[:2000], assignee=None, locked_until=None)
        _audit(user, "review.escalated", task.document_id, {"note": note[:2000]})


def documents_requeue_stuck_now(*, user) -> list[str]:
    """A supervisor runs the sweeper now instead of waiting for its next round: stuck documents are
    queued again (those past their attempts fail with processing_timeout). Returns the ids queued."""
    _require(user, roles.SUPERVISE)
    queued = document_services.documents_requeue_stuck()
    for doc_id in queued:
        _audit(user, "document.requeued", doc_id, {})
    return queued


def document_retry_now(*, document: Document, user) -> Document:
    """A supervisor sends a failed document through processing again (see
    docproc.services.document_retry for what is refused and why)."""
    _require(user, roles.SUPERVISE)
    with _refusal_as_review_error(document_services.RetryRefused):
        return document_services.document_retry(document=document, actor=_actor(user))


PRIORITY_RANGE = (-100, 100)


def review_task_prioritise(*, task: ReviewTask, user, priority: int) -> None:
    """A supervisor moves an open document up (higher) or down the queue among equal deadlines."""
    _require(user, roles.SUPERVISE)
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise ReviewError("invalid_priority", f"A priority is a whole number from {low} to {high}.", 400)
    with transaction.atomic():
        task = ReviewTask.objects.select_for_update().get(pk=task.pk)
        if task.state != ReviewTask.State.OPEN:
            raise ReviewError("closed", "This review is finished.")
        if task.priority == priority:
            return
        ReviewTask.objects.filter(pk=task.pk).update(priority=priority)
        _audit(user, "review.prioritised", task.document_id, {"before": task.priority, "after": priority})


def review_task_postpone(*, task: ReviewTask, user, note: str = "") -> None:
    """The holder puts the document back; Next skips it for DOCPROC_REVIEW_POSTPONE_SECONDS."""
    _require(user, roles.REVIEW)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(task.pk, user, now)
        until = now + timedelta(seconds=postpone_seconds())
        ReviewTask.objects.filter(pk=task.pk).update(assignee=None, locked_until=None, not_before=until)
        _audit(user, "review.released", task.document_id, {"postponed_until": until.isoformat(), "note": note[:500]})


# --- fields ------------------------------------------------------------------------------------

def parse_value(raw: str, *, like: Any) -> Any:
    """A reviewer's text as a field value: JSON for table fields, trimmed text otherwise."""
    if isinstance(like, (list, dict)):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ReviewError("invalid_value", f"Table fields are edited as JSON: {exc}", 400) from None
        if not isinstance(value, list):
            raise ReviewError("invalid_value", "A table field is a JSON list of rows.", 400)
        return value
    value = raw.strip()
    return value or None


def _field_for_update(document_id, field_id: int) -> Field:
    field = Field.objects.select_for_update().filter(pk=field_id, document_id=document_id).first()
    if field is None:
        raise ReviewError("no_field", "No such field on this document.", 404)
    return field


def _record_decision(field: Field, user, *, action: str, new_value: Any, reason: str, note: str, now) -> FieldCorrection:
    return FieldCorrection.objects.create(
        field=field, document_id=field.document_id, field_name=field.name, doc_type=field.document.doc_type,
        action=action, old_value=field.value, new_value=new_value, previous_status=field.status,
        confidence=field.confidence, reason=reason, note=note[:2000], user=user,
    )


def _failed_checks(field: Field) -> list[str]:
    """The messages that make the field's value invalid (warnings and a missing value aside)."""
    return [m for m in blocking(tuple(field.messages or ())) if not m.startswith("missing:")]


def _accept(field: Field, task: ReviewTask, user, now, *, bulk: bool = False, confirmed: bool = False) -> None:
    field.document = task.document
    failed = _failed_checks(field)
    if failed and not confirmed:
        raise ReviewError("confirm_required", f"This value fails a check ({'; '.join(failed)}). "
                          "Accept it only if the document prints it so: confirm, or correct it.", 409)
    _record_decision(field, user, action=FieldCorrection.Action.ACCEPTED, new_value=field.value,
                     reason=CorrectionReason.AS_PRINTED if failed else "", note="", now=now)
    before = field.status
    if field.status != FieldStatus.CORRECTED:  # accepting a corrected value keeps it "corrected"
        field.status = FieldStatus.ACCEPTED
    field.reviewed_by, field.reviewed_at = user, now
    field.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    payload = {"field": field.name, "value": jsonable(field.value), "confidence": field.confidence, "before": before}
    if bulk:
        payload["bulk"] = True
    if failed:
        payload["confirmed_as_printed"] = failed
    _audit(user, "field.accepted", task.document_id, payload)


def field_accept(*, document_id, field_id: int, user, confirm: bool = False) -> Field:
    """Confirm the field's current value as correct. A value that fails a check is refused with
    ``confirm_required`` unless ``confirm`` (the reviewer says the document prints it so); it is
    then accepted and stays ``valid: false``."""
    _require(user, roles.REVIEW)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(_task_id(document_id), user, now)
        field = _field_for_update(task.document_id, field_id)
        _accept(field, task, user, now, confirmed=confirm)
    return field


def _task_id(document_id) -> int:
    pk = ReviewTask.objects.filter(document_id=document_id).values_list("pk", flat=True).first()
    if pk is None:
        raise ReviewError("not_in_review", "This document is not waiting for review.", 404)
    return pk


def field_correct(*, document_id, field_id: int, user, raw_value: str, reason: str, note: str = "") -> Field:
    """Replace the value; keeps the extractor's value, re-validates, and records old, new, who,
    when and why. A value equal to the current one is an accept (``as_printed`` confirms it).

    The new value runs the field's normalisers and validators (and the label check): an invalid
    one is refused with ``invalid_value`` and the validator's message, unless the reason is
    ``as_printed`` (the document prints it so), when it is kept with ``valid=False``. A
    corrected field's confidence is 1.0 (a person's value) and its source ``reviewer``."""
    _require(user, roles.REVIEW)
    if reason not in CorrectionReason.values:
        raise ReviewError("reason_required", "Choose a reason for the correction.", 400)
    if reason == CorrectionReason.OTHER and not note.strip():
        raise ReviewError("note_required", "Reason 'other' needs a short explanation.", 400)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(_task_id(document_id), user, now)
        field = _field_for_update(task.document_id, field_id)
        field.document = task.document
        value = parse_value(raw_value, like=field.value if field.value is not None else field.original_value)
        as_printed = reason == CorrectionReason.AS_PRINTED
        if value == field.value:
            _accept(field, task, user, now, confirmed=as_printed)
            return field
        normalized, messages = document_services.field_value_check(
            task.document.doc_type, field.name, value, date_order=document_services.run_date_order(field.run))
        failed = [m for m in blocking(tuple(messages)) if not m.startswith("missing:")]
        if failed and not as_printed:
            raise ReviewError("invalid_value", f"{'; '.join(failed)}. Correct the value, or choose "
                              f"'{CorrectionReason.AS_PRINTED.label}' if the document prints it so.", 400)
        _record_decision(field, user, action=FieldCorrection.Action.CORRECTED, new_value=value, reason=reason,
                         note=note, now=now)
        before = field.value
        field.value, field.normalized, field.messages = value, normalized, messages
        field.status = FieldStatus.CORRECTED
        field.confidence, field.source, field.valid, field.reasons = 1.0, "reviewer", not failed, []
        field.reviewed_by, field.reviewed_at = user, now
        field.save(update_fields=["value", "normalized", "messages", "status", "confidence", "source", "valid",
                                  "reasons", "reviewed_by", "reviewed_at"])
        _audit(user, "field.edited", task.document_id,
               {"field": field.name, "before": jsonable(before), "after": jsonable(value), "reason": reason,
                "note": note[:2000], "valid": not failed})
        if field.routed_status == FieldStatus.AUTO_ACCEPTED:
            # The machine accepted this value alone and a person corrected it: recorded now (it
            # counts double against its calibration), whatever becomes of the review.
            run = field.run
            document_services.field_outcome_record(
                field=field, document=task.document, run=run,
                machine_confidence=FieldCorrection.objects.filter(field=field).order_by("at", "id")
                .values_list("confidence", flat=True).first())
    return field


def field_is_confident(field: Field, threshold: float) -> bool:
    """Whether "Accept all confident" may accept ``field``: its confidence reaches ``threshold``,
    no check fails, nothing in its evidence is doubtful (``runner.doubts``), and it was not read by
    the fallback rules."""
    return (field.confidence >= threshold and field.source != "fallback" and field.valid
            and not _failed_checks(field) and not doubts(field.signals or {}))


def fields_accept_confident(*, document_id, user) -> list[str]:
    """Accept at once every field still waiting that ``field_is_confident`` at its threshold
    (the supervisor's override, else the schema's). Returns the names accepted."""
    _require(user, roles.REVIEW)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(_task_id(document_id), user, now)
        if task.document.review_sample:
            # A sample measures what the machine accepts alone: each value is looked at, not bulk-accepted.
            raise ReviewError("sample_field_by_field", "This document is a sample of auto-accepted ones: check and "
                              "accept each field on its own.", 409)
        overrides = thresholds_for(task.document.doc_type)
        accepted = []
        for field in Field.objects.select_for_update().filter(document_id=task.document_id, status=FieldStatus.NEEDS_REVIEW,
                                                              run__in=document_latest_run(document_id=task.document_id)):
            if field_is_confident(field, overrides.get(field.name, field.threshold)):
                _accept(field, task, user, now, bulk=True)
                accepted.append(field.name)
    return accepted


# --- finishing ---------------------------------------------------------------------------------

def _close(task: ReviewTask, user, outcome: str, now, **extra: Any) -> None:
    ReviewTask.objects.filter(pk=task.pk).update(
        state=ReviewTask.State.DONE, outcome=outcome, closed_at=now, closed_by=user, assignee=None, locked_until=None,
        **extra)


def document_review_submit(*, document_id, user) -> Document:
    """Finish the review: every field needing a person must be accepted or corrected. The
    document becomes ``reviewed`` and the upstream webhook is queued after commit."""
    _require(user, roles.REVIEW)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(_task_id(document_id), user, now)
        doc = Document.objects.select_for_update().get(pk=task.document_id)
        pending = list(Field.objects.filter(document=doc, status=FieldStatus.NEEDS_REVIEW, run__in=document_latest_run(document_id=doc.pk))
                       .values_list("name", flat=True))
        if pending:
            raise ReviewError("fields_pending", "Accept or correct every field first: " + ", ".join(pending), 400)
        counts = dict.fromkeys(("accepted", "corrected"), 0)
        for row in FieldCorrection.objects.filter(document=doc).values("action", "field_id").distinct():
            counts[row["action"]] = counts.get(row["action"], 0) + 1
        document_transition(doc, DocumentStatus.REVIEWED, actor=_actor(user), reason="review submitted")
        document_services.field_outcomes_record(document=doc, run=document_latest_run(document_id=doc.pk).first())
        _close(task, user, ReviewTask.Outcome.REVIEWED, now)
        _audit(user, "document.reviewed", doc.pk, {"fields_corrected": counts["corrected"],
                                                   "fields_accepted": counts["accepted"]})
        # What the person verified about the sender is remembered for its next document.
        vendor_memory.memory_learn(document=doc, actor=_actor(user))
        transaction.on_commit(lambda: webhook_enqueue(doc.pk, event="document.completed"))
    return doc


def document_reject(*, document_id, user, reason: str, note: str = "") -> Document:
    """Reject the whole document with a reason code; the webhook tells the upstream system."""
    _require(user, roles.REVIEW)
    if reason not in RejectReason.values:
        raise ReviewError("reason_required", "Choose why the document is rejected.", 400)
    if reason == RejectReason.OTHER and not note.strip():
        raise ReviewError("note_required", "Reason 'other' needs a short explanation.", 400)
    now = timezone.now()
    with transaction.atomic():
        task = _lock_held(_task_id(document_id), user, now)
        doc = Document.objects.select_for_update().get(pk=task.document_id)
        document_transition(doc, DocumentStatus.REJECTED, actor=_actor(user), reason=reason,
                            error_code=f"rejected_{reason}", error_detail=note[:2000])
        _close(task, user, ReviewTask.Outcome.REJECTED, now, reject_reason=reason, reject_note=note[:2000])
        _audit(user, "document.rejected", doc.pk, {"reason": reason, "note": note[:2000]})
        transaction.on_commit(lambda: webhook_enqueue(doc.pk, event="document.rejected"))
    return doc


# --- vendor memory -----------------------------------------------------------------------------

def sender_memory_delete(*, entry_id: int, user) -> None:
    """A supervisor deletes a vendor memory entry (audited with what it held)."""
    _require(user, roles.SUPERVISE)
    entry = SenderMemory.objects.filter(pk=entry_id).first()
    if entry is None:
        raise ReviewError("no_entry", "This memory entry no longer exists.", 404)
    vendor_memory.sender_memory_delete(entry=entry, actor=_actor(user))


# --- settings ----------------------------------------------------------------------------------

def threshold_set(*, user, doc_type: str, field_name: str, threshold: float) -> ThresholdSetting:
    """A supervisor sets the review threshold of one field (audited with before and after)."""
    _require(user, roles.THRESHOLDS)
    try:
        spec = get_doctype(doc_type).field(field_name)
    except (UnknownDocType, KeyError):
        raise ReviewError("unknown_field", f"{doc_type}.{field_name} is not a field of a known document type.", 400) from None
    if not 0.0 <= threshold <= 1.0:
        raise ReviewError("invalid_threshold", "A threshold is between 0 and 1.", 400)
    with transaction.atomic():
        current = ThresholdSetting.objects.select_for_update().filter(doc_type=doc_type, field_name=field_name).first()
        before = current.threshold if current else spec.review_threshold
        setting, _ = ThresholdSetting.objects.update_or_create(
            doc_type=doc_type, field_name=field_name, defaults={"threshold": threshold, "updated_by": user})
        record(actor=_actor(user), action="settings.threshold_changed", object_type="threshold",
               object_id=f"{doc_type}.{field_name}", payload={"before": before, "after": threshold})
    return setting


# --- learning: calibration proposals and re-runs ------------------------------------------------

def calibration_decide(*, user, proposal_id: int, apply: bool):
    """A supervisor applies or rejects a calibration proposal (seen with its figures on the dashboard)."""
    _require(user, roles.THRESHOLDS)
    with _refusal_as_review_error(document_services.CalibrationRefused):
        return document_services.calibration_proposal_decide(proposal_id=proposal_id, actor=_actor(user), apply=apply,
                                                             user=user)


def rerun_decide(*, user, document_id, run_id: int, adopt: bool):
    """A supervisor adopts a re-run's values or keeps the current ones (the document page)."""
    _require(user, roles.SUPERVISE)
    if not Document.objects.filter(pk=document_id, runs__pk=run_id).exists():
        raise ReviewError("no_run", "No such run on this document.", 404)
    with _refusal_as_review_error(document_services.ReprocessRefused):
        return document_services.document_rerun_decide(run_id=run_id, actor=_actor(user), adopt=adopt, user=user)


def document_reprocess_now(*, user, document: Document, engine: str = "", model: str = ""):
    """A supervisor asks for a re-run from the document page."""
    _require(user, roles.SUPERVISE)
    with _refusal_as_review_error(document_services.ReprocessRefused):
        return document_services.document_reprocess_request(document=document, actor=_actor(user), engine=engine,
                                                            model=model)
