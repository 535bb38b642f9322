"""Pipeline orchestration: ingest and extract a stored document, save the run and its fields,
route it to review or auto-acceptance, fail it with a code, and queue again what the broker lost.

Each service loads, calls the framework-free stage (docproc/pipeline), saves, and writes the
audit event in one transaction; tasks are queued through docproc/dispatch.py after commit."""

from __future__ import annotations

import dataclasses
import io
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from docproc import dispatch, engines, memory
from docproc.audit.service import WORKER, Actor, record
from docproc.doctypes import DocType, UnknownDocType, get_doctype
from docproc.lifecycle import document_reopen, document_transition
from docproc.logging import document_id_var
from docproc.metrics import observe_run
from docproc.models import (
    CURRENT_RUN_STATES,
    Document,
    DocumentStatus,
    ExtractionRun,
    Field,
    FieldStatus,
    ModelCall,
    Page,
    StageResult,
)
from docproc.pipeline import codec
from docproc.pipeline.extract.prompts import numbered_text
from docproc.pipeline.ingest import ingest_file
from docproc.pipeline.labels import LABEL_MESSAGE, label_text
from docproc.pipeline.render import page_image
from docproc.pipeline.runner import (
    DocumentResult,
    doubts,
    extract_document,
    ocr_images,
    read_document,
    template_labels,
    text_share_for_type,
)
from docproc.pipeline.types import DocumentRead, DocumentText, PageImage, PipelineError
from docproc.pipeline.validate import normalize_field
from docproc.pipeline.visual_lines import reline
from docproc.results import jsonable
from docproc.storage import STORAGE_UNAVAILABLE, file_exists, file_read, file_write, local_copy
from docproc.webhooks import webhook_enqueue
from reviewer.queue import doctype_with_thresholds, review_task_open

from .learning import calibration_lookup, review_sample_chosen

log = logging.getLogger(__name__)
S = DocumentStatus


# --- failure ---------------------------------------------------------------------------------

def document_fail(document_id, *, code: str, detail: str, actor: Actor = WORKER) -> None:
    with transaction.atomic():
        doc = Document.objects.select_for_update().filter(pk=document_id).first()
        if doc is None or doc.status in (S.FAILED, S.REJECTED):
            return
        document_transition(doc, S.FAILED, actor=actor, error_code=code, error_detail=detail[:2000], stage="")
        transaction.on_commit(lambda: webhook_enqueue(document_id, event="document.failed"))


# --- retry -----------------------------------------------------------------------------------

# Failures that are a property of the stored bytes: the same file fails the same way again, so a
# retry is refused (the client sends a good file instead). Limits (too_many_pages,
# image_too_large) are settings and stay retryable once a limit is raised.
BAD_FILE_CODES = frozenset({"corrupt_pdf", "corrupt_image", "empty_file", "encrypted_pdf", "unsupported_type", "no_pages"})


class RetryRefused(Exception):
    """A retry that makes no sense; ``code`` is stable (not_failed, not_retryable), ``detail`` says why."""

    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def document_retry(*, document: Document, actor: Actor) -> Document:
    """Send a failed document through processing again from the start: back to received, its
    error and attempts cleared, a ``document.retried`` event, ingest queued after commit.
    Refused (RetryRefused) for a document that is not failed, whose file was purged, or whose
    file itself is bad (BAD_FILE_CODES)."""
    with transaction.atomic():
        doc = Document.objects.select_for_update().get(pk=document.pk)
        if doc.status != S.FAILED:
            raise RetryRefused("not_failed", f"Only a failed document can be retried; this one is {doc.status}.")
        if doc.purged_at is not None or not doc.file or not doc.file.storage.exists(doc.file.name):
            raise RetryRefused("not_retryable", "The document's file is no longer stored (purged): send the file again.")
        if doc.error_code in BAD_FILE_CODES:
            raise RetryRefused("not_retryable", f"The file itself was refused ({doc.error_code}): a retry would fail "
                               "the same way; send a corrected file instead.")
        previous = {"error_code": doc.error_code, "attempts": doc.attempts}
        document_reopen(doc, actor=actor)
        record(actor=actor, action="document.retried", object_type="document", object_id=doc.id,
               document_id=doc.id, payload=previous)
        transaction.on_commit(lambda: dispatch.document_ingest_enqueue(doc.id))
    return doc


