"""Re-runs: a new extraction run of a processed document beside its current one, never over it.

``document_reprocess_request`` (the API, ``manage.py reprocess``) records a queued run and queues
its task; ``document_reprocess`` (the task) reads the document again (OCR from the stage cache)
with the requested extractor and stores the new run's fields; the document's result stays the
current run's (``selectors.document_latest_run``) until a supervisor adopts the re-run
(``document_rerun_decide``), so reviewed values are never replaced by a machine's alone.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from docproc import dispatch, engines, memory
from docproc.audit.service import WORKER, Actor, record
from docproc.models import Document, DocumentStatus, ExtractionRun, Field, FieldStatus, RerunState
from docproc.pipeline import registry
from docproc.pipeline.registry import UnknownEngine
from docproc.pipeline.runner import process_file
from docproc.pipeline.types import PipelineError
from docproc.results import jsonable
from docproc.selectors import document_latest_run
from docproc.storage import local_copy
from docproc.webhooks import webhook_enqueue

from .learning import calibration_lookup
from .processing import DbStageCache, doctype_for_routing, run_fields_save

log = logging.getLogger(__name__)
S = DocumentStatus
REPROCESSABLE = frozenset({S.NEEDS_REVIEW, S.AUTO_ACCEPTED, S.REVIEWED, S.DELIVERED})
# After a supervisor adopts a re-run of a finished document, its values are the ones they chose.
FINISHED = frozenset({S.AUTO_ACCEPTED, S.REVIEWED, S.DELIVERED})


class ReprocessRefused(Exception):
    """A re-run or a decision on one that cannot be made; ``code`` is stable, ``detail`` says why."""

    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def document_reprocess_request(*, document: Document, actor: Actor, engine: str = "", model: str = "",
                               queue: bool = True) -> ExtractionRun:
    """Queue a new extraction run of ``document`` with ``engine`` (default the configured one)
    and ``model``. Refused: ``unknown_engine`` (400), ``not_reprocessable`` (not processed yet,
    failed, rejected or purged: 409), ``reprocess_in_progress`` (one is queued already: 409)."""
    engine = engine or settings.DOCPROC_EXTRACT_ENGINE
    known = sorted(registry.ENGINES["extract"])
    if engine not in known:
        raise ReprocessRefused("unknown_engine", f"Unknown extraction engine {engine!r}; known: {', '.join(known)}.", 400)
    with transaction.atomic():
        doc = Document.objects.select_for_update().get(pk=document.pk)
        if doc.status not in REPROCESSABLE:
            raise ReprocessRefused("not_reprocessable", f"Only a processed document can be re-run; this one is "
                                   f"{doc.status}" + (" (retry a failed one instead)." if doc.status == S.FAILED else "."))
        if doc.purged_at is not None or not doc.file or not doc.file.storage.exists(doc.file.name):
            raise ReprocessRefused("not_reprocessable", "The document's file is no longer stored (purged).")
        if ExtractionRun.objects.filter(document=doc, rerun_state=RerunState.QUEUED).exists():
            raise ReprocessRefused("reprocess_in_progress", "A re-run of this document is queued already.")
        current = document_latest_run(document_id=doc.pk).first()
        run = ExtractionRun.objects.create(
            document=doc, reprocess_of=current, rerun_state=RerunState.QUEUED, extractor=engine[:50],
            extractor_version=(model or "")[:50], engines={"requested": {"engine": engine, "model": model}})
        record(actor=actor, action="document.reprocess_requested", object_type="document", object_id=doc.id,
               document_id=doc.id, payload={"run": run.pk, "current_run": current.pk if current else None,
                                            "engine": engine, "model": model})
        run_id = run.pk
        if queue:  # else the caller runs it in process (``manage.py reprocess --inline``)
            transaction.on_commit(lambda: dispatch.document_reprocess_enqueue(run_id))
    return run


def _extractor(engine: str, model: str) -> Any:
    if engine == settings.DOCPROC_EXTRACT_ENGINE and not model:
        return engines.get_extractor()  # the worker's loaded one
    # Another model than the worker's: built for this run (a re-run is rare, loading is its cost).
    return registry.build_engine("extract", engine, engines.engine_options("extract", engine, model=model or None))


def document_reprocess(*, run_id) -> str | None:
    """Make the queued re-run ``run_id``: read, extract, route and store its fields beside the
    current run. A run done already or deleted ends quietly. Returns the run's new state."""
    run = ExtractionRun.objects.select_related("document").filter(pk=run_id).first()
    if run is None or run.rerun_state != RerunState.QUEUED:
        return None
    doc = run.document
    requested = dict(run.engines.get("requested") or {})
    try:
        extractor = _extractor(str(requested.get("engine") or settings.DOCPROC_EXTRACT_ENGINE),
                               str(requested.get("model") or ""))
        def recall(fingerprint):
            return memory.memory_recall(client_id=doc.client_id, doc_type=doc.doc_type, fingerprint=fingerprint)

        with local_copy(doc.file) as path:  # the worker may share no disk with the web app
            result = process_file(
                path, doctype_for_routing(doc.doc_type), ocr=engines.get_ocr, extractor=extractor,
                limits=engines.limits(), cache=DbStageCache(doc.id),
                layout=engines.get_layout if engines.get_layout() is not None else None,
                recall=recall if memory.memory_enabled() else None, memory_options=memory.memory_options(),
                calibrations=calibration_lookup(client_id=doc.client_id, doc_type=doc.doc_type))
    except (PipelineError, UnknownEngine, OSError) as exc:
        return rerun_fail(run_id=run.pk, code=str(getattr(exc, "code", type(exc).__name__)),
                          detail=str(getattr(exc, "detail", exc)))
    with transaction.atomic():
        run = ExtractionRun.objects.select_for_update().get(pk=run.pk)
        if run.rerun_state != RerunState.QUEUED:
            return None  # another delivery of the task finished first
        run.extractor, run.extractor_version = result.extraction.engine, result.extraction.engine_version
        run.prompt_version, run.fallback_reason = result.extraction.prompt_version, result.extraction.fallback_reason
        run.calibration_version, run.timings = result.calibration_version, result.timings
        run.engines = {**result.engines, "requested": requested}
        run.rerun_state = RerunState.PENDING
        run.save()
        new = run_fields_save(doc=doc, run=run, result=result, doctype=doctype_for_routing(doc.doc_type))
        changed = rerun_changes(run=run, fields=new)
        record(actor=WORKER, action="pipeline.rerun_finished", object_type="document", object_id=doc.id,
               document_id=doc.id, payload={"run": run.pk, "current_run": run.reprocess_of_id,
                                            "extractor": run.extractor, "extractor_version": run.extractor_version,
                                            "prompt_version": run.prompt_version, "changed": sorted(changed)})
    return RerunState.PENDING


