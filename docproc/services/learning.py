"""Learning from review: outcomes, calibration refits and their proposals, the sampling audit.

- Every reviewed field becomes a ``FieldOutcome`` (``field_outcomes_record``, called when a
  review completes, and ``field_outcome_record`` when an auto-accepted value is corrected).
- ``calibrations_refit`` (``manage.py calibrate`` and a beat job) refits each (client, document
  type, backend, model, prompt version) calibration on the shipped calibration and the client's
  outcomes, cross-validated (docproc/pipeline/calibration_fit.py), and stores a
  ``CalibrationProposal`` with both versions and their figures; a supervisor applies or rejects
  it (``calibration_proposal_decide``), and extraction then uses the applied one
  (``calibration_lookup``).
- ``review_sample_chosen`` picks, by a hash of the document's id, the share DOCPROC_SAMPLE_RATE
  of auto-accepted documents that go to review anyway.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from docproc.audit.service import SYSTEM, Actor, record
from docproc.models import CalibrationProposal, Document, ExtractionRun, Field, FieldOutcome, FieldStatus
from docproc.pipeline.calibration_fit import NEVER, OutcomeSample, propose, wilson_interval
from docproc.pipeline.confidence import Calibration, calibration_for
from docproc.pipeline.runner import doubts
from docproc.results import jsonable
from reviewer.queue import machine_confidences


class CalibrationRefused(Exception):
    """A decision on a proposal that cannot be made; ``code`` is stable, ``detail`` says why."""

    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def run_model(run: ExtractionRun) -> str:
    """The model part of a run's extractor version ("llamacpp:qwen..." -> "qwen...")."""
    return run.extractor_version.split(":", 1)[-1]


# --- sampling --------------------------------------------------------------------------------

def review_sample_chosen(document_id) -> bool:
    """Whether an auto-accepted document goes to review anyway as a sample. Deterministic: the
    same document is always chosen or never, a share DOCPROC_SAMPLE_RATE of all documents."""
    rate = float(settings.DOCPROC_SAMPLE_RATE)
    if rate <= 0:
        return False
    draw = int(hashlib.sha256(f"sample:{document_id}".encode()).hexdigest()[:13], 16) / float(16 ** 13)
    return draw < rate


# --- outcomes --------------------------------------------------------------------------------

def field_outcome_record(*, field: Field, document: Document, run: ExtractionRun, explicit: bool = True,
                         machine_confidence: float | None = None) -> FieldOutcome:
    """The outcome of one field as it stands (made or updated). A field whose value is no longer
    the machine's is a miss; one the machine auto-accepted and a person corrected counts double."""
    routed = field.routed_status or FieldStatus.NEEDS_REVIEW
    correct = field.status != FieldStatus.CORRECTED or jsonable(field.value) == jsonable(field.original_value)
    auto = routed == FieldStatus.AUTO_ACCEPTED
    signals = dict(field.signals or {})
    if run.fallback_reason:
        source = "fallback"
    elif field.source != "reviewer":
        source = field.source
    else:  # a person's value now; the template's list says whether a form's box gave the machine's
        source = "template" if field.name in ((run.engines or {}).get("extract") or {}).get("template_fields", []) \
            else "extractor"
    values = {
        "document": document, "client_id": document.client_id, "doc_type": document.doc_type, "field_name": field.name,
        "backend": run.extractor, "model": run_model(run), "prompt_version": run.prompt_version,
        "calibration_version": run.calibration_version, "source": source, "machine_value": field.original_value,
        "verified_value": field.value, "signals": signals,
        "confidence": field.confidence if machine_confidence is None else machine_confidence,
        "threshold": field.threshold, "has_value": field.original_value is not None,
        "valid": signals.get("valid", 1.0) >= 1.0, "correct": correct, "auto_accepted": auto,
        "sampled": document.review_sample, "explicit": explicit, "weight": 2 if auto and not correct else 1,
    }
    outcome, _ = FieldOutcome.objects.update_or_create(field=field, defaults=values)
    return outcome


def field_outcomes_record(*, document: Document, run: ExtractionRun | None) -> int:
    """Every field of ``run`` (the document's result) as an outcome, when its review completes.
    A field nobody touched counts as accepted as routed (``explicit`` False). Returns the count."""
    if run is None:
        return 0
    first = machine_confidences(document=document)
    n = 0
    for field in run.fields.all():
        if field.status == FieldStatus.NEEDS_REVIEW:
            continue
        explicit = field.status in (FieldStatus.ACCEPTED, FieldStatus.CORRECTED)
        field_outcome_record(field=field, document=document, run=run, explicit=explicit,
                             machine_confidence=first.get(field.pk))
        n += 1
    return n