# --- pipeline --------------------------------------------------------------------------------

def _stage_event(doc_id, stage: str, what: str, **payload: Any) -> None:
    record(actor=WORKER, action=f"pipeline.stage_{what}", object_type="document", object_id=doc_id,
           document_id=doc_id, payload={"stage": stage, **payload})


# The stages after ingest, each its own task on its own queue (docproc/celery.py routes them):
# "ocr" renders, OCRs and lays out the pages; "extract" runs the extractor (the LLM). Services
# return the stage to queue next; the tasks queue it through docproc/dispatch.py.
STAGE_OCR = "ocr"
STAGE_EXTRACT = "extract"
# The stage artefact of a read document (page 0: the whole document): its pages' words in
# reading order, layouts, timings and stored previews. Its presence means the OCR stage is done.
READ_STAGE, READ_ENGINE, READ_VERSION = "read", "pipeline", "1"


class NeedsOcr(Exception):
    """Raised instead of an OCR engine by the text-layer-only reading of ingest: a page needs OCR."""


def _no_ocr():
    raise NeedsOcr


def document_ingest(*, document_id) -> str | None:
    """Validate the stored file and count its pages; returns the stage to queue next (STAGE_OCR
    or STAGE_EXTRACT), or None when the document goes no further (refused, deleted, or past this
    stage already). With DOCPROC_PIPELINE_STAGES, a PDF whose text layer suffices on every page
    is read here (on the cpu queue) and goes straight to extraction, skipping the OCR queue."""
    document_id_var.set(str(document_id))
    with transaction.atomic():
        doc = Document.objects.select_for_update().filter(pk=document_id).first()
        if doc is None or doc.status not in (S.RECEIVED, S.PROCESSING):
            return None  # deleted, or already past this stage: a redelivered task ends here
        if doc.status == S.PROCESSING and doc.stage not in ("", "ingest") and not doc.stage.startswith("ingest:"):
            return None  # ingested already (queued for or in a later stage): a second ingest adds nothing
        document_transition(doc, S.PROCESSING, actor=WORKER, stage="ingest", attempts=doc.attempts + 1,
                            processing_started_at=doc.processing_started_at or timezone.now())
        # A new reading starts here (a retry reads the pages again, from the per-page caches).
        StageResult.objects.filter(document=doc, stage=READ_STAGE).delete()
        _stage_event(doc.id, "ingest", "started")
    try:
        with local_copy(doc.file) as path:  # the worker may share no disk with the web app
            ingested = ingest_file(path, max_pages=settings.DOCPROC_MAX_PAGES, max_image_pixels=settings.DOCPROC_MAX_IMAGE_PIXELS)
    except PipelineError as exc:
        with transaction.atomic():
            _stage_event(doc.id, "ingest", "failed", code=exc.code)
        document_fail(document_id, code=exc.code, detail=exc.detail)
        return None
    with transaction.atomic():
        Document.objects.filter(pk=doc.pk).update(page_count=ingested.page_count, content_type=ingested.content_type, stage="queued")
        _stage_event(doc.id, "ingest", "finished", pages=ingested.page_count)
    if not settings.DOCPROC_PIPELINE_STAGES or _finished_run_of_original(doc) is not None:
        return STAGE_EXTRACT  # one task reads and extracts / the original's run is reused
    _stage_results_reuse(doc)
    if ingested.content_type != "application/pdf":
        next_stage = STAGE_OCR
    else:
        try:
            # Stages named "ingest:...": a redelivered ingest (the worker died here) runs again.
            read, previews = _document_read_pages(doc, ocr=_no_ocr, stage_prefix="ingest:")
        except NeedsOcr:
            next_stage = STAGE_OCR
        except PipelineError as exc:
            with transaction.atomic():
                _stage_event(doc.id, "read", "failed", code=exc.code)
            document_fail(document_id, code=exc.code, detail=exc.detail)
            return None
        else:
            _document_read_save(doc.id, read, previews, source="text-layer")
            next_stage = STAGE_EXTRACT
    Document.objects.filter(pk=doc.pk, status=S.PROCESSING).update(
        stage="queued" if next_stage == STAGE_EXTRACT else "queued_ocr", updated_at=timezone.now())
    return next_stage


