"""Thin views over reviewer.services and reviewer.selectors. Every page needs a signed-in user
with the right permission; every change is a POST with a CSRF token."""

from __future__ import annotations

import csv
import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from docproc import services as document_services
from docproc.audit.export import mask_payload, mask_value, user_sees_values
from docproc.audit.models import AuditEvent
from docproc.audit.service import Actor, record
from docproc.doctypes import DOC_TYPES, UnknownDocType, get_doctype
from docproc.models import (
    ApiClient,
    CalibrationProposal,
    Document,
    DocumentStatus,
    Field,
    FieldStatus,
    Page,
    SenderMemory,
)
from docproc.netaddr import client_ip
from docproc.selectors import document_latest_run, document_runs
from docproc.storage import file_exists

from . import cells, roles, selectors, services, timezones
from .charts import bar_chart
from .filters import QueueFilterForm
from .models import (
    CorrectionReason,
    FieldCorrection,
    RejectReason,
    ReviewerProfile,
    ReviewTask,
    ThresholdSetting,
)
from .services import ReviewError

log = logging.getLogger(__name__)


def permission(perm: str):
    """login_required, then a 403 page for a signed-in user without ``perm``."""

    def wrap(view):
        def inner(request: HttpRequest, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied
            zone, source = timezones.request_time_zone(request)
            request.time_zone, request.time_zone_source = zone, source  # type: ignore[attr-defined]
            with timezone.override(zone):
                return view(request, *args, **kwargs)

        inner.__name__ = view.__name__
        inner.__doc__ = view.__doc__
        return login_required(inner)

    return wrap


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _refused(request: HttpRequest, exc: ReviewError, back: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status)
    messages.error(request, exc.detail)
    return redirect(back)


def _open_next(request: HttpRequest) -> HttpResponse:
    task = services.review_task_claim_next(user=request.user)
    if task is None:
        messages.info(request, "The queue is empty: nothing left to review.")
        return redirect("reviewer:queue")
    return redirect("reviewer:review", document_id=task.document_id)


# --- error pages -------------------------------------------------------------------------------

def _same_site_referer(request: HttpRequest) -> str:
    ref = request.headers.get("Referer", "")
    host = request.get_host()
    for scheme in ("http://", "https://"):
        if ref.startswith(f"{scheme}{host}/"):
            path = ref[len(scheme) + len(host):]
            return path if path != request.get_full_path() else ""
    return ""


def _error_page(request: HttpRequest, status: int, code: str, title: str, detail: str) -> HttpResponse:
    """An HTML error in the site's layout for people, the API's JSON error for programs."""
    if request.path.startswith("/api/") or (_wants_json(request) and "text/html" not in request.headers.get("Accept", "")):
        return JsonResponse({"code": code, "detail": detail}, status=status)
    return render(request, "reviewer/error.html", {"status": status, "title": title, "detail": detail,
                                                   "back": _same_site_referer(request)}, status=status)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 404, "not_found", "Not found",
                       "There is nothing at this address: the document may have been purged, or the link is wrong.")


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 403, "permission_denied", "Not allowed",
                       "Your role does not allow this page or action. A supervisor can change your role.")


# --- profile -----------------------------------------------------------------------------------