def measured_precision(*, client_id: Any = None) -> list[dict[str, Any]]:
    """Per (document type, field), the precision of the values the machine auto-accepted as
    people judged them (sampled documents and reviewed ones), with its 95% Wilson interval."""
    qs = FieldOutcome.objects.filter(auto_accepted=True, explicit=True)
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for doc_type, name, correct, sampled in qs.values_list("doc_type", "field_name", "correct", "sampled"):
        row = rows.setdefault((doc_type, name), {"doc_type": doc_type, "field": name, "n": 0, "right": 0, "sampled": 0})
        row["n"] += 1
        row["right"] += int(correct)
        row["sampled"] += int(sampled)
    out = []
    for row in sorted(rows.values(), key=lambda r: (r["doc_type"], r["field"])):
        interval = wilson_interval(row["right"], row["n"])
        out.append({**row, "precision": round(row["right"] / row["n"], 4),
                    "low": interval[0] if interval else None, "high": interval[1] if interval else None})
    return out


# --- calibration -----------------------------------------------------------------------------

def _applied(*, client_id, doc_type: str, backend: str, model: str, prompt_version: str) -> CalibrationProposal | None:
    return (CalibrationProposal.objects.filter(client_id=client_id, doc_type=doc_type, backend=backend, model=model,
                                               prompt_version=prompt_version, status=CalibrationProposal.Status.APPLIED)
            .order_by("-decided_at", "-id").first())


def _calibration_of(proposal: CalibrationProposal) -> Calibration:
    return Calibration.from_json(proposal.proposed["calibration"])


def calibration_lookup(*, client_id, doc_type: str) -> Callable[[str, str, str], Calibration | None]:
    """What extraction asks for the calibration of (engine, engine version, prompt version): the
    client's applied refit for this document type when there is one, else the shipped one."""

    def find(engine: str, engine_version: str, prompt_version: str) -> Calibration | None:
        applied = _applied(client_id=client_id, doc_type=doc_type, backend=engine,
                           model=engine_version.split(":", 1)[-1], prompt_version=prompt_version)
        if applied is not None:
            return _calibration_of(applied)
        return calibration_for(engine, engine_version, prompt_version)

    return find


def _samples(rows: list[FieldOutcome]) -> list[OutcomeSample]:
    return [OutcomeSample(key=f"{o.doc_type}.{o.field_name}", group=str(o.document_id or o.pk),
                          signals={k: float(v) for k, v in (o.signals or {}).items()}, correct=o.correct,
                          has_value=o.has_value, eligible=o.has_value and o.valid and not doubts(o.signals or {}), confidence=o.confidence,
                          threshold=o.threshold, weight=float(o.weight))
            for o in rows]


def calibrations_refit(*, doc_type: str = "", actor: Actor = SYSTEM) -> list[CalibrationProposal]:
    """Refit every calibration that has enough outcomes and propose it. A group needs
    DOCPROC_CALIBRATION_MIN_OUTCOMES outcomes from two documents at least; its earlier open
    proposal is superseded by the new one. Returns the proposals made."""
    # A form's box, a widget or the backup rules gave those values: the extractor's calibration
    # neither scored them nor learns from them.
    qs = FieldOutcome.objects.filter(source="extractor")
    if doc_type:
        qs = qs.filter(doc_type=doc_type)
    groups: dict[tuple[Any, str, str, str, str], list[FieldOutcome]] = {}
    for o in qs.order_by("id"):
        groups.setdefault((o.client_id, o.doc_type, o.backend, o.model, o.prompt_version), []).append(o)
    made = []
    for (client_id, group_type, backend, model, prompt_version), rows in sorted(groups.items(), key=lambda g: str(g[0])):
        if len(rows) < settings.DOCPROC_CALIBRATION_MIN_OUTCOMES or len({o.document_id for o in rows}) < 2:
            continue
        made.append(_propose(client_id, group_type, backend, model, prompt_version, rows, actor=actor))
    return made