def _document_read_pages(doc: Document, *, ocr, stage_prefix: str = "") -> tuple[DocumentRead, dict[int, dict[str, Any]]]:
    """Read every page of ``doc`` (text layer or ``ocr``, layout, reading order) and store the
    page previews; (the reading, page -> preview fields). Raises PipelineError, and whatever
    ``ocr`` raises."""

    def on_stage(stage: str, page: int | None) -> None:
        name = stage if page is None else f"{stage}:{page}"
        Document.objects.filter(pk=doc.pk).update(stage=f"{stage_prefix}{name}", updated_at=timezone.now())

    upright: dict[int, PageImage] = {}  # OCR'd pages as their boxes see them (rotation corrected)

    def keep_upright(image: PageImage) -> None:
        scale = min(1.0, PREVIEW_DPI / max(image.dpi, 1.0))  # keep previews, not 300-DPI pages, in memory
        if scale < 1.0:
            image = dataclasses.replace(image, dpi=PREVIEW_DPI, image=image.image.resize(
                (max(1, int(image.width * scale)), max(1, int(image.height * scale)))))
        upright[image.page] = image

    previews = {}
    doctype = get_doctype(doc.doc_type)
    with local_copy(doc.file) as path:  # the worker may share no disk with the web app
        read = read_document(path, ocr=ocr, limits=engines.limits(), cache=DbStageCache(doc.id), on_stage=on_stage,
                             on_image=keep_upright, layout=engines.get_layout if engines.get_layout() is not None else None,
                             charset=doctype.charset, detector=doctype.ocr.given())
        for page in read.pages:
            try:
                image = upright.get(page.page) or page_image(
                    path, read.ingested.content_type, page.page, dpi=PREVIEW_DPI,
                    max_image_pixels=settings.DOCPROC_MAX_IMAGE_PIXELS)
                previews[page.page] = _store_page_image(doc.id, image)
            except STORAGE_UNAVAILABLE:
                raise  # the storage is down, not this page: the task is retried (its stages are cached)
            except Exception:  # a preview is a convenience; the extraction stands without it
                log.exception("page preview failed for %s page %s", doc.id, page.page)
    return read, previews


def _document_read_save(document_id, read: DocumentRead, previews: dict[int, dict[str, Any]], *, source: str) -> None:
    """Store the reading as the document's READ_STAGE artefact (what extraction starts from)."""
    payload = {**codec.document_read_to_dict(read), "previews": {str(k): v for k, v in previews.items()}}
    with transaction.atomic():
        StageResult.objects.update_or_create(
            document_id=document_id, page=0, stage=READ_STAGE, engine=READ_ENGINE, engine_version=READ_VERSION,
            prompt_version="", defaults={"payload": payload, "seconds": round(sum(read.timings.values()), 6)})
        _stage_event(document_id, "read", "finished", source=source, pages=len(read.pages),
                     seconds=round(sum(read.timings.values()), 3))


def _document_read_stored(document_id) -> bool:
    return StageResult.objects.filter(document_id=document_id, page=0, stage=READ_STAGE, engine=READ_ENGINE,
                                      engine_version=READ_VERSION).exists()


def _document_read_load(document_id) -> tuple[DocumentRead, dict[int, dict[str, Any]]] | None:
    row = StageResult.objects.filter(document_id=document_id, page=0, stage=READ_STAGE, engine=READ_ENGINE,
                                     engine_version=READ_VERSION).values("payload").first()
    if row is None:
        return None
    payload = row["payload"]
    return codec.document_read_from_dict(payload), {int(k): v for k, v in payload.get("previews", {}).items()}


