"""Signed webhook deliveries (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), with retries and backoff
ending in a dead-letter status that supervisors see."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from docproc import dispatch
from docproc.audit.service import WORKER, record
from docproc.lifecycle import document_transition
from docproc.models import Document, DocumentStatus, WebhookAttempt, WebhookDelivery
from docproc.selectors import document_result


class UnsafeWebhookUrl(ValueError):
    pass


def check_webhook_url(url: str, *, allow_private: bool | None = None) -> None:
    """Refuse URLs that resolve to loopback, private, link-local or reserved addresses unless
    DOCPROC_WEBHOOK_ALLOW_PRIVATE is set (a webhook must not reach inside the network)."""
    if allow_private is None:
        allow_private = settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("webhook URL must be http(s) with a host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise UnsafeWebhookUrl(f"webhook host does not resolve: {exc}") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast or addr.is_unspecified:
            raise UnsafeWebhookUrl(f"webhook host resolves to a non-public address ({addr})")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = secret.removeprefix("whsec_")
    try:
        key_bytes = base64.b64decode(key, validate=True)
    except ValueError:
        key_bytes = key.encode()
    mac = hmac.new(key_bytes, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook_enqueue(document_id, *, event: str) -> None:
    """Record a delivery of ``event`` for the document's client (if it has a webhook URL) and
    queue its first attempt; a broker that is down leaves it to the retry job."""
    delivery = delivery_create(document_id=document_id, event=event)
    if delivery is not None:
        dispatch.webhook_deliver_enqueue(delivery.id)


def delivery_create(*, document_id, event: str) -> WebhookDelivery | None:
    doc = Document.objects.select_related("client").filter(pk=document_id).first()
    if doc is None or doc.client is None or not doc.client.webhook_url:
        return None
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": document_result(doc)}
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            document=doc, client=doc.client, event=event, url=doc.client.webhook_url, payload=payload,
            next_attempt_at=timezone.now(),
        )
        record(actor=WORKER, action="webhook.queued", object_type="webhook", object_id=delivery.id,
               document_id=doc.id, payload={"event": event, "url": delivery.url})
    return delivery


def backoff_seconds(attempt: int) -> int:
    return min(3600, 5 * 2 ** (attempt - 1))


def delivery_attempt(*, delivery_id) -> str:
    """One attempt. Returns the delivery's status after it."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("client").filter(pk=delivery_id).first()
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return delivery.status if delivery else "missing"
        delivery.attempts += 1
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff_seconds(delivery.attempts))
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    ts = int(time.time())
    msg_id = f"msg_{delivery.id.hex}"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "docproc-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(delivery.client.webhook_secret, msg_id, ts, body),
    }
    status_code: int | None = None
    error = ""
    started = time.perf_counter()
    try:
        check_webhook_url(delivery.url)
        req = urllib.request.Request(delivery.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=settings.DOCPROC_WEBHOOK_TIMEOUT) as resp:
            status_code = resp.status
    except urllib.error.HTTPError as exc:
        status_code = exc.code
        error = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, UnsafeWebhookUrl) as exc:
        error = str(exc)[:1000]
    duration = int((time.perf_counter() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        WebhookAttempt.objects.create(delivery=delivery, number=delivery.attempts, status_code=status_code,
                                      error=error, duration_ms=duration)
        delivery.last_status_code = status_code
        delivery.last_error = error
        if ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.attempts >= settings.DOCPROC_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.DEAD
            delivery.next_attempt_at = None
        delivery.save()
        record(actor=WORKER, action="webhook.attempted", object_type="webhook", object_id=delivery.id,
               document_id=delivery.document_id,
               payload={"attempt": delivery.attempts, "status_code": status_code, "error": error, "result": delivery.status})
        if ok:
            _mark_delivered(delivery.document_id)
    return delivery.status


def _mark_delivered(document_id) -> None:
    doc = Document.objects.select_for_update().get(pk=document_id)
    if doc.status in (DocumentStatus.AUTO_ACCEPTED, DocumentStatus.REVIEWED):
        document_transition(doc, DocumentStatus.DELIVERED, actor=WORKER)


def deliveries_due() -> list[str]:
    return [str(i) for i in WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()).values_list("id", flat=True)[:500]]
