"""The document's state machine: the only code that moves ``Document.status``.

A move follows ``ALLOWED_TRANSITIONS`` (docproc/models.py); a bad move raises
``InvalidTransition``, a good one saves the document and writes its ``document.status_changed``
audit event in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from docproc.audit.service import Actor, record
from docproc.models import ALLOWED_TRANSITIONS, FINAL_STATUSES, Document, DocumentStatus, InvalidTransition

__all__ = ("ALLOWED_TRANSITIONS", "InvalidTransition", "document_reopen", "document_transition")


def document_transition(doc: Document, to: str, *, actor: Actor, reason: str = "", **changes: Any) -> None:
    """Move ``doc`` to ``to`` along ALLOWED_TRANSITIONS, save and audit; a bad move raises."""
    if doc.status == DocumentStatus.FAILED:
        raise InvalidTransition(f"document {doc.id}: a failed document leaves failed only by a retry (document_reopen)")
    _move(doc, to, actor=actor, reason=reason, **changes)


def document_reopen(doc: Document, *, actor: Actor) -> None:
    """Move a failed ``doc`` back to the start (received) for a retry: its failure, attempts and
    timings are cleared so the pipeline and the sweeper treat it as newly received. The caller
    (docproc.services.document_retry) decides whether a retry makes sense and queues the work."""
    if doc.status != DocumentStatus.FAILED:
        raise InvalidTransition(f"document {doc.id}: only a failed document is reopened, not a {doc.status} one")
    _move(doc, DocumentStatus.RECEIVED, actor=actor, reason="retry", error_code="", error_detail="", stage="",
          attempts=0, processing_started_at=None, finished_at=None)


def _move(doc: Document, to: str, *, actor: Actor, reason: str, **changes: Any) -> None:
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
    if doc.error_code and to == DocumentStatus.FAILED:
        payload["error"] = {"code": doc.error_code, "detail": doc.error_detail}
    record(actor=actor, action="document.status_changed", object_type="document", object_id=doc.id,
           document_id=doc.id, payload=payload)