def document_ocr(*, document_id) -> str | None:
    """The OCR stage (queue "ocr"): render, OCR and lay out every page, store the reading as
    the document's stage artefact and return STAGE_EXTRACT. Idempotent: a reading already stored
    is not redone (a redelivered task queues extraction again, which ends quietly if it ran);
    a deleted or finished document ends the task (None)."""
    document_id_var.set(str(document_id))
    doc = Document.objects.filter(pk=document_id).first()
    if doc is None or doc.status != S.PROCESSING:
        return None
    if _document_read_stored(doc.id):
        return STAGE_EXTRACT
    with transaction.atomic():
        Document.objects.filter(pk=doc.pk).update(attempts=F("attempts") + 1, stage="ocr", updated_at=timezone.now())
        _stage_event(doc.id, "ocr", "started")
    try:
        read, previews = _document_read_pages(doc, ocr=engines.get_ocr)
    except PipelineError as exc:
        with transaction.atomic():
            _stage_event(doc.id, "ocr", "failed", code=exc.code)
        document_fail(document_id, code=exc.code, detail=exc.detail)
        return None
    _document_read_save(doc.id, read, previews, source="ocr")
    with transaction.atomic():
        Document.objects.filter(pk=doc.pk, status=S.PROCESSING).update(stage="queued", updated_at=timezone.now())
        _stage_event(doc.id, "ocr", "finished", pages=len(read.pages))
    return STAGE_EXTRACT


def document_next_stage(doc: Document) -> str:
    """The stage a document in processing past ingest waits for: extraction once its reading is
    stored (or when one task does both, or its original's run is reused), else OCR."""
    if not settings.DOCPROC_PIPELINE_STAGES or _finished_run_of_original(doc) is not None:
        return STAGE_EXTRACT
    return STAGE_EXTRACT if _document_read_stored(doc.id) else STAGE_OCR


class DbStageCache:
    """Stage results in the database, so a retried task reuses pages already read."""

    def __init__(self, document_id) -> None:
        self.document_id = document_id

    def get(self, page: int, stage: str, engine: str, version: str) -> dict[str, Any] | None:
        row = StageResult.objects.filter(document_id=self.document_id, page=page, stage=stage, engine=engine,
                                         engine_version=version, prompt_version="").values("payload").first()
        return row["payload"] if row else None

    def put(self, page: int, stage: str, engine: str, version: str, payload: dict[str, Any]) -> None:
        StageResult.objects.update_or_create(
            document_id=self.document_id, page=page, stage=stage, engine=engine, engine_version=version,
            prompt_version="", defaults={"payload": payload},
        )


PREVIEW_DPI = 110


def _store_page_image(document_id, image: PageImage) -> dict[str, Any]:
    """The upright page as the reviewer sees it (PNG) and a thumbnail, written to the storage under
    ``pages/<document>/``; boxes are fractions of it."""
    img = image.image
    scale = min(1.0, PREVIEW_DPI / max(image.dpi, 1.0))
    if scale < 1.0:
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))))
    thumb = img.copy()
    thumb.thumbnail((240, 320))
    names = {}
    for key, picture, name in (("image", img, f"page-{image.page}.png"), ("thumbnail", thumb, f"page-{image.page}-thumb.png")):
        png = io.BytesIO()
        picture.save(png, format="PNG", optimize=False)
        names[key] = file_write(f"pages/{document_id}/{name}", png.getvalue())
    return {**names, "image_width": img.width, "image_height": img.height}


def doctype_for_routing(name: str) -> DocType:
    """The document type with the review thresholds supervisors set in the review UI applied."""
    return doctype_with_thresholds(get_doctype(name))


def _stage_results_reuse(doc: Document) -> int:
    """A duplicate (same bytes as an earlier document) starts from the earlier one's finished
    stage results (text layer, OCR, layout), so those pages are not read again. Returns how many
    were copied. A purged original holds none."""
    if doc.duplicate_of_id is None:
        return 0
    rows = [
        StageResult(document=doc, page=r.page, stage=r.stage, engine=r.engine, engine_version=r.engine_version,
                    prompt_version=r.prompt_version, payload=r.payload, seconds=r.seconds)
        for r in StageResult.objects.filter(document_id=doc.duplicate_of_id, document__purged_at__isnull=True)
        .exclude(stage=READ_STAGE)  # its previews name the original's files: the duplicate stores its own
    ]
    StageResult.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _finished_run_of_original(doc: Document) -> ExtractionRun | None:
    """The latest extraction run of the document this one duplicates, when that one has finished
    extraction, is not purged (a purged original's fields are emptied) and was not rejected or
    failed since (a person or the pipeline turned it down: this one is read afresh)."""
    if doc.duplicate_of_id is None:
        return None
    return (ExtractionRun.objects.filter(document_id=doc.duplicate_of_id, document__purged_at__isnull=True,
                                         rerun_state__in=CURRENT_RUN_STATES)
            .exclude(document__status__in=[S.FAILED, S.REJECTED]).order_by("-created_at").first())


