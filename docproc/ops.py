"""Operations pages for supervisors: webhook deliveries that gave up (the dead-letter list), and\nre-sending them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from docproc import dispatch, webhooks
from docproc.audit.service import Actor
from docproc.models import WebhookDelivery

SUPERVISE = "reviewer.supervise_reviews"


@login_required
def webhook_deliveries(request):
    """Webhook deliveries by status (default ``dead``), newest first, as JSON. Supervisors and
    staff only; a delivery's payload is not shown, only where it went and why it failed."""
    if not (request.user.has_perm(SUPERVISE) or request.user.is_staff):
        return JsonResponse({"code": "permission_denied", "detail": "Supervisors only."}, status=403)
    status = request.GET.get("status", WebhookDelivery.Status.DEAD)
    if status not in WebhookDelivery.Status.values:
        return JsonResponse({"code": "invalid_request", "detail": f"status is one of {WebhookDelivery.Status.values}."},
                            status=400)
    rows = (WebhookDelivery.objects.filter(status=status).select_related("client").order_by("-created_at")
            .prefetch_related("attempt_log")[:200])
    return JsonResponse({"status": status, "deliveries": [
        {"id": str(d.id), "document": str(d.document_id), "client": d.client.name, "event": d.event, "url": d.url,
         "attempts": d.attempts, "last_status_code": d.last_status_code, "last_error": d.last_error,
         "created_at": d.created_at.isoformat(),
         "attempt_log": [{"number": a.number, "at": a.at.isoformat(), "status_code": a.status_code, "error": a.error}
                         for a in d.attempt_log.all()]}
        for d in rows
    ]})


def _may_supervise(user) -> bool:
    return user.has_perm(SUPERVISE) or user.is_staff


@login_required
def dead_letters(request):
    """The dead letters as a page, each with a button that re-sends it (supervisors and staff)."""
    if not _may_supervise(request.user):
        return JsonResponse({"code": "permission_denied", "detail": "Supervisors only."}, status=403)
    rows = (WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD).select_related("client", "document")
            .order_by("-created_at")[:200])
    return render(request, "ops/dead_letters.html", {"deliveries": rows})


@login_required
@require_POST
def redeliver(request, delivery_id):
    """Re-send one dead letter: a fresh round of attempts, audited under the supervisor's name.
    The first attempt is queued at once (the retry job sends it if the broker is down)."""
    if not _may_supervise(request.user):
        return JsonResponse({"code": "permission_denied", "detail": "Supervisors only."}, status=403)
    try:
        delivery = webhooks.delivery_redeliver(delivery_id=delivery_id, actor=Actor.user(request.user))
    except webhooks.RedeliveryRefused as exc:
        messages.error(request, f"Not re-sent: {exc.detail}")
    else:
        dispatch.webhook_deliver_enqueue(delivery.id)
        messages.success(request, f"Delivery {delivery.id} will be sent again to {delivery.url}.")
    return redirect("ops-dead-letters")