@permission(roles.VIEW)
def profile(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            timezones.profile_time_zone_set(user=request.user, time_zone=request.POST.get("time_zone", "").strip())
        except ReviewError as exc:
            return _refused(request, exc, reverse("reviewer:profile"))
        messages.success(request, "Time zone saved.")
        return redirect("reviewer:profile")
    chosen = ReviewerProfile.objects.filter(user=request.user).values_list("time_zone", flat=True).first() or ""
    return render(request, "reviewer/profile.html", {
        "zones": timezones.known_zones(), "chosen": chosen,
        "browser_zone": timezones.browser_time_zone(request), "now": timezone.now(),
    })


# --- queue -------------------------------------------------------------------------------------

@permission(roles.VIEW)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET)
    bad = not form.is_valid()
    if bad:
        messages.error(request, f"Filter ignored: {form.problems()}.")
    f = form.filters()
    tasks = selectors.queue_tasks(user=request.user, doc_type=f["doc_type"], client_id=f["client"],
                                  older_than=f["older_than"], scope=f["scope"] or "open")
    stats = selectors.queue_stats(tasks)
    if _wants_json(request):  # the counts of one filter: saved filters and the refreshing queue read them
        return JsonResponse({k: stats[k] for k in ("total", "claimed", "escalated", "overdue")}
                            | {"oldest": stats["oldest"].isoformat() if stats["oldest"] else None},
                            status=400 if bad else 200)
    rows = list(tasks.select_related("document", "assignee", "client")[:50])
    reviewers = []
    if request.user.has_perm(roles.SUPERVISE):
        reviewers = list(get_user_model().objects.filter(is_active=True, groups__name__in=[roles.REVIEWER, roles.SUPERVISOR])
                         .distinct().order_by("username"))
    return render(request, "reviewer/queue.html", {
        "rows": rows, "stats": stats, "filters": f, "doc_types": sorted(DOC_TYPES),
        "clients": ApiClient.objects.order_by("name").only("id", "name"), "age_filters": list(selectors.AGE_FILTERS),
        "can_review": request.user.has_perm(roles.REVIEW), "can_supervise": request.user.has_perm(roles.SUPERVISE),
        "reviewers": reviewers, "now": timezone.now(),
    }, status=400 if bad else 200)


@permission(roles.REVIEW)
@require_POST
def next_document(request: HttpRequest) -> HttpResponse:
    return _open_next(request)


@permission(roles.REVIEW)
@require_POST
def claim(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask, document_id=document_id, state=ReviewTask.State.OPEN)
    try:
        services.review_task_claim(task=task, user=request.user)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:queue"))
    return redirect("reviewer:review", document_id=document_id)


# --- review screen ------------------------------------------------------------------------------

def _latest_fields(document_id) -> list[Field]:
    run = document_latest_run(document_id=document_id)
    return list(Field.objects.filter(document_id=document_id, run__in=run).select_related("reviewed_by").order_by("position"))


def _field_view(f: Field, thresholds: dict[str, float]) -> dict[str, Any]:
    threshold = thresholds.get(f.name, f.threshold)
    is_table = isinstance(f.value, list) or isinstance(f.original_value, list)
    text = json.dumps(f.value, ensure_ascii=False) if is_table else ("" if f.value is None else str(f.value))
    box = None
    if f.bbox and len(f.bbox) == 4:
        x0, y0, x1, y1 = (max(0.0, min(1.0, float(v))) for v in f.bbox)
        box = {"left": x0 * 100, "top": y0 * 100, "width": max(0.3, (x1 - x0) * 100), "height": max(0.3, (y1 - y0) * 100)}
    band = "high" if f.confidence >= threshold else ("mid" if f.confidence >= threshold - 0.25 else "low")
    machine = f.original_value
    machine_text = json.dumps(machine, ensure_ascii=False) if isinstance(machine, (list, dict)) else ("" if machine is None else str(machine))
    return {"f": f, "text": text, "machine_text": machine_text, "is_table": is_table, "threshold": threshold, "box": box, "band": band,
            "confidence_pct": round(f.confidence * 100), "pending": f.status == FieldStatus.NEEDS_REVIEW}


