"""Reads: querysets for views and the API, and the result document built from them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from docproc.models import CURRENT_RUN_STATES, ApiClient, Document, ExtractionRun
from docproc.results import document_json, field_json, jsonable, result_json


def documents_for_client(*, client: ApiClient, status=None, doc_type=None, external_ref=None,
                         created_after=None, created_before=None) -> QuerySet[Document]:
    qs = Document.objects.filter(client=client).order_by("-created_at")
    if status:
        qs = qs.filter(status__in=status.split(",") if isinstance(status, str) else status)
    if doc_type:
        qs = qs.filter(doc_type=doc_type)
    if external_ref:
        qs = qs.filter(external_ref=external_ref)
    # Parsed by the caller (the API's DocumentFilterSerializer): a value that is no date is an
    # error there, never silently dropped here.
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    return qs


def document_runs(*, document_id) -> QuerySet[ExtractionRun]:
    """The document's extraction runs, newest first. Runs created in the same instant are told
    apart by id, so "the latest run" is the same row for every reader."""
    return ExtractionRun.objects.filter(document_id=document_id).order_by("-created_at", "-id")


def document_latest_run(*, document_id) -> QuerySet[ExtractionRun]:
    """At most one row: the run whose fields are the document's current result. Use ``.first()``
    for the run, or pass it as a subquery (``run__in=...``) to filter fields by it. A re-run
    counts only once a supervisor adopted it: until then the earlier (reviewed) values stand."""
    return document_runs(document_id=document_id).filter(rerun_state__in=CURRENT_RUN_STATES)[:1]


def document_reruns(*, document_id) -> QuerySet[ExtractionRun]:
    """The document's re-runs, newest first."""
    return document_runs(document_id=document_id).exclude(rerun_state="")


def document_result(doc: Document) -> dict[str, Any]:
    """The API's and the webhook's result for ``doc`` (the fields of its latest run)."""
    run = document_latest_run(document_id=doc.pk).first()
    fields: dict[str, dict[str, Any]] = {}
    if run is not None:
        for f in run.fields.select_related("reviewed_by"):
            fields[f.name] = field_json(
                value=f.value, normalized=f.normalized, confidence=f.confidence, status=f.status,
                page=f.page, bbox=f.bbox, source=f.source, source_words=f.source_words, messages=f.messages,
                word_ids=f.word_ids, valid=f.valid, reasons=f.reasons, original_value=f.original_value,
                reviewed_by=f.reviewed_by.get_username() if f.reviewed_by_id else None,
                reviewed_at=f.reviewed_at.isoformat() if f.reviewed_at else None, evidence=f.evidence,
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


IN_FLIGHT = ("received", "processing")


def document_client_backlog(document_id) -> int:
    """How many of the same client's documents still in the pipeline (received or processing)
    came in before this one; 0 for a document without a client, or gone."""
    doc = Document.objects.filter(pk=document_id).values("client_id", "created_at").first()
    if doc is None or doc["client_id"] is None:
        return 0
    return Document.objects.filter(client_id=doc["client_id"], status__in=IN_FLIGHT,
                                   created_at__lt=doc["created_at"]).count()
