"""The result document shape, shared by the API, webhooks and ``manage.py extract``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from docproc.pipeline.types import FieldResult


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def field_json(*, value, normalized, confidence, status, page, bbox, source, source_words=(), messages=(), word_ids=(),
               valid=True, reasons=(), original_value=None, reviewed_by=None, reviewed_at=None,
               evidence=()) -> dict[str, Any]:
    """One field of a result. ``source`` says who gave the value (extractor, template,
    form_field, fallback, memory, reviewer) and ``source_words`` the words it was read from;
    ``evidence`` why a value is believed beyond the extractor's word (vendor memory). A
    reviewer's value has confidence 1.0; ``original_value`` is the machine's, and
    ``reviewed_by`` / ``reviewed_at`` who decided and when (None until a person did)."""
    return {
        "value": jsonable(value),
        "normalized": jsonable(normalized),
        "confidence": round(float(confidence), 4),
        "status": status,
        "valid": bool(valid),
        "source": source,
        "page": page,
        "bbox": [round(float(v), 5) for v in bbox] if bbox else None,
        "source_words": list(source_words),
        "word_ids": list(word_ids),
        "messages": list(messages),
        "reasons": list(reasons),
        "evidence": list(evidence),
        "original_value": jsonable(original_value),
        "reviewed_by": reviewed_by,
        "reviewed_at": reviewed_at,
    }


def field_result_json(f: FieldResult) -> dict[str, Any]:
    return field_json(
        value=f.value, normalized=f.normalized, confidence=f.confidence, status=f.status,
        page=f.page, bbox=f.bbox, source=f.provenance, source_words=f.source, messages=f.messages, word_ids=f.word_ids,
        valid=f.valid, reasons=f.reasons, original_value=f.value, evidence=f.evidence,
    )


def result_json(
    *, document: dict[str, Any], fields: dict[str, dict[str, Any]], timings: dict[str, float], engines: dict[str, Any]
) -> dict[str, Any]:
    return {"document": document, "fields": fields, "timings": timings, "engines": engines}


def document_json(*, id: str, file: str, doc_type: str, status: str, pages: int, error_code: str = "", error_detail: str = "",
                  external_ref: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id,
        "file": file,
        "doc_type": doc_type,
        "status": status,
        "pages": pages,
        "error": {"code": error_code, "detail": error_detail} if error_code else None,
    }
    if external_ref:
        out["external_ref"] = external_ref
    return out