def rerun_fail(*, run_id, code: str, detail: str) -> str | None:
    """A queued re-run that could not be made: failed, with its error (the current run stands)."""
    with transaction.atomic():
        run = ExtractionRun.objects.select_for_update().filter(pk=run_id, rerun_state=RerunState.QUEUED).first()
        if run is None:
            return None
        run.rerun_state, run.fallback_reason = RerunState.FAILED, f"{code}: {detail}"[:2000]
        run.save(update_fields=["rerun_state", "fallback_reason"])
        record(actor=WORKER, action="pipeline.rerun_failed", object_type="document", object_id=run.document_id,
               document_id=run.document_id, payload={"run": run.pk, "code": code})
    return RerunState.FAILED


def rerun_changes(*, run: ExtractionRun, fields: list[Field] | None = None) -> dict[str, tuple[Any, Any]]:
    """Field name -> (current value, re-run value) for the fields whose values differ."""
    current = {f.name: f.value for f in Field.objects.filter(run_id=run.reprocess_of_id)} if run.reprocess_of_id else {}
    new = {f.name: f.value for f in (fields if fields is not None else run.fields.all())}
    return {name: (current.get(name), new.get(name)) for name in sorted(set(current) | set(new))
            if jsonable(current.get(name)) != jsonable(new.get(name))}


def document_rerun_decide(*, run_id, actor: Actor, adopt: bool, user=None) -> ExtractionRun:
    """A supervisor's choice on a re-run: adopt it (its values become the document's result; on
    a finished document they count as the supervisor's accepted values and the client's webhook
    says the result changed) or keep the current values. Audited with what changed."""
    now = timezone.now()
    with transaction.atomic():
        run = ExtractionRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise ReprocessRefused("no_run", "No such run.", 404)
        if run.rerun_state != RerunState.PENDING:
            raise ReprocessRefused("not_pending", f"This run is {run.rerun_state or 'the first run'}: nothing to decide.")
        doc = Document.objects.select_for_update().get(pk=run.document_id)
        changed = rerun_changes(run=run)
        if not adopt:
            run.rerun_state = RerunState.KEPT
            run.save(update_fields=["rerun_state"])
            record(actor=actor, action="document.rerun_kept", object_type="document", object_id=doc.id,
                   document_id=doc.id, payload={"run": run.pk, "current_run": run.reprocess_of_id,
                                                "changed": sorted(changed)})
            return run
        replaced = document_latest_run(document_id=doc.pk).first()
        ExtractionRun.objects.filter(document=doc, rerun_state=RerunState.PENDING).exclude(pk=run.pk).update(
            rerun_state=RerunState.KEPT)
        run.rerun_state = RerunState.ADOPTED
        run.save(update_fields=["rerun_state"])
        # The adopted run is the result only while it is the newest current run: make it so.
        ExtractionRun.objects.filter(pk=run.pk).update(created_at=max(now, run.created_at))
        if doc.status in FINISHED:
            run.fields.update(status=FieldStatus.ACCEPTED, reviewed_by=user, reviewed_at=now)
        record(actor=actor, action="document.rerun_adopted", object_type="document", object_id=doc.id,
               document_id=doc.id, payload={"run": run.pk, "replaced_run": replaced.pk if replaced else None,
                                            "fields": sorted(changed),
                                            "before": {k: jsonable(v[0]) for k, v in changed.items()},
                                            "after": {k: jsonable(v[1]) for k, v in changed.items()}})
        if doc.status in FINISHED:
            transaction.on_commit(lambda: webhook_enqueue(doc.pk, event="document.updated"))
    return run