def _page_images_copy(source_id, target_id, page: Page) -> dict[str, Any]:
    """The original's page preview and thumbnail copied under the duplicate (each document owns its
    files, so purging one leaves the other's screen whole)."""
    out: dict[str, Any] = {"image_width": page.image_width, "image_height": page.image_height}
    for attr in ("image", "thumbnail"):
        name = getattr(page, attr)
        out[attr] = ""
        if file_exists(name):
            out[attr] = file_write(f"pages/{target_id}/{PurePosixPath(name).name}", file_read(name))
    return out


def _document_reuse_run(document_id, source: ExtractionRun) -> str | None:
    """Give a duplicate the finished extraction of its original, without reading a page or calling
    a model: a run of its own recording the same engine, model and prompt version, and the
    original's fields as the extractor produced them, routed by this document's thresholds.

    Nothing a person decided on the original is copied as decided: values are the extractor's
    (``original_value``), no field is marked accepted or corrected and none carries a reviewer. A
    field a person corrected on the original goes to review here, whatever its confidence: someone
    already disagreed with the machine on these very bytes."""
    with transaction.atomic():
        doc = Document.objects.select_for_update().get(pk=document_id)
        if doc.status != S.PROCESSING:
            return None
        doctype = doctype_for_routing(doc.doc_type)
        for p in Page.objects.filter(document_id=source.document_id):
            Page.objects.update_or_create(
                document=doc, number=p.number,
                defaults={"width": p.width, "height": p.height, "source": p.source,
                          **_page_images_copy(source.document_id, doc.id, p)},
            )
        run = ExtractionRun.objects.create(
            document=doc, extractor=source.extractor, extractor_version=source.extractor_version,
            prompt_version=source.prompt_version, fallback_reason=source.fallback_reason,
            calibration_version=source.calibration_version, engines=source.engines, timings={},
        )
        fields = []
        for f in source.fields.order_by("position"):
            try:
                threshold = doctype.field(f.name).review_threshold
            except KeyError:
                threshold = f.threshold
            corrected = f.status == FieldStatus.CORRECTED
            normalized, messages = (field_value_check(doc.doc_type, f.name, f.original_value,
                                                      date_order=run_date_order(source)) if corrected
                                    else (f.normalized, list(f.messages)))
            valid = f.valid if not corrected else not messages
            if corrected:
                messages.append("A reviewer corrected this value on the original document.")
            accepted = (not corrected and not source.fallback_reason and f.confidence >= threshold and not messages
                        and not doubts(f.signals or {}))
            fields.append(Field(
                document=doc, run=run, name=f.name, value=f.original_value, normalized=normalized,
                confidence=f.confidence, status=FieldStatus.AUTO_ACCEPTED if accepted else FieldStatus.NEEDS_REVIEW,
                page=f.page, bbox=f.bbox, source_words=f.source_words, word_ids=f.word_ids, messages=messages,
                signals=f.signals, threshold=threshold, position=f.position, original_value=f.original_value,
                routed_status=FieldStatus.AUTO_ACCEPTED if accepted else FieldStatus.NEEDS_REVIEW,
                source=f.source if f.source != "reviewer" else "extractor", valid=valid,
                reasons=[*f.reasons, *(["A reviewer corrected this value on the original document."] if corrected else [])],
            ))
        Field.objects.bulk_create(fields)
        record(actor=WORKER, action="pipeline.run_reused", object_type="document", object_id=doc.id,
               document_id=doc.id, payload={"original": str(source.document_id), "original_run": source.pk,
                                            "run": run.pk, "extractor": source.extractor,
                                            "extractor_version": source.extractor_version,
                                            "prompt_version": source.prompt_version, "fields": len(fields)})
        _stage_event(doc.id, "extract", "finished", extractor=source.extractor,
                     fallback_reason=source.fallback_reason, reused_run=source.pk)
        status = S.AUTO_ACCEPTED if fields and all(f.status == FieldStatus.AUTO_ACCEPTED for f in fields) else S.NEEDS_REVIEW
        page_count = Page.objects.filter(document=doc).count() or doc.page_count
        _document_route(doc, status, page_count=page_count, field_names=[f.name for f in fields], run=run)
        return status


