"""Reads for the review UI: the queue, a document's timeline, the dashboard's figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from docproc.audit.models import AuditEvent
from docproc.models import Document, DocumentStatus, Field, FieldStatus

from . import roles
from .models import FieldCorrection, ReviewTask
from .services import queue_order

AGE_FILTERS = {"1h": 1, "4h": 4, "24h": 24, "72h": 72}


def queue_tasks(*, user, doc_type: str = "", client_id: str = "", older_than: str = "", scope: str = "open"):
    """Open review tasks in queue order (SLA deadline, priority, age), filtered."""
    qs = ReviewTask.objects.filter(state=ReviewTask.State.OPEN)
    if doc_type:
        qs = qs.filter(doc_type=doc_type)
    if client_id:
        qs = qs.filter(client_id=client_id)
    if older_than in AGE_FILTERS:
        qs = qs.filter(received_at__lte=timezone.now() - timedelta(hours=AGE_FILTERS[older_than]))
    if scope == "mine":
        qs = qs.filter(assignee=user)
    elif scope == "escalated":
        qs = qs.filter(escalated=True)
    return qs.order_by(*queue_order())


def queue_stats(tasks) -> dict[str, Any]:
    """Counts and the oldest item's age, in one query."""
    now = timezone.now()
    agg = tasks.order_by().aggregate(
        total=Count("pk"),
        claimed=Count("pk", filter=Q(assignee__isnull=False, locked_until__gt=now)),
        escalated=Count("pk", filter=Q(escalated=True)),
        overdue=Count("pk", filter=Q(sla_deadline__lt=now)),
        oldest=Min("received_at"),
    )
    agg["oldest_age"] = (now - agg["oldest"]) if agg["oldest"] else None
    return agg


@dataclass(frozen=True, slots=True)
class TimelineStep:
    label: str
    started: datetime
    ended: datetime | None
    kind: str  # status | stage

    @property
    def seconds(self) -> float | None:
        return (self.ended - self.started).total_seconds() if self.ended else None


def document_timeline(doc: Document, events: list[AuditEvent]) -> list[TimelineStep]:
    """Status periods from status changes and pipeline stages from their start/finish events."""
    steps: list[TimelineStep] = []
    status, since = DocumentStatus.RECEIVED.value, doc.created_at
    stage_start: dict[str, datetime] = {}
    for e in events:
        if e.action == "document.status_changed":
            after = e.payload.get("after") if isinstance(e.payload, dict) else None
            if after and after != status:
                steps.append(TimelineStep(status, since, e.at, "status"))
                status, since = after, e.at
        elif e.action == "pipeline.stage_started":
            stage_start[str(e.payload.get("stage"))] = e.at
        elif e.action in ("pipeline.stage_finished", "pipeline.stage_failed"):
            stage = str(e.payload.get("stage"))
            if stage in stage_start:
                label = stage if e.action.endswith("finished") else f"{stage} (failed)"
                steps.append(TimelineStep(label, stage_start.pop(stage), e.at, "stage"))
    for stage, started in stage_start.items():
        steps.append(TimelineStep(f"{stage} (running)", started, None, "stage"))
    steps.append(TimelineStep(status, since, None, "status"))
    return sorted(steps, key=lambda s: (s.started, s.kind != "status"))


