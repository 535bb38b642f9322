"""Vendor memory: what reviewers verified about each sender, per API client and document type.

When a review is submitted (``memory_learn``, called by the review service), the values a
person accepted or corrected in the document's ``memory: sender`` fields are stored under the
sender's fingerprint (its header lines and printed registration/tax/provider numbers, taken at
extraction and kept with the run as ``engines["memory"]``), with how many reviewed documents
verified each. At extraction (``memory_recall``, called by docproc.services.processing) the
next document whose fingerprint matches gets those values as candidates, used only where it
prints them (docproc/pipeline/memory.py), and an LLM gets the sender's latest verified
documents as worked examples. A review that contradicts a remembered value replaces it and is
audited; supervisors list and delete entries in the review UI.

Layers: this module is the domain; the matching and grounding are pure functions in
``docproc.pipeline.memory``; the review app calls in here, never the other way round.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import transaction

from docproc.audit.service import Actor, record
from docproc.doctypes import DocType, UnknownDocType, get_doctype
from docproc.models import Document, DocumentStatus, ExtractionRun, FieldStatus, SenderMemory, StageResult
from docproc.pipeline.memory import (
    MemoryOptions,
    Recall,
    RememberedValue,
    SenderFingerprint,
    WorkedExample,
    fingerprint_similarity,
)
from docproc.pipeline.types import PageWords
from docproc.results import jsonable

MAX_EXAMPLES = 2  # verified documents kept per sender as worked examples for a model
LINES_STAGE = "lines"  # a StageResult holding the document's lines as a model reads them


def memory_enabled() -> bool:
    return bool(settings.DOCPROC_MEMORY)


def memory_options() -> MemoryOptions:
    return MemoryOptions(min_similarity=settings.DOCPROC_MEMORY_MIN_SIMILARITY,
                         max_slip_ratio=settings.DOCPROC_MEMORY_MAX_SLIP_RATIO,
                         min_documents=settings.DOCPROC_MEMORY_MIN_DOCUMENTS)


def sender_fields(doctype: DocType) -> tuple[str, ...]:
    return tuple(f.name for f in doctype.fields if f.memory == "sender" and f.type != "list")


def _fingerprint_of(entry: SenderMemory) -> SenderFingerprint:
    return SenderFingerprint(tuple(entry.header or ()), tuple(entry.numbers or ()))


def sender_memory_entries(*, client_id, doc_type: str | None = None):
    """The memory entries of one client (``client_id`` None: documents without a client),
    newest first."""
    qs = SenderMemory.objects.filter(client_id=client_id)
    return qs.filter(doc_type=doc_type) if doc_type else qs


def sender_memory_find(*, client_id, doc_type: str, fingerprint: SenderFingerprint,
                       for_update: bool = False) -> tuple[SenderMemory, float] | None:
    """The entry of this client and type whose fingerprint is most alike ``fingerprint`` (one
    that shares a printed number first), with the similarity, when it reaches
    DOCPROC_MEMORY_MIN_SIMILARITY."""
    qs = sender_memory_entries(client_id=client_id, doc_type=doc_type)
    if for_update:
        qs = qs.select_for_update()
    best: tuple[SenderMemory, float] | None = None
    rank: tuple[bool, float] = (False, 0.0)
    for entry in qs:
        similarity = fingerprint_similarity(fingerprint, _fingerprint_of(entry))
        # A printed registration number outranks a like header: a form's header is the same
        # whoever fills it in, its provider's numbers are not.
        this = (bool(set(fingerprint.numbers) & set(entry.numbers or ())), similarity)
        if similarity >= memory_options().min_similarity and (best is None or this > rank):
            best, rank = (entry, similarity), this
    return best


def memory_recall(*, client_id, doc_type: str, fingerprint: SenderFingerprint) -> Recall | None:
    """What the memory holds for this document's sender: remembered values and worked examples
    (None when memory is off or the sender is unknown)."""
    if not memory_enabled() or not fingerprint.header:
        return None
    try:
        doctype = get_doctype(doc_type)
    except UnknownDocType:
        return None
    found = sender_memory_find(client_id=client_id, doc_type=doc_type, fingerprint=fingerprint)
    if found is None:
        return None
    entry, similarity = found
    names = sender_fields(doctype)
    values = tuple(RememberedValue(name, v.get("value"), int(v.get("documents") or 0))
                   for name, v in (entry.values or {}).items() if name in names and v.get("value") is not None)
    return Recall(str(entry.pk), similarity, values, worked_examples(entry.example_documents or [], doctype))


def worked_examples(document_ids: list[str], doctype: DocType) -> tuple[WorkedExample, ...]:
    """The verified documents ``document_ids`` as worked examples: their lines as a model reads
    them (stored at extraction) and their reviewed values. A purged document (its lines are
    gone) or one no longer reviewed is left out."""
    out: list[WorkedExample] = []
    for doc_id in document_ids[:MAX_EXAMPLES]:
        doc = Document.objects.filter(pk=doc_id, purged_at__isnull=True, status=DocumentStatus.REVIEWED).first()
        lines = StageResult.objects.filter(document_id=doc_id, stage=LINES_STAGE).values_list("payload", flat=True).first()
        run = ExtractionRun.objects.filter(document_id=doc_id).order_by("-created_at").first()
        if doc is None or not lines or run is None:
            continue
        values = {f.name: jsonable(f.value) for f in run.fields.all() if f.name in doctype.field_names}
        out.append(WorkedExample(str(doc_id), str(lines.get("text", "")), values))
    return tuple(out)


def document_lines_store(*, document_id, pages: tuple[PageWords, ...], text: str) -> None:
    """Keep a document's lines as a model reads them, for it to serve as a worked example once
    reviewed (removed with the document's other stage results by the retention purge)."""
    StageResult.objects.update_or_create(
        document_id=document_id, page=0, stage=LINES_STAGE, engine="pipeline", engine_version="1", prompt_version="",
        defaults={"payload": {"text": text, "pages": len(pages)}},
    )


def _same(a: Any, b: Any) -> bool:
    def key(v: Any) -> str:
        return re.sub(r"[^0-9a-z]", "", str(v).casefold())
    return key(a) == key(b)


def memory_learn(*, document: Document, actor: Actor) -> SenderMemory | None:
    """Store what the review of ``document`` verified about its sender (call it in the review's
    transaction). Only values a person accepted or corrected count; a value that contradicts
    the remembered one replaces it (its count starts again at 1) and is audited
    (``memory.contradicted``). Returns the entry, or None when nothing was verified."""
    if not memory_enabled():
        return None
    try:
        doctype = get_doctype(document.doc_type)
    except UnknownDocType:
        return None
    names = sender_fields(doctype)
    run = ExtractionRun.objects.filter(document=document).order_by("-created_at").first()
    if not names or run is None:
        return None
    fingerprint = SenderFingerprint.from_json((run.engines or {}).get("memory", {}).get("fingerprint"))
    if fingerprint is None or not fingerprint.header:
        return None
    verified = {f.name: f.value for f in run.fields.all()
                if f.name in names and f.status in (FieldStatus.ACCEPTED, FieldStatus.CORRECTED)
                and f.value is not None and f.valid}
    if not verified:
        return None
    with transaction.atomic():
        found = sender_memory_find(client_id=document.client_id, doc_type=document.doc_type, fingerprint=fingerprint,
                                   for_update=True)
        created = found is None
        entry = found[0] if found else SenderMemory(client_id=document.client_id, doc_type=document.doc_type)
        values: dict[str, Any] = dict(entry.values or {})
        contradicted = []
        for name, value in verified.items():
            known = values.get(name)
            if known is not None and _same(known.get("value"), value):
                values[name] = {"value": value, "documents": int(known.get("documents") or 0) + 1}
                continue
            if known is not None:
                contradicted.append({"field": name, "before": known.get("value"), "after": value,
                                     "documents_before": int(known.get("documents") or 0)})
            values[name] = {"value": value, "documents": 1}
        entry.values = values
        entry.header, entry.numbers = list(fingerprint.header), list(fingerprint.numbers)
        entry.documents = (entry.documents or 0) + 1
        entry.example_documents = [str(document.pk), *[d for d in (entry.example_documents or [])
                                                        if d != str(document.pk)]][:MAX_EXAMPLES]
        entry.save()
        record(actor=actor, action="memory.learned", object_type="sender_memory", object_id=str(entry.pk),
               document_id=document.pk, payload={"doc_type": document.doc_type, "created": created,
                                                 "fields": sorted(verified), "documents": entry.documents,
                                                 "similarity": found[1] if found else None})
        for change in contradicted:
            record(actor=actor, action="memory.contradicted", object_type="sender_memory", object_id=str(entry.pk),
                   document_id=document.pk, payload=jsonable(change))
    return entry


def sender_memory_delete(*, entry: SenderMemory, actor: Actor) -> None:
    """Forget one sender (audited with what was remembered); the next document of that sender
    is read as from a stranger."""
    with transaction.atomic():
        payload = {"doc_type": entry.doc_type, "client": entry.client_id, "documents": entry.documents,
                   "values": jsonable({k: v.get("value") for k, v in (entry.values or {}).items()})}
        pk = entry.pk
        SenderMemory.objects.filter(pk=pk).delete()
        record(actor=actor, action="memory.deleted", object_type="sender_memory", object_id=str(pk), payload=payload)