SAMPLE_REASON = "sampled: the machine accepted this value; a share of such documents is checked by a person"


def _document_route(doc: Document, status: str, *, page_count: int, field_names: list[str], run: ExtractionRun) -> None:
    """Move an extracted document on: auto-accepted (and its webhook queued) or into review.
    A document chosen for the sampling audit (DOCPROC_SAMPLE_RATE) goes to review although every
    field was auto-accepted: flagged ``review_sample``, its fields wait for a person and keep
    ``routed_status`` auto_accepted, so review measures what the machine accepts alone."""
    if status == S.AUTO_ACCEPTED and review_sample_chosen(doc.id):
        Field.objects.filter(run=run, status=FieldStatus.AUTO_ACCEPTED).update(
            status=FieldStatus.NEEDS_REVIEW, reasons=[SAMPLE_REASON])
        document_transition(doc, S.NEEDS_REVIEW, actor=WORKER, reason="sampled", stage="", page_count=page_count,
                            review_sample=True)
        record(actor=WORKER, action="document.sampled", object_type="document", object_id=doc.id,
               document_id=doc.id, payload={"rate": settings.DOCPROC_SAMPLE_RATE, "fields": field_names})
        review_task_open(document=doc)
        return
    document_transition(doc, status, actor=WORKER, stage="", page_count=page_count)
    if status == S.AUTO_ACCEPTED:
        record(actor=WORKER, action="document.auto_accepted", object_type="document", object_id=doc.id,
               document_id=doc.id, payload={"fields": field_names})
        document_id = doc.id
        transaction.on_commit(lambda: webhook_enqueue(document_id, event="document.completed"))
    else:
        review_task_open(document=doc)  # the review queue reads tasks, opened with the status


def document_extract(*, document_id) -> str | None:
    """The extraction stage (queue "gpu"): extract from the stored reading, route, and store the
    run and its fields. Returns the new status, or None (deleted, or already finished).

    Without a stored reading it reads the pages itself first: that is the single-task mode
    (DOCPROC_PIPELINE_STAGES off) and what a direct call after ``document_ingest`` does; the
    pipelined tasks never get here without one (OCR queues extraction after storing it, and the
    sweeper queues OCR for a document without one)."""
    document_id_var.set(str(document_id))
    doc = Document.objects.filter(pk=document_id).first()
    if doc is None or doc.status != S.PROCESSING:
        return None
    doctype = doctype_for_routing(doc.doc_type)
    source_run = _finished_run_of_original(doc)
    if source_run is not None:
        # The original finished extraction: take its run rather than read and call a model again.
        reused = _stage_results_reuse(doc)
        with transaction.atomic():
            Document.objects.filter(pk=doc.pk).update(attempts=F("attempts") + 1, stage="extract", updated_at=timezone.now())
            _stage_event(doc.id, "extract", "started", reused_from=str(doc.duplicate_of_id), stage_results=reused,
                         run=source_run.pk)
        return _document_reuse_run(doc.id, source_run)
    stored = _document_read_load(doc.id)
    with transaction.atomic():
        # Every stage counts as an attempt, so that a document that stops in extraction is not
        # queued again for ever (the sweeper gives up after MAX_ATTEMPTS).
        Document.objects.filter(pk=doc.pk).update(attempts=F("attempts") + 1, stage="extract", updated_at=timezone.now())
        reused = _stage_results_reuse(doc) if stored is None else 0
        _stage_event(doc.id, "extract", "started", **({"reused_from": str(doc.duplicate_of_id), "stage_results": reused}
                                                      if reused else {}))
    try:
        if stored is None:
            read, previews = _document_read_pages(doc, ocr=engines.get_ocr)
            _document_read_save(doc.id, read, previews, source="in-task")
        else:
            read, previews = stored

        def on_stage(stage: str, page: int | None) -> None:
            Document.objects.filter(pk=doc.pk).update(stage=stage, updated_at=timezone.now())

        def recall(fingerprint):
            return memory.memory_recall(client_id=doc.client_id, doc_type=doc.doc_type, fingerprint=fingerprint)

        with local_copy(doc.file) as path:  # the worker may share no disk with the web app
            text_share = 1.0
            if engines.get_second_reader() is not None and any(p.source == "ocr" for p in read.pages):
                # The stored reading holds no images: the OCR'd pages are rendered again and given
                # the correction OCR recorded, so the chosen values' lines can be read again.
                read = dataclasses.replace(read, images=ocr_images(path, read, cache=DbStageCache(doc.id),
                                                                   limits=engines.limits()))
                text_share = text_share_for_type(engines.get_ocr(), doctype)
            result = extract_document(path, doctype, read, extractor=engines.get_extractor(), on_stage=on_stage,
                                      recall=recall if memory.memory_enabled() else None,
                                      memory_options=memory.memory_options(),
                                      calibrations=calibration_lookup(client_id=doc.client_id, doc_type=doc.doc_type),
                                      second_reader=engines.get_second_reader, text_share=text_share)
    except PipelineError as exc:
        with transaction.atomic():
            _stage_event(doc.id, "extract", "failed", code=exc.code)
        document_fail(document_id, code=exc.code, detail=exc.detail)
        return S.FAILED
    return _document_save_result(doc.id, result, previews)