def dashboard(*, user, days: int = 14) -> dict[str, Any]:
    """The dashboard's figures over the last ``days`` days. Reviewers see their own reviews only."""
    now = timezone.now()
    since = now - timedelta(days=days)
    open_tasks = ReviewTask.objects.filter(state=ReviewTask.State.OPEN)
    stats = queue_stats(open_tasks)

    finished = Document.objects.filter(finished_at__gte=since)
    doc_counts = finished.aggregate(
        total=Count("pk", filter=~Q(status__in=[DocumentStatus.FAILED])),
        auto=Count("pk", filter=Q(status__in=[DocumentStatus.AUTO_ACCEPTED, DocumentStatus.DELIVERED],
                                  review_task__isnull=True)),
    )
    field_counts = Field.objects.filter(document__finished_at__gte=since).aggregate(
        total=Count("pk"), auto=Count("pk", filter=Q(status=FieldStatus.AUTO_ACCEPTED)))

    reviews = ReviewTask.objects.filter(state=ReviewTask.State.DONE, closed_at__gte=since, closed_by__isnull=False)
    if not user.has_perm(roles.SUPERVISE) and not user.has_perm(roles.EXPORT):
        reviews = reviews.filter(closed_by=user)
    per_reviewer = list(
        reviews.annotate(day=TruncDate("closed_at")).values("closed_by__username", "day")
        .annotate(n=Count("pk")).order_by("day", "closed_by__username")
    )
    decisions = FieldCorrection.objects.filter(at__gte=since)
    per_field = list(
        decisions.values("doc_type", "field_name").annotate(
            decided=Count("field", distinct=True),
            corrected=Count("field", filter=Q(action=FieldCorrection.Action.CORRECTED), distinct=True),
            auto_corrected=Count("field", filter=Q(action=FieldCorrection.Action.CORRECTED,
                                                   previous_status=FieldStatus.AUTO_ACCEPTED), distinct=True),
        ).order_by("doc_type", "field_name")
    )
    for row in per_field:
        row["rate"] = row["corrected"] / row["decided"] if row["decided"] else 0.0
    daily_docs = list(
        finished.annotate(day=TruncDate("finished_at")).values("day").annotate(
            total=Count("pk"),
            auto=Count("pk", filter=Q(status__in=[DocumentStatus.AUTO_ACCEPTED, DocumentStatus.DELIVERED],
                                      review_task__isnull=True)),
        ).order_by("day")
    )
    in_flight = pipeline_counts(since=since)
    daily_reviews = list(reviews.annotate(day=TruncDate("closed_at")).values("day").annotate(n=Count("pk")).order_by("day"))
    return {
        "days": days,
        "queue": stats,
        "pipeline": in_flight,
        "documents": {**doc_counts, "rate": (doc_counts["auto"] / doc_counts["total"]) if doc_counts["total"] else None},
        "fields": {**field_counts, "rate": (field_counts["auto"] / field_counts["total"]) if field_counts["total"] else None},
        "per_reviewer": per_reviewer,
        "per_field": per_field,
        "auto_later_corrected": sum(r["auto_corrected"] for r in per_field),
        "daily_docs": daily_docs,
        "daily_reviews": daily_reviews,
    }


IN_PROGRESS = (DocumentStatus.RECEIVED, DocumentStatus.PROCESSING)


def pipeline_counts(*, since: datetime) -> dict[str, int]:
    """Documents not yet in the queue (received or processing) and documents failed since ``since``."""
    return Document.objects.aggregate(
        processing=Count("pk", filter=Q(status__in=IN_PROGRESS)),
        failed=Count("pk", filter=Q(status=DocumentStatus.FAILED, updated_at__gte=since)),
    )


def documents_in_progress():
    """Received or processing, the longest-unchanged first (a stuck one rises to the top)."""
    return Document.objects.filter(status__in=IN_PROGRESS).select_related("client").order_by("updated_at", "created_at")


def documents_failed(*, since: datetime):
    """Failed since ``since``, the latest first."""
    return (Document.objects.filter(status=DocumentStatus.FAILED, updated_at__gte=since).select_related("client")
            .order_by("-updated_at"))


def reviewer_stats(*, user, since: datetime) -> dict[str, Any]:
    """One reviewer's own work since ``since``: documents closed, the median seconds from claim to
    close, field decisions and corrections."""
    from statistics import median

    closed = list(ReviewTask.objects.filter(state=ReviewTask.State.DONE, closed_by=user, closed_at__gte=since)
                  .values_list("claimed_at", "closed_at"))
    spans = [(end - start).total_seconds() for start, end in closed if start and end and end >= start]
    decisions = FieldCorrection.objects.filter(user=user, at__gte=since).aggregate(
        decided=Count("pk"), corrected=Count("pk", filter=Q(action=FieldCorrection.Action.CORRECTED)))
    return {"documents": len(closed), "median_seconds": round(median(spans)) if spans else None, **decisions}
