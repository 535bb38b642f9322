"""Auditor UI: filter and page through events, open one to see before and after, export the
current filter as CSV or JSON Lines (streamed) with its manifest.

Who may do what: superusers, and members of the groups auditor, supervisor or admin (or holders
of ``audit.view_auditevent``) read; only auditor and admin (or ``audit.export_auditevent``)
export. Supervisors see field values masked unless DOCPROC_AUDIT_UNMASKED_GROUPS says otherwise.
"""

from __future__ import annotations

import json
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from docproc.netaddr import client_ip

from .actions import ACTIONS
from .chain import GENESIS, canonical, event_hash, is_purged
from .export import (
    AuditFilter,
    BadFilter,
    Tally,
    bounded,
    manifest,
    mask_payload,
    stream,
    user_sees_values,
)
from .models import AuditEvent
from .service import Actor, record

READ_GROUPS = ("auditor", "supervisor", "admin")
EXPORT_GROUPS = ("auditor", "admin")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def _in_groups(user, names) -> bool:
    return user.groups.filter(name__in=names).exists()


def can_read(user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("audit.view_auditevent")
                               or _in_groups(user, READ_GROUPS))


def can_export(user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("audit.export_auditevent")
                               or _in_groups(user, EXPORT_GROUPS))


def _require(check):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _filter(request, data) -> AuditFilter | None:
    try:
        return AuditFilter.parse(data)
    except BadFilter as exc:
        request.filter_error = str(exc)
        return None


def _bad_filter(request) -> JsonResponse:
    return JsonResponse({"code": "invalid_filter", "detail": request.filter_error}, status=400)


@require_GET
@_require(can_read)
def event_list(request):
    flt = _filter(request, request.GET)
    qs = AuditEvent.objects.none() if flt is None else flt.apply(AuditEvent.objects.all())
    page = Paginator(qs.order_by("-seq"), settings.DOCPROC_AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    show_values = user_sees_values(request.user)
    rows = []
    for e in page.object_list:
        payload = e.payload
        if not show_values:
            payload, _ = mask_payload(e.action, payload)
        summary = "purged" if is_purged(payload) else canonical(payload)
        rows.append({"event": e, "summary": summary[:160] + ("…" if len(summary) > 160 else "")})
    query = request.GET.copy()
    query.pop("page", None)
    # The export buttons and manifest links are pinned to the head seen now, so an export and
    # the manifest fetched for it cover the same events.
    pinned = bounded(flt) if flt is not None else None
    return render(request, "audit/event_list.html", {
        "filter_fields": sorted(pinned.as_dict().items()) if pinned else [],
        "head_seq": pinned.to_seq if pinned else None,
        "manifest_query": pinned.query_string() if pinned else "",
        "page": page, "rows": rows, "filter": flt, "error": getattr(request, "filter_error", ""),
        "actions": sorted(ACTIONS), "values": request.GET, "query": query.urlencode(),
        "can_export": can_export(request.user), "values_masked": not show_values,
    }, status=400 if flt is None else 200)


def _before_after(payload: Any) -> list[tuple[str, str, str]]:
    """Rows (key, before, after) for the event page: one per key when both are objects."""
    if not isinstance(payload, dict) or ("before" not in payload and "after" not in payload):
        return []
    before, after = payload.get("before"), payload.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        return [(k, _text(before.get(k)), _text(after.get(k))) for k in sorted(set(before) | set(after))]
    label = payload.get("field", "")
    return [(label if isinstance(label, str) else "", _text(before), _text(after))]


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@require_GET
@_require(can_read)
def event_detail(request, seq: int):
    event = AuditEvent.objects.filter(seq=seq).first()
    if event is None:
        raise Http404("no such event")
    data = event.chain_dict()
    previous = AuditEvent.objects.filter(seq=seq - 1).values_list("hash", flat=True).first() if seq > 1 else GENESIS
    payload = event.payload
    masked = False
    if not user_sees_values(request.user):
        payload, masked = mask_payload(event.action, payload)
    rest = {k: v for k, v in payload.items() if k not in ("before", "after")} if isinstance(payload, dict) else payload
    spec = ACTIONS.get(event.action)
    return render(request, "audit/event_detail.html", {
        "event": event, "spec": spec, "before_after": _before_after(payload),
        "rest": json.dumps(rest, indent=2, ensure_ascii=False, sort_keys=True), "masked": masked,
        "purged": event.purged,
        "hash_ok": event_hash(event.prev_hash, data) == event.hash,
        "link_ok": previous == event.prev_hash,
        "newer": AuditEvent.objects.filter(seq=seq + 1).exists(),
    })


@require_POST
@_require(can_export)
def export(request, fmt: str):
    """Stream the export of the posted filter. The ``audit.exported`` event is written before
    the first byte leaves, with the sequence bound that makes the manifest reproducible."""
    if fmt not in CONTENT_TYPES:
        raise Http404("unknown format")
    flt = _filter(request, request.POST)
    if flt is None:
        return _bad_filter(request)
    flt = bounded(flt)
    mask = not user_sees_values(request.user)
    name = f"audit-{timezone.now():%Y%m%dT%H%M%SZ}-to-{flt.to_seq}.{fmt}"
    with transaction.atomic():
        record(actor=Actor.user(request.user), action="audit.exported", object_type="export", object_id=name,
               client_ip=client_ip(request),
               payload={"via": "web", "format": fmt, "file": name, "filters": flt.as_dict(), "masked": mask})
    response = StreamingHttpResponse(stream(flt, fmt, mask=mask), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Audit-Manifest"] = f"/audit/export/{fmt}/manifest/?{flt.query_string()}"
    return response


@require_GET
@_require(can_export)
def export_manifest(request, fmt: str):
    """The manifest of the export with these filters (``to_seq`` included): computed by
    streaming the same bytes again, so it needs no storage and stays constant in memory."""
    if fmt not in CONTENT_TYPES:
        raise Http404("unknown format")
    flt = _filter(request, request.GET)
    if flt is None:
        return _bad_filter(request)
    flt = bounded(flt)
    mask = not user_sees_values(request.user)
    tally = Tally()
    for _ in stream(flt, fmt, mask=mask, tally=tally):
        pass
    data = manifest(tally, flt=flt, fmt=fmt, mask=mask, file_name=request.GET.get("file", ""),
                    exported_by=request.user.get_username())
    response = JsonResponse(data, json_dumps_params={"indent": 2, "sort_keys": True})
    response["Content-Disposition"] = f'attachment; filename="audit-to-{flt.to_seq}.{fmt}.manifest.json"'
    return response