def _document_save_result(document_id, result: DocumentResult, previews: dict[int, dict[str, Any]]) -> str | None:
    with transaction.atomic():
        doc = Document.objects.select_for_update().get(pk=document_id)
        if doc.status != S.PROCESSING:
            return None  # another delivery of this task finished first: keep exactly one result
        doctype = doctype_for_routing(doc.doc_type)
        for p in result.pages:
            Page.objects.update_or_create(
                document=doc, number=p.page,
                defaults={"width": p.width, "height": p.height, "source": p.source, **previews.get(p.page, {})},
            )
        run = ExtractionRun.objects.create(
            document=doc, extractor=result.extraction.engine, extractor_version=result.extraction.engine_version,
            prompt_version=result.extraction.prompt_version, fallback_reason=result.extraction.fallback_reason,
            calibration_version=result.calibration_version, engines=result.engines, timings=result.timings,
        )
        run_fields_save(doc=doc, run=run, result=result, doctype=doctype)
        if result.memory is not None:
            # The lines as a model reads them: once reviewed, this document can be a worked example.
            memory.document_lines_store(document_id=doc.id, pages=result.pages,
                                        text=numbered_text(reline(DocumentText(result.pages)).pages)[0])
        transaction.on_commit(lambda: observe_run(timings=result.timings, calls=result.extraction.calls or ()))
        status = S.AUTO_ACCEPTED if result.status == "auto_accepted" else S.NEEDS_REVIEW
        _stage_event(doc.id, "extract", "finished", seconds=result.timings,
                     extractor=result.extraction.engine, fallback_reason=result.extraction.fallback_reason)
        _document_route(doc, status, page_count=len(result.pages), field_names=[f.name for f in result.fields], run=run)
        return status


def run_fields_save(*, doc: Document, run: ExtractionRun, result: DocumentResult, doctype: DocType) -> list[Field]:
    """The run's fields as the pipeline routed them, and its model calls (rows and audit events)."""
    fields = Field.objects.bulk_create([
        Field(
            document=doc, run=run, name=f.name, value=jsonable(f.value), normalized=jsonable(f.normalized),
            confidence=f.confidence, status=f.status, page=f.page, bbox=list(f.bbox) if f.bbox else None,
            source_words=list(f.source), word_ids=list(f.word_ids), messages=list(f.messages),
            signals=f.signals, position=i, routed_status=f.status,
            threshold=doctype.field(f.name).review_threshold if f.threshold is None else f.threshold,
            original_value=jsonable(f.value), source=f.provenance, valid=f.valid, reasons=list(f.reasons),
            evidence=list(f.evidence),
        )
        for i, f in enumerate(result.fields)
    ])
    if result.extraction.calls:
        model_calls_record(document=doc, run=run, calls=result.extraction.calls)
        for call in result.extraction.calls:
            record(actor=Actor("model", str(call.get("model", result.extraction.engine))), action="model.called",
                   object_type="document", object_id=doc.id, document_id=doc.id, payload=jsonable(dict(call)))
    return fields


