"""Services: every write of the document domain, each with its audit event, in one transaction."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from docproc import engines
from docproc.audit.service import WORKER, Actor, record
from docproc.doctypes import UnknownDocType, get_doctype
from docproc.logging import document_id_var
from docproc.models import (
    FINAL_STATUSES,
    ApiClient,
    Document,
    DocumentStatus,
    ExtractionRun,
    Field,
    InvalidTransition,
    ModelCall,
    Page,
    StageResult,
)
from docproc.pipeline.ingest import ingest_file, sniff_content_type, unsupported_detail
from docproc.pipeline.runner import DocumentResult, process_file
from docproc.pipeline.types import PageImage, PipelineError
from docproc.results import document_json, field_json, jsonable, result_json

log = logging.getLogger(__name__)
S = DocumentStatus


class UploadRefused(Exception):
    """An upload the API answers with a 4xx; nothing was stored."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


# --- uploads ---------------------------------------------------------------------------------

def sanitize_filename(name: str) -> str:
    """A display name safe anywhere: no directories, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot else name[:200]
    return name or "document"


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    document: Document
    created: bool


def document_upload(
    *,
    client: ApiClient,
    uploaded,
    doc_type: str,
    external_ref: str = "",
    idempotency_key: str = "",
    client_ip: str | None = None,
) -> UploadOutcome:
    """Store an upload and queue it, or return the document this key or content already made.

    Refusals (unknown type, empty, not a document, too large) raise ``UploadRefused`` and are
    audited; an accepted file is on disk and in the database before anything is queued.
    """
    actor = Actor.client(client)

    def refuse(code: str, detail: str, status: int = 400) -> UploadRefused:
        record(actor=actor, action="document.upload_refused", client_ip=client_ip,
               payload={"code": code, "detail": detail, "file": sanitize_filename(getattr(uploaded, "name", ""))})
        return UploadRefused(code, detail, status)

    try:
        get_doctype(doc_type)
    except UnknownDocType as exc:
        raise refuse("unknown_doc_type", str(exc).strip('"')) from None
    if not client.allows(doc_type):
        raise refuse("doc_type_not_allowed", f"This client may not upload documents of type {doc_type!r}.", 403)
    if idempotency_key:
        existing = Document.objects.filter(client=client, idempotency_key=idempotency_key).first()
        if existing is not None:
            return UploadOutcome(existing, False)
    size = getattr(uploaded, "size", None) or 0
    if size > settings.DOCPROC_MAX_UPLOAD_BYTES:
        raise refuse("file_too_large", f"The file has {size} bytes; the limit is {settings.DOCPROC_MAX_UPLOAD_BYTES}.", 413)

    digest = hashlib.sha256()
    head = b""
    total = 0
    with tempfile.NamedTemporaryFile(prefix="upload-", dir=_tmp_dir(), delete=False) as tmp:
        for chunk in uploaded.chunks():
            total += len(chunk)
            if total > settings.DOCPROC_MAX_UPLOAD_BYTES:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise refuse("file_too_large", f"The file is larger than {settings.DOCPROC_MAX_UPLOAD_BYTES} bytes.", 413)
            if len(head) < 1024:
                head += chunk[: 1024 - len(head)]
            digest.update(chunk)
            tmp.write(chunk)
        tmp_path = Path(tmp.name)
    try:
        if total == 0:
            raise refuse("empty_file", "The file is empty.")
        content_type = sniff_content_type(head)
        if content_type is None:
            raise refuse("unsupported_type", unsupported_detail(head), 415)
        sha = digest.hexdigest()
        with transaction.atomic():
            same = Document.objects.filter(client=client, sha256=sha, doc_type=doc_type).exclude(
                status__in=[S.FAILED, S.REJECTED]).first()
            if same is not None:
                return UploadOutcome(same, False)
            doc = Document(
                client=client, external_ref=external_ref[:200], idempotency_key=idempotency_key[:200], sha256=sha,
                original_name=sanitize_filename(getattr(uploaded, "name", "")), content_type=content_type,
                size=total, doc_type=doc_type,
            )
            with tmp_path.open("rb") as fh:
                doc.file.save("original", File(fh), save=False)
            doc.save()
            record(actor=actor, action="document.uploaded", object_type="document", object_id=doc.id,
                   document_id=doc.id, client_ip=client_ip,
                   payload={"file": doc.original_name, "sha256": sha, "size": total, "content_type": content_type,
                            "doc_type": doc_type, "external_ref": doc.external_ref})
            transaction.on_commit(lambda: document_enqueue(doc.id))
        return UploadOutcome(doc, True)
    finally:
        tmp_path.unlink(missing_ok=True)


def _tmp_dir() -> str:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def document_enqueue(document_id) -> None:
    """Queue the pipeline's first task. Failures to reach the broker are logged, not raised:
    the document is stored and the sweeper queues it again."""
    from workers.tasks import document_ingest  # tasks import services: import at call time

    try:
        document_ingest.apply_async(args=[str(document_id)], queue="cpu")
    except Exception:  # broker down: the upload is safe in the database
        log.exception("could not queue document %s; the sweeper will retry", document_id)


# --- state machine ---------------------------------------------------------------------------

def document_transition(doc: Document, to: str, *, actor: Actor, reason: str = "", **changes: Any) -> None:
    """Move ``doc`` to ``to`` along ALLOWED_TRANSITIONS, save and audit; a bad move raises."""
    if not doc.can_move_to(to):
        raise InvalidTransition(f"document {doc.id}: {doc.status} -> {to} is not allowed")
    before = doc.status
    doc.status = to
    for key, value in changes.items():
        setattr(doc, key, value)
    if to in FINAL_STATUSES and doc.finished_at is None:
        doc.finished_at = timezone.now()
    doc.save()
    payload: dict[str, Any] = {"before": before, "after": to}
    if reason:
        payload["reason"] = reason
    if doc.error_code and to == S.FAILED:
        payload["error"] = {"code": doc.error_code, "detail": doc.error_detail}
    record(actor=actor, action="document.status_changed", object_type="document", object_id=doc.id,
           document_id=doc.id, payload=payload)


def document_fail(document_id, *, code: str, detail: str, actor: Actor = WORKER) -> None:
    with transaction.atomic():
        doc = Document.objects.select_for_update().filter(pk=document_id).first()
        if doc is None or doc.status in (S.FAILED, S.REJECTED):
            return
        document_transition(doc, S.FAILED, actor=actor, error_code=code, error_detail=detail[:2000], stage="")
        transaction.on_commit(lambda: webhook_enqueue(document_id, event="document.failed"))


# --- pipeline --------------------------------------------------------------------------------

def _stage_event(doc_id, stage: str, what: str, **payload: Any) -> None:
    record(actor=WORKER, action=f"pipeline.stage_{what}", object_type="document", object_id=doc_id,
           document_id=doc_id, payload={"stage": stage, **payload})


def document_ingest(*, document_id) -> bool:
    """Validate the stored file and count its pages. True when the document goes on to extraction."""
    document_id_var.set(str(document_id))
    with transaction.atomic():
        doc = Document.objects.select_for_update().filter(pk=document_id).first()
        if doc is None or doc.status not in (S.RECEIVED, S.PROCESSING):
            return False  # deleted, or already past this stage: a redelivered task ends here
        document_transition(doc, S.PROCESSING, actor=WORKER, stage="ingest", attempts=doc.attempts + 1,
                            processing_started_at=doc.processing_started_at or timezone.now())
        _stage_event(doc.id, "ingest", "started")
    path = Path(doc.file.path)
    try:
        ingested = ingest_file(path, max_pages=settings.DOCPROC_MAX_PAGES, max_image_pixels=settings.DOCPROC_MAX_IMAGE_PIXELS)
    except PipelineError as exc:
        with transaction.atomic():
            _stage_event(doc.id, "ingest", "failed", code=exc.code)
        document_fail(document_id, code=exc.code, detail=exc.detail)
        return False
    with transaction.atomic():
        Document.objects.filter(pk=doc.pk).update(page_count=ingested.page_count, content_type=ingested.content_type, stage="queued")
        _stage_event(doc.id, "ingest", "finished", pages=ingested.page_count)
    return True


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
    """The upright page as the reviewer sees it (PNG) and a thumbnail; boxes are fractions of it."""
    folder = Path(settings.MEDIA_ROOT) / "pages" / str(document_id)
    folder.mkdir(parents=True, exist_ok=True)
    img = image.image
    scale = min(1.0, PREVIEW_DPI / max(image.dpi, 1.0))
    if scale < 1.0:
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))))
    name = f"page-{image.page}.png"
    img.save(folder / name, optimize=False)
    thumb = img.copy()
    thumb.thumbnail((240, 320))
    thumb_name = f"page-{image.page}-thumb.png"
    thumb.save(folder / thumb_name)
    rel = Path("pages") / str(document_id)
    return {"image": str(rel / name), "thumbnail": str(rel / thumb_name), "image_width": img.width, "image_height": img.height}


def doctype_for_routing(name: str):
    """The document type with the review thresholds supervisors set in the review UI applied."""
    from reviewer.services import doctype_with_thresholds

    return doctype_with_thresholds(get_doctype(name))


def document_extract(*, document_id) -> str | None:
    """Read every page, extract, route, and store the run and its fields. Returns the new status."""
    document_id_var.set(str(document_id))
    doc = Document.objects.filter(pk=document_id).first()
    if doc is None or doc.status != S.PROCESSING:
        return None
    doctype = doctype_for_routing(doc.doc_type)
    with transaction.atomic():
        _stage_event(doc.id, "extract", "started")

    def on_stage(stage: str, page: int | None) -> None:
        Document.objects.filter(pk=doc.pk).update(stage=stage if page is None else f"{stage}:{page}", updated_at=timezone.now())

    upright: dict[int, PageImage] = {}  # OCR'd pages as their boxes see them (rotation corrected)

    def keep_upright(image: PageImage) -> None:
        scale = min(1.0, PREVIEW_DPI / max(image.dpi, 1.0))  # keep previews, not 300-DPI pages, in memory
        if scale < 1.0:
            image = dataclasses.replace(image, dpi=PREVIEW_DPI, image=image.image.resize(
                (max(1, int(image.width * scale)), max(1, int(image.height * scale)))))
        upright[image.page] = image

    try:
        result = process_file(
            Path(doc.file.path), doctype, ocr=engines.get_ocr, extractor=engines.get_extractor(),
            limits=engines.limits(), cache=DbStageCache(doc.id), on_stage=on_stage, on_image=keep_upright,
            layout=engines.get_layout if engines.get_layout() is not None else None,
        )
    except PipelineError as exc:
        with transaction.atomic():
            _stage_event(doc.id, "extract", "failed", code=exc.code)
        document_fail(document_id, code=exc.code, detail=exc.detail)
        return S.FAILED
    previews = {}
    for page in result.pages:
        try:
            from docproc.pipeline.render import page_image

            image = upright.get(page.page) or page_image(
                Path(doc.file.path), result.ingested.content_type, page.page, dpi=PREVIEW_DPI,
                max_image_pixels=settings.DOCPROC_MAX_IMAGE_PIXELS)
            previews[page.page] = _store_page_image(doc.id, image)
        except Exception:  # a preview is a convenience; the extraction stands without it
            log.exception("page preview failed for %s page %s", doc.id, page.page)
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
        Field.objects.bulk_create([
            Field(
                document=doc, run=run, name=f.name, value=jsonable(f.value), normalized=jsonable(f.normalized),
                confidence=f.confidence, status=f.status, page=f.page, bbox=list(f.bbox) if f.bbox else None,
                source_words=list(f.source), word_ids=list(f.word_ids), messages=list(f.messages),
                signals=f.signals, threshold=doctype.field(f.name).review_threshold, position=i,
                original_value=jsonable(f.value),
            )
            for i, f in enumerate(result.fields)
        ])
        if result.extraction.calls:
            model_calls_record(document=doc, run=run, calls=result.extraction.calls)
            for call in result.extraction.calls:
                record(actor=Actor("model", str(call.get("model", result.extraction.engine))), action="model.called",
                       object_type="document", object_id=doc.id, document_id=doc.id, payload=jsonable(dict(call)))
        from docproc.metrics import observe_run

        transaction.on_commit(lambda: observe_run(timings=result.timings, calls=result.extraction.calls or ()))
        status = S.AUTO_ACCEPTED if result.status == "auto_accepted" else S.NEEDS_REVIEW
        _stage_event(doc.id, "extract", "finished", seconds=result.timings,
                     extractor=result.extraction.engine, fallback_reason=result.extraction.fallback_reason)
        document_transition(doc, status, actor=WORKER, stage="", page_count=len(result.pages))
        if status == S.AUTO_ACCEPTED:
            record(actor=WORKER, action="document.auto_accepted", object_type="document", object_id=doc.id,
                   document_id=doc.id, payload={"fields": [f.name for f in result.fields]})
            transaction.on_commit(lambda: webhook_enqueue(document_id, event="document.completed"))
        else:
            from reviewer.services import review_task_open

            review_task_open(document=doc)  # the review queue reads tasks, opened with the status
        return status


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

MAX_ATTEMPTS = 3


def documents_requeue_stuck(*, now=None) -> list[str]:
    """Queue again what the broker lost: received and not started after a minute, or processing
    past the deadline. After MAX_ATTEMPTS a document fails with ``processing_timeout``."""
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.DOCPROC_STUCK_AFTER_SECONDS)
    requeued: list[str] = []
    received = Document.objects.filter(status=S.RECEIVED, updated_at__lt=now - timedelta(seconds=60))
    processing = Document.objects.filter(status=S.PROCESSING, updated_at__lt=stuck_before)
    for doc in list(received) + list(processing):
        if doc.attempts >= MAX_ATTEMPTS:
            document_fail(doc.id, code="processing_timeout",
                          detail=f"Processing did not finish after {doc.attempts} attempts.")
            continue
        Document.objects.filter(pk=doc.pk).update(updated_at=now)
        if doc.status == S.PROCESSING:
            from workers.tasks import document_extract

            document_extract.apply_async(args=[str(doc.id)], queue="gpu")
        else:
            document_enqueue(doc.id)
        requeued.append(str(doc.id))
    return requeued


# --- results ---------------------------------------------------------------------------------

def document_result(doc: Document) -> dict[str, Any]:
    """The API's result for ``doc`` (fields of its latest run)."""
    run = doc.runs.order_by("-created_at").first()
    fields: dict[str, dict[str, Any]] = {}
    if run is not None:
        for f in run.fields.all():
            fields[f.name] = field_json(
                value=f.value, normalized=f.normalized, confidence=f.confidence, status=f.status,
                page=f.page, bbox=f.bbox, source=f.source_words, messages=f.messages, word_ids=f.word_ids,
            )
            if f.status == "corrected":
                # What the machine read, beside the reviewer's value above, for whoever checks the review.
                fields[f.name]["machine_value"] = jsonable(f.original_value)
    return result_json(
        document=document_json(id=str(doc.id), file=doc.original_name, doc_type=doc.doc_type, status=doc.status,
                               pages=doc.page_count, error_code=doc.error_code, error_detail=doc.error_detail,
                               external_ref=doc.external_ref),
        fields=fields,
        timings=run.timings if run else {},
        engines=run.engines if run else {},
    )


# --- webhooks --------------------------------------------------------------------------------

def webhook_enqueue(document_id, *, event: str) -> None:
    from docproc.webhooks import delivery_create

    delivery = delivery_create(document_id=document_id, event=event)
    if delivery is not None:
        from workers.tasks import webhook_deliver

        try:
            webhook_deliver.apply_async(args=[str(delivery.id)], queue="cpu")
        except Exception:
            log.exception("could not queue webhook %s; the retry job will send it", delivery.id)