def _table_editor(doc: Document, fv: dict[str, Any], pages: dict[int, Page], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """What the line-item editor needs: the columns (from the document type), the rows with a box
    per cell, the column that adds up to the printed total and the field holding that total (the
    type's one top-level amount field, when it has exactly one)."""
    f = fv["f"]
    try:
        doctype = get_doctype(doc.doc_type)
        spec = doctype.field(f.name)
        columns = [s.name for s in spec.item_fields]
        sum_column = next((s.name for s in spec.item_fields if s.type == "amount"), "")
        amounts = [s.name for s in doctype.fields if s.type == "amount"]
    except (UnknownDocType, KeyError):
        columns, sum_column, amounts = [], "", []
    rows = f.value if isinstance(f.value, list) else []
    for row in rows:
        for k in (row or {}) if isinstance(row, dict) else ():
            if k not in columns:
                columns.append(k)
    boxes = cells.table_cells(doc, f, pages)
    total = next((x for x in fields if x["f"].name == amounts[0]), None) if len(amounts) == 1 else None
    return {
        "columns": columns, "sum_column": sum_column,
        "total_field_id": total["f"].pk if total else "", "total_name": total["f"].name if total else "",
        "rows": [{"cells": [{"name": c, "value": "" if not isinstance(row, dict) or row.get(c) is None else str(row[c]),
                             "box": (boxes[i].get(c) if i < len(boxes) else None)} for c in columns]}
                 for i, row in enumerate(rows)],
    }


@permission(roles.REVIEW)
@require_GET
def review(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask.objects.select_related("document", "document__client"), document_id=document_id)
    if task.state != ReviewTask.State.OPEN or task.assignee_id != request.user.pk:
        messages.info(request, "You do not hold this document; it opens read-only.")
        return redirect("reviewer:document", document_id=document_id)
    doc = task.document
    thresholds = services.thresholds_for(doc.doc_type)
    fields = [_field_view(f, thresholds) for f in _latest_fields(doc.pk)]
    pages = list(Page.objects.filter(document=doc).order_by("number"))
    run = document_latest_run(document_id=doc.pk).first()
    by_number = {p.number: p for p in pages}
    for fv in fields:
        if fv["is_table"]:
            fv["table"] = _table_editor(doc, fv, by_number, fields)
    return render(request, "reviewer/review.html", {
        "task": task, "doc": doc, "fields": fields, "pages": pages,
        "pending": sum(1 for f in fields if f["pending"]),
        "confident_pending": 0 if doc.review_sample else sum(
            1 for f in fields if f["pending"] and services.field_is_confident(f["f"], f["threshold"])),
        # Said once, in a reviewer's words; the cause itself is on the details page and in the audit log.
        "fallback": bool(run and run.fallback_reason),
        "correction_reasons": CorrectionReason.choices, "reject_reasons": RejectReason.choices,
        "renew_every": max(5, min(60, services.lock_seconds() // 3)),
    })


@permission(roles.REVIEW)
@require_POST
def heartbeat(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask, document_id=document_id)
    try:
        task = services.review_task_renew(task=task, user=request.user)
    except ReviewError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status)
    return JsonResponse({"locked_until": task.locked_until.isoformat()})


@permission(roles.REVIEW)
@require_POST
def field_action(request: HttpRequest, document_id, field_id: int) -> HttpResponse:
    back = reverse("reviewer:review", kwargs={"document_id": document_id})
    try:
        if request.POST.get("action") == "accept":
            field = services.field_accept(document_id=document_id, field_id=field_id, user=request.user,
                                          confirm=request.POST.get("confirm") == "1")
        else:
            field = services.field_correct(document_id=document_id, field_id=field_id, user=request.user,
                                           raw_value=request.POST.get("value", ""), reason=request.POST.get("reason", ""),
                                           note=request.POST.get("note", ""))
    except ReviewError as exc:
        return _refused(request, exc, back)
    if _wants_json(request):
        view = _field_view(field, services.thresholds_for(field.document.doc_type))
        pending = Field.objects.filter(document_id=document_id, status=FieldStatus.NEEDS_REVIEW,
                                       run_id=field.run_id).count()
        return JsonResponse({"id": field.pk, "status": field.status, "text": view["text"],
                             "messages": list(field.messages or []), "pending": pending, "valid": field.valid,
                             "confidence": field.confidence, "source": field.source})
    return redirect(back)


@permission(roles.REVIEW)
@require_POST
def accept_confident(request: HttpRequest, document_id) -> HttpResponse:
    back = reverse("reviewer:review", kwargs={"document_id": document_id})
    try:
        names = services.fields_accept_confident(document_id=document_id, user=request.user)
    except ReviewError as exc:
        return _refused(request, exc, back)
    messages.success(request, f"Accepted {len(names)} confident field(s)." if names else "No waiting field reaches its threshold.")
    return redirect(back)


@permission(roles.REVIEW)
@require_POST
def submit(request: HttpRequest, document_id) -> HttpResponse:
    try:
        services.document_review_submit(document_id=document_id, user=request.user)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:review", kwargs={"document_id": document_id}))
    messages.success(request, "Review submitted.")
    return _open_next(request)


@permission(roles.REVIEW)
@require_POST
def reject(request: HttpRequest, document_id) -> HttpResponse:
    try:
        services.document_reject(document_id=document_id, user=request.user, reason=request.POST.get("reason", ""),
                                 note=request.POST.get("note", ""))
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:review", kwargs={"document_id": document_id}))
    messages.success(request, "Document rejected.")
    return _open_next(request)


@permission(roles.REVIEW)
@require_POST
def postpone(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask, document_id=document_id)
    try:
        services.review_task_postpone(task=task, user=request.user, note=request.POST.get("note", ""))
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:review", kwargs={"document_id": document_id}))
    messages.info(request, "Postponed: the document went back to the queue.")
    return _open_next(request)


def _problem_note(document_id, page: str, field: str, text: str) -> str:
    """A reviewer's problem report as the escalation note, naming the page and field it is about
    (only a page and a field this document has)."""
    where = []
    if page.isdigit() and Page.objects.filter(document_id=document_id, number=int(page)).exists():
        where.append(f"page {int(page)}")
    if field and Field.objects.filter(document_id=document_id, name=field).exists():
        where.append(f"field {field}")
    return f"Problem report ({', '.join(where) or 'whole document'}): {text.strip()}"


@permission(roles.REVIEW)
@require_POST
def escalate(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask, document_id=document_id)
    note = request.POST.get("note", "")
    if request.POST.get("report") and note.strip():
        note = _problem_note(document_id, request.POST.get("page", ""), request.POST.get("field", ""), note)
    try:
        services.review_task_escalate(task=task, user=request.user, note=note)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:review", kwargs={"document_id": document_id}))
    messages.info(request, "Escalated to a supervisor.")
    return _open_next(request)


@login_required
@require_POST
def release(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask, document_id=document_id)
    try:
        services.review_task_release(task=task, user=request.user, note=request.POST.get("note", ""))
    except ReviewError as exc:
        if exc.status == 403:
            raise PermissionDenied from None
        return _refused(request, exc, reverse("reviewer:queue"))
    messages.info(request, "Released: the document is back in the queue.")
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/review/") else "reviewer:queue")


@permission(roles.SUPERVISE)
@require_POST
def reassign(request: HttpRequest, document_id) -> HttpResponse:
    task = get_object_or_404(ReviewTask, document_id=document_id)
    to_user = get_object_or_404(get_user_model(), pk=request.POST.get("to_user") or 0)
    try:
        services.review_task_reassign(task=task, user=request.user, to_user=to_user)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:queue"))
    messages.success(request, f"Reassigned to {to_user.get_username()}.")
    return redirect("reviewer:queue")


@permission(roles.SUPERVISE)
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Assign a selection of queue rows to one reviewer, or give them one priority."""
    query = request.POST.get("query", "")
    back = reverse("reviewer:queue") + (f"?{query}" if query and query.isprintable() else "")
    ids = request.POST.getlist("task")[:200]
    tasks = list(ReviewTask.objects.filter(document_id__in=[i for i in ids if _is_uuid(i)], state=ReviewTask.State.OPEN))
    if not tasks:
        messages.error(request, "Select at least one document in the list.")
        return redirect(back)
    action = request.POST.get("action")
    done, refused = 0, []
    to_user = None
    if action == "assign":
        to_user = get_user_model().objects.filter(pk=request.POST.get("to_user") or 0).first()
        if to_user is None:
            messages.error(request, "Choose the reviewer to assign the selection to.")
            return redirect(back)
    elif action == "priority":
        try:
            priority = int(request.POST.get("priority", ""))
        except ValueError:
            messages.error(request, "A priority is a whole number.")
            return redirect(back)
    else:
        messages.error(request, "Choose an action for the selection.")
        return redirect(back)
    for task in tasks:
        try:
            if to_user is not None:
                services.review_task_reassign(task=task, user=request.user, to_user=to_user)
            else:
                services.review_task_prioritise(task=task, user=request.user, priority=priority)
            done += 1
        except ReviewError as exc:
            refused.append(exc.detail)
    what = f"Assigned {done} to {to_user.get_username()}." if to_user is not None else f"Set priority {priority} on {done}."
    if done:
        messages.success(request, what)
    for detail in sorted(set(refused)):
        messages.error(request, detail)
    return redirect(back)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- page images --------------------------------------------------------------------------------

@permission(roles.VIEW)
@require_GET
def page_image(request: HttpRequest, document_id, number: int) -> HttpResponse:
    """A page preview, from private storage, to staff allowed to see results only. The bytes are
    streamed from the storage (a bucket too) through this view, after its permission check; no
    link to the storage itself is handed to the browser (README, "Storage")."""
    page = get_object_or_404(Page, document_id=document_id, number=number)
    if not file_exists(page.image):
        raise Http404("no image for this page")
    response = FileResponse(default_storage.open(page.image, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- document page ------------------------------------------------------------------------------

@permission(roles.VIEW)
@require_GET
def document(request: HttpRequest, document_id) -> HttpResponse:
    doc = get_object_or_404(Document.objects.select_related("client"), pk=document_id)
    task = ReviewTask.objects.select_related("assignee", "closed_by").filter(document=doc).first()
    events = list(AuditEvent.objects.filter(document_id=doc.pk).order_by("seq")[:500])
    runs = list(document_runs(document_id=doc.pk))
    reruns = [_rerun_view(r) for r in runs if r.rerun_state]
    thresholds = services.thresholds_for(doc.doc_type)
    fields = [_field_view(f, thresholds) for f in _latest_fields(doc.pk)]
    history = list(FieldCorrection.objects.filter(document=doc).select_related("user").order_by("at", "id"))
    pages = list(Page.objects.filter(document=doc).order_by("number"))
    timeline = selectors.document_timeline(doc, events)
    if not user_sees_values(request.user):  # the audit log's masking rule, here as on /audit/
        for e in events:
            e.payload, _ = mask_payload(e.action, e.payload)
        for c in history:
            c.old_value, c.new_value, c.note = mask_value(c.old_value), mask_value(c.new_value), mask_value(c.note or None)
    return render(request, "reviewer/document.html", {
        "doc": doc, "task": task, "events": events, "runs": runs, "fields": fields, "history": history, "pages": pages,
        "reruns": reruns, "rerunnable": doc.status in document_services.REPROCESSABLE and doc.purged_at is None,
        "timeline": timeline, "live": doc.status in (DocumentStatus.RECEIVED, DocumentStatus.PROCESSING),
        "can_supervise": request.user.has_perm(roles.SUPERVISE),
        "can_claim": bool(task and task.state == ReviewTask.State.OPEN and request.user.has_perm(roles.REVIEW)
                          and task.assignee_id != request.user.pk
                          and (task.assignee_id is None or task.locked_until is None or task.locked_until < timezone.now())),
        "is_holder": bool(task and task.state == ReviewTask.State.OPEN and task.assignee_id == request.user.pk),
    })


def _rerun_view(run) -> dict[str, Any]:
    """A re-run beside the run it was made from: per field, both values and whether they differ."""
    def text(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else ("" if v is None else str(v))

    before = {f.name: f for f in Field.objects.filter(run_id=run.reprocess_of_id)} if run.reprocess_of_id else {}
    rows = []
    for f in run.fields.order_by("position"):
        old = before.get(f.name)
        rows.append({"name": f.name, "before": text(old.value if old else None), "after": text(f.value),
                     "confidence": f.confidence, "changed": (old.value if old else None) != f.value})
    return {"run": run, "rows": rows, "changed": sum(1 for r in rows if r["changed"])}


@permission(roles.SUPERVISE)
@require_POST
def reprocess(request: HttpRequest, document_id) -> HttpResponse:
    doc = get_object_or_404(Document, pk=document_id)
    back = reverse("reviewer:document", args=[doc.pk]) + "#reruns"
    try:
        services.document_reprocess_now(user=request.user, document=doc, engine=request.POST.get("engine", "").strip(),
                                        model=request.POST.get("model", "").strip())
    except ReviewError as exc:
        return _refused(request, exc, back)
    messages.success(request, "The extraction runs again beside the current values; they stay until you choose.")
    return redirect(back)


@permission(roles.SUPERVISE)
@require_POST
def rerun_decide(request: HttpRequest, document_id, run_id: int) -> HttpResponse:
    back = reverse("reviewer:document", args=[document_id]) + "#reruns"
    choice = request.POST.get("choice", "")
    if choice not in ("adopt", "keep"):
        return _refused(request, ReviewError("invalid_choice", "Choose to use the re-run's values or keep the current ones.", 400), back)
    try:
        services.rerun_decide(user=request.user, document_id=document_id, run_id=run_id, adopt=choice == "adopt")
    except ReviewError as exc:
        return _refused(request, exc, back)
    messages.success(request, "The re-run's values are the document's result now." if choice == "adopt"
                     else "The current values are kept.")
    return redirect(back)


@permission(roles.VIEW)
@require_GET
def document_status(request: HttpRequest, document_id) -> HttpResponse:
    row = Document.objects.filter(pk=document_id).values("status", "stage", "updated_at").first()
    if row is None:
        raise Http404
    return JsonResponse({"status": row["status"], "stage": row["stage"], "updated_at": row["updated_at"].isoformat()})


# --- work in progress ---------------------------------------------------------------------------

@permission(roles.SUPERVISE)
@require_GET
def work(request: HttpRequest) -> HttpResponse:
    """Documents that are not in the queue yet (processing) or never will be (failed)."""
    view = "failed" if request.GET.get("view") == "failed" else "processing"
    now = timezone.now()
    since = now - timedelta(days=14)
    counts = selectors.pipeline_counts(since=since)
    rows = list((selectors.documents_failed(since=since) if view == "failed" else selectors.documents_in_progress())[:200])
    stuck_after = timedelta(seconds=settings.DOCPROC_STUCK_AFTER_SECONDS)
    return render(request, "reviewer/work.html", {
        "view": view, "counts": counts, "now": now,
        "rows": [{"d": d, "stuck": view == "processing" and now - d.updated_at > stuck_after, **_retry_state(d)}
                 for d in rows],
        "stuck_after": int(stuck_after.total_seconds()),
        "stuck_count": sum(1 for d in rows if view == "processing" and now - d.updated_at > stuck_after),
    })


def _retry_state(d: Document) -> dict[str, Any]:
    """Whether the failed list offers Retry for ``d``, or why not (the service checks again)."""
    if d.status != DocumentStatus.FAILED:
        return {"retryable": False, "not_retryable": ""}
    if d.purged_at is not None:
        return {"retryable": False, "not_retryable": "file purged"}
    if d.error_code in document_services.BAD_FILE_CODES:
        return {"retryable": False, "not_retryable": "bad file"}
    return {"retryable": True, "not_retryable": ""}


@permission(roles.SUPERVISE)
@require_GET
def sender_memory(request: HttpRequest) -> HttpResponse:
    """The vendor memory: per client and document type, each sender's fingerprint, the values
    reviewers verified and on how many documents; supervisors delete wrong entries here."""
    entries = SenderMemory.objects.select_related("client").order_by("client__name", "doc_type", "-updated_at")[:500]
    return render(request, "reviewer/memory.html", {"entries": [
        {"e": e, "values": [(name, v.get("value"), v.get("documents")) for name, v in (e.values or {}).items()],
         "header": " / ".join((e.header or [])[:3])} for e in entries]})


@permission(roles.SUPERVISE)
@require_POST
def sender_memory_delete(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        services.sender_memory_delete(entry_id=entry_id, user=request.user)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:memory"))
    if _wants_json(request):
        return JsonResponse({"deleted": entry_id})
    messages.success(request, "The memory entry was deleted: that sender's next document is read afresh.")
    return redirect("reviewer:memory")


@permission(roles.SUPERVISE)
@require_POST
def requeue_stuck(request: HttpRequest) -> HttpResponse:
    try:
        queued = services.documents_requeue_stuck_now(user=request.user)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:work"))
    except Exception:  # the broker is down: nothing was lost, the sweeper tries again on its round
        log.exception("requeueing stuck documents failed")
        messages.error(request, "The task queue did not answer; the sweeper will try again on its next round.")
        return redirect("reviewer:work")
    messages.success(request, f"Queued {len(queued)} stuck document(s) again." if queued else "No document is stuck.")
    return redirect("reviewer:work")


@permission(roles.SUPERVISE)
@require_POST
def retry_failed(request: HttpRequest, document_id) -> HttpResponse:
    """Send one failed document through processing again; it leaves the failed list."""
    back = reverse("reviewer:work") + "?view=failed"
    doc = get_object_or_404(Document, pk=document_id)
    try:
        services.document_retry_now(document=doc, user=request.user)
    except ReviewError as exc:
        return _refused(request, exc, back)
    messages.success(request, f"“{doc.original_name}” was queued for processing again.")
    return redirect(back)


# --- dashboard ----------------------------------------------------------------------------------

@permission(roles.VIEW)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    data = selectors.dashboard(user=request.user)
    can_thresholds = request.user.has_perm(roles.THRESHOLDS)
    can_supervise = request.user.has_perm(roles.SUPERVISE)
    charts = [
        bar_chart([(str(r["day"])[5:], r["auto"] / r["total"] if r["total"] else 0) for r in data["daily_docs"]],
                  title="Documents auto-accepted per day", percent=True),
        bar_chart([(str(r["day"])[5:], r["n"]) for r in data["daily_reviews"]], title="Reviews per day"),
        bar_chart([(r["field_name"], r["rate"]) for r in data["per_field"]], title="Correction rate per field", percent=True),
    ]
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)  # in the user's zone
    ctx: dict[str, Any] = {"d": data, "charts": charts, "can_thresholds": can_thresholds, "can_supervise": can_supervise,
                           "can_export": request.user.has_perm(roles.EXPORT),
                           "mine": selectors.reviewer_stats(user=request.user, since=today) if request.user.has_perm(roles.REVIEW) else None}
    if can_supervise:
        ctx["held"] = list(ReviewTask.objects.filter(state=ReviewTask.State.OPEN, assignee__isnull=False)
                           .select_related("assignee", "document").order_by("locked_until")[:100])
        ctx["escalated"] = list(ReviewTask.objects.filter(state=ReviewTask.State.OPEN, escalated=True)
                                .select_related("document").order_by(*services.queue_order())[:100])
    ctx["precision"] = document_services.measured_precision()
    if can_thresholds:
        ctx["proposals"] = [_proposal_view(p) for p in CalibrationProposal.objects.select_related("client")[:20]]
        overrides = {(t.doc_type, t.field_name): t for t in ThresholdSetting.objects.select_related("updated_by")}
        ctx["thresholds"] = [
            {"doc_type": dt.name, "field": spec.name, "default": spec.review_threshold,
             "override": overrides.get((dt.name, spec.name))}
            for dt in DOC_TYPES.values() for spec in dt.fields
        ]
    return render(request, "reviewer/dashboard.html", ctx)


def _proposal_view(p: CalibrationProposal) -> CalibrationProposal:
    fields = p.proposed.get("fields", {})
    p.rows = [{"key": k, "proposed": v, "current": p.current.get("fields", {}).get(k, {})} for k, v in sorted(fields.items())]
    return p


@permission(roles.THRESHOLDS)
@require_POST
def calibration_decide(request: HttpRequest, proposal_id: int) -> HttpResponse:
    back = reverse("reviewer:dashboard") + "#calibration-proposals"
    choice = request.POST.get("choice", "")
    if choice not in ("apply", "reject"):
        return _refused(request, ReviewError("invalid_choice", "Choose to apply or reject the proposal.", 400), back)
    try:
        services.calibration_decide(user=request.user, proposal_id=proposal_id, apply=choice == "apply")
    except ReviewError as exc:
        return _refused(request, exc, back)
    messages.success(request, "Calibration applied: documents extracted from now on use it." if choice == "apply"
                     else "Calibration proposal rejected.")
    return redirect(back)


@permission(roles.THRESHOLDS)
@require_POST
def threshold(request: HttpRequest) -> HttpResponse:
    try:
        value = float(request.POST.get("threshold", ""))
    except ValueError:
        messages.error(request, "A threshold is a number between 0 and 1.")
        return redirect("reviewer:dashboard")
    try:
        services.threshold_set(user=request.user, doc_type=request.POST.get("doc_type", ""),
                               field_name=request.POST.get("field_name", ""), threshold=value)
    except ReviewError as exc:
        return _refused(request, exc, reverse("reviewer:dashboard"))
    messages.success(request, "Threshold saved.")
    return redirect("reviewer:dashboard")


class _Echo:
    def write(self, value: str) -> str:
        return value


@permission(roles.EXPORT)
@require_GET
def export_corrections(request: HttpRequest) -> HttpResponse:
    """Every field decision as CSV, for auditors and supervisors; values (and notes) masked for
    those the audit log masks them for. The export is audited before the first byte leaves."""
    rows = FieldCorrection.objects.select_related("user").order_by("at", "id").iterator(chunk_size=2000)
    writer = csv.writer(_Echo())
    mask = not user_sees_values(request.user)
    name = f"field-corrections-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
    with transaction.atomic():
        record(actor=Actor.user(request.user), action="review.corrections_exported", object_type="export",
               object_id=name, client_ip=client_ip(request),
               payload={"via": "web", "format": "csv", "file": name, "masked": mask,
                        "rows": FieldCorrection.objects.count()})

    def value(v):
        return json.dumps(mask_value(v) if mask else v, ensure_ascii=False)

    def lines():
        yield writer.writerow(["at", "document", "doc_type", "field", "action", "old_value", "new_value",
                               "previous_status", "confidence", "reason", "note", "user"])
        for c in rows:
            yield writer.writerow([c.at.isoformat(), c.document_id, c.doc_type, c.field_name, c.action,
                                   value(c.old_value), value(c.new_value),
                                   c.previous_status, c.confidence, c.reason, mask_value(c.note or None) if mask else c.note,
                                   c.user.get_username() if c.user else ""])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