def model_calls_record(*, document: Document | None, run: ExtractionRun | None, calls) -> list[ModelCall]:
    """One ModelCall row per model call of an extraction (the audit events are written apart)."""
    rows = [
        ModelCall(
            document=document, run=run, backend=str(c.get("backend", ""))[:50], model=str(c.get("model", ""))[:200],
            prompt_version=str(c.get("prompt_version", ""))[:50], tokens_in=int(c.get("tokens_in") or 0),
            tokens_out=int(c.get("tokens_out") or 0), cached_tokens=int(c.get("cached_tokens") or 0),
            latency_ms=round(float(c.get("latency_s") or 0.0) * 1000),
            cost=Decimal(str(c.get("cost") or 0)).quantize(Decimal("0.00000001")),
            cache_hit=bool(c.get("cache_hit")), error=str(c.get("error", "")),
        )
        for c in calls
    ]
    return ModelCall.objects.bulk_create(rows)


# --- sweeper ---------------------------------------------------------------------------------

MAX_ATTEMPTS = 6  # stage starts (ingest, OCR, extraction): a scan gets about three tries of its later stages


def documents_requeue_stuck(*, now=None) -> list[str]:
    """Queue again what has really stopped: a document received a minute ago, or processing with
    no progress for DOCPROC_STUCK_AFTER_SECONDS, whose pipeline task the broker no longer holds
    (neither waiting in a queue nor running unacknowledged on a worker). A document merely waiting
    behind a backlog, or still running, is left alone.

    A document past ingest is queued for the stage it waits for (``document_next_stage``: OCR
    until its reading is stored, then extraction).

    ``attempts`` counts every stage started (ingest, OCR, extraction); a stopped document fails with
    ``processing_timeout`` only once it was attempted MAX_ATTEMPTS times."""
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.DOCPROC_STUCK_AFTER_SECONDS)
    requeued: list[str] = []
    received = Document.objects.filter(status=S.RECEIVED, updated_at__lt=now - timedelta(seconds=60))
    processing = Document.objects.filter(status=S.PROCESSING, updated_at__lt=stuck_before)
    candidates = list(received) + list(processing)
    if not candidates:
        return requeued
    in_flight = dispatch.documents_in_flight()
    for doc in candidates:
        if in_flight is not None and str(doc.id) in in_flight:
            continue  # queued or running: not stopped
        if doc.attempts >= MAX_ATTEMPTS:
            document_fail(doc.id, code="processing_timeout",
                          detail=f"Processing stopped after {doc.attempts} attempts.")
            continue
        Document.objects.filter(pk=doc.pk).update(updated_at=now)
        if doc.status == S.PROCESSING and doc.stage not in ("", "ingest") and not doc.stage.startswith("ingest:"):
            dispatch.document_stage_enqueue(doc.id, document_next_stage(doc), quiet=True)
        else:
            dispatch.document_ingest_enqueue(doc.id)
        requeued.append(str(doc.id))
    return requeued


def run_date_order(run: Any) -> str:
    """How a run read its document's dates ("day_first", "month_first"; "" when it did not say)."""
    extract = (getattr(run, "engines", None) or {}).get("extract") or {}
    order = extract.get("date_order", "")
    return order if order in ("day_first", "month_first") else ""


def field_value_check(doc_type: str, name: str, value: Any, *, date_order: str = "") -> tuple[Any, list[str]]:
    """(normalised value, messages) of a value a person gives or confirmed: the field's normalisers and
    validators, and the label check against the type's and its form's printed labels. ``date_order``:
    how the document's own dates were read (its run's ``engines["extract"]["date_order"]``), which a
    type whose order is ``auto`` reads a person's date by too."""
    try:
        doctype = get_doctype(doc_type)
        spec = doctype.field(name)
    except (UnknownDocType, KeyError):
        return value, []
    day_first = date_order == "day_first" if doctype.date_order == "auto" and date_order else doctype.day_first
    normalized, messages = normalize_field(spec, value, day_first=day_first)
    if label_text(doctype, None, template_labels(doctype)).is_label(value):
        return None, [LABEL_MESSAGE, *messages]
    return jsonable(normalized), list(messages)
