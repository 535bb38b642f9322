"""What the document domain asks of review, and nothing else: open a document's review task,
the review thresholds supervisors set, the machine's confidence before a decision, and clearing
the review history of a purged document.

docproc/ imports this module only; the review actions themselves are in reviewer/services.py.
"""

from __future__ import annotations

import dataclasses

from docproc.doctypes import DocType
from docproc.models import Document

from .models import NO_DEADLINE, FieldCorrection, ReviewTask, ThresholdSetting


def review_task_open(*, document: Document) -> ReviewTask:
    """The document's review task, created when it enters review (idempotent)."""
    task, _ = ReviewTask.objects.get_or_create(
        document=document,
        defaults={"doc_type": document.doc_type, "client_id": document.client_id, "priority": document.priority,
                  "sla_deadline": document.sla_deadline, "due_at": document.sla_deadline or NO_DEADLINE,
                  "received_at": document.created_at},
    )
    return task


def thresholds_for(doc_type: str) -> dict[str, float]:
    """Supervisor overrides of the schema's review thresholds for ``doc_type``."""
    return dict(ThresholdSetting.objects.filter(doc_type=doc_type).values_list("field_name", "threshold"))


def doctype_with_thresholds(doctype: DocType) -> DocType:
    """``doctype`` with its fields' review thresholds replaced by the supervisors' settings, so
    routing (auto-accept or review) follows them for every document extracted afterwards."""
    overrides = thresholds_for(doctype.name)
    if not overrides:
        return doctype
    fields = tuple(dataclasses.replace(f, review_threshold=overrides[f.name]) if f.name in overrides else f
                   for f in doctype.fields)
    return dataclasses.replace(doctype, fields=fields)


def machine_confidences(*, document: Document) -> dict[int, float]:
    """Per field id, the confidence a field had before anyone decided on it (a correction sets
    the field's own confidence to a person's 1.0): the first decision's record of it."""
    out: dict[int, float] = {}
    for field_id, confidence in (FieldCorrection.objects.filter(document=document).order_by("at", "id")
                                 .values_list("field_id", "confidence")):
        out.setdefault(field_id, confidence)
    return out


def review_history_purge(*, document: Document) -> int:
    """Clear what the review history keeps of a purged document's content: each decision's old
    and new value and the reviewer's note. Returns the number of decisions cleared."""
    return FieldCorrection.objects.filter(document=document).update(old_value=None, new_value=None, note="")