def _propose(client_id, doc_type: str, backend: str, model: str, prompt_version: str, rows: list[FieldOutcome], *,
             actor: Actor) -> CalibrationProposal:
    shipped = calibration_for(backend, model, prompt_version)
    applied = _applied(client_id=client_id, doc_type=doc_type, backend=backend, model=model,
                       prompt_version=prompt_version)
    current = _calibration_of(applied) if applied else shipped
    target = float(settings.DOCPROC_TARGET_PRECISION)
    version = f"refit-{backend[:10]}-{timezone.now():%y%m%d%H%M}-{uuid.uuid4().hex[:8]}"
    result = propose(_samples(rows), shipped=shipped, version=version, engine=backend, model=model,
                     prompt_version=prompt_version, target=target, floor=settings.DOCPROC_CALIBRATION_MIN_THRESHOLD,
                     folds=settings.DOCPROC_CALIBRATION_FOLDS)
    calibration = Calibration(version, backend, model, prompt_version, result.calibration.coefficients,
                              {k: v for k, v in result.thresholds.items()})
    with transaction.atomic():
        CalibrationProposal.objects.filter(
            client_id=client_id, doc_type=doc_type, backend=backend, model=model, prompt_version=prompt_version,
            status=CalibrationProposal.Status.PROPOSED).update(status=CalibrationProposal.Status.SUPERSEDED)
        proposal = CalibrationProposal.objects.create(
            client_id=client_id, doc_type=doc_type, backend=backend, model=model, prompt_version=prompt_version,
            version=version, target_precision=target, outcomes=result.outcomes, folds=result.folds,
            current={"version": current.version if current else "", "source": "applied" if applied else
                     ("shipped" if shipped else "none"), "calibration": current.to_json() if current else None,
                     "fields": {k: f.to_json() for k, f in result.current.items()}, "totals": result.totals["current"]},
            proposed={"version": version, "calibration": calibration.to_json(),
                      "fields": {k: {**f.to_json(), "never": f.threshold >= NEVER} for k, f in result.proposed.items()},
                      "totals": result.totals["proposed"]},
        )
        record(actor=actor, action="calibration.proposed", object_type="calibration", object_id=version,
               payload={"client": client_id, "doc_type": doc_type, "backend": backend, "model": model,
                        "prompt_version": prompt_version, "outcomes": result.outcomes, "folds": result.folds,
                        "target_precision": target, "current": proposal.current["totals"],
                        "proposed": proposal.proposed["totals"], "current_version": proposal.current["version"]})
    return proposal


def calibration_proposal_decide(*, proposal_id: int, actor: Actor, apply: bool, user=None) -> CalibrationProposal:
    """Apply (extraction of the client's documents uses it from now on, the one applied before
    is superseded) or reject an open proposal. Audited with both versions."""
    with transaction.atomic():
        proposal = CalibrationProposal.objects.select_for_update().filter(pk=proposal_id).first()
        if proposal is None:
            raise CalibrationRefused("no_proposal", "No such calibration proposal.", 404)
        if proposal.status != CalibrationProposal.Status.PROPOSED:
            raise CalibrationRefused("not_open", f"This proposal was {proposal.status} already.")
        now = timezone.now()
        if apply:
            CalibrationProposal.objects.filter(
                client_id=proposal.client_id, doc_type=proposal.doc_type, backend=proposal.backend,
                model=proposal.model, prompt_version=proposal.prompt_version,
                status=CalibrationProposal.Status.APPLIED).update(status=CalibrationProposal.Status.SUPERSEDED)
        proposal.status = CalibrationProposal.Status.APPLIED if apply else CalibrationProposal.Status.REJECTED
        proposal.decided_by, proposal.decided_at = user, now
        proposal.save(update_fields=["status", "decided_by", "decided_at"])
        record(actor=actor, action="calibration.applied" if apply else "calibration.rejected",
               object_type="calibration", object_id=proposal.version,
               payload={"client": proposal.client_id, "doc_type": proposal.doc_type, "backend": proposal.backend,
                        "model": proposal.model, "prompt_version": proposal.prompt_version,
                        "previous_version": proposal.current.get("version", ""), "new_version": proposal.version,
                        "previous_calibration": proposal.current.get("calibration"),
                        "new_calibration": proposal.proposed.get("calibration"),
                        "expected": proposal.proposed.get("totals"), "as_routed": proposal.current.get("totals")})
    return proposal
