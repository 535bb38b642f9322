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
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from requests.adapters import HTTPAdapter

from docproc import dispatch
from docproc.audit.service import WORKER, Actor, record
from docproc.lifecycle import document_transition
from docproc.models import Document, DocumentStatus, WebhookAttempt, WebhookDelivery
from docproc.selectors import document_result


class UnsafeWebhookUrl(ValueError):
    """A webhook URL or secret that is refused, with a stable ``code`` for the API and commands."""

    def __init__(self, detail: str, *, code: str = "webhook_url_refused") -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


# Networks whose addresses carry an IPv4 address inside an IPv6 one: the embedded address is the
# one a packet reaches, so it is the one judged (2002:7f00:1:: is 127.0.0.1 over 6to4).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use only
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def address_is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when ``addr`` is globally routable, judged by the IPv4 address it embeds if any.

    ``is_global`` already refuses loopback, private, link-local, 100.64.0.0/10 (carrier-grade NAT,
    which holds cloud metadata endpoints such as 100.100.100.200), documentation and reserved
    ranges; multicast is refused too. 6to4, NAT64 and IPv4-mapped forms are unwrapped first.
    """
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return address_is_public(addr.ipv4_mapped)
        if addr.sixtofour is not None:
            return address_is_public(addr.sixtofour)
        if addr.teredo is not None or addr in _NAT64_LOCAL:
            return False
        if addr in _NAT64 or addr in _IPV4_COMPATIBLE:
            return address_is_public(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return addr.is_global and not addr.is_multicast


def webhook_url_check(url: str, *, allow_private: bool | None = None) -> str:
    """The address a delivery to ``url`` connects to, or :class:`UnsafeWebhookUrl`.

    The host is resolved once; every address it resolves to must be globally routable (see
    :func:`address_is_public`) unless ``DOCPROC_WEBHOOK_ALLOW_PRIVATE`` is set (tests, a receiver
    on the same host). Callers connect to the returned address, never resolve the name again, so
    a name that changes its answer between the check and the request reaches nothing new.
    """
    if allow_private is None:
        allow_private = settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"webhook URL is malformed: {exc}", code="webhook_url_invalid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("webhook URL must be http(s) with a host", code="webhook_url_invalid")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("webhook URL must not carry credentials; the signature authenticates the sender",
                               code="webhook_url_invalid")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"webhook host does not resolve: {exc}", code="webhook_host_unresolved") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeWebhookUrl("webhook host does not resolve", code="webhook_host_unresolved")
    if not allow_private:
        for addr in addresses:
            if not address_is_public(addr):
                raise UnsafeWebhookUrl(f"webhook host resolves to a non-public address ({addr})",
                                       code="webhook_address_not_public")
    return str(addresses[0])


def webhook_secret_check(secret: str) -> None:
    """Refuse an empty signing secret: an unsigned webhook cannot be told from a forged one."""
    if not (secret or "").removeprefix("whsec_").strip():
        raise UnsafeWebhookUrl("a webhook needs a signing secret", code="webhook_secret_missing")


def check_webhook_url(url: str, *, allow_private: bool | None = None) -> None:
    """Older name of :func:`webhook_url_check`, kept for callers that only need the verdict."""
    webhook_url_check(url, allow_private=allow_private)


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
        webhook_secret_check(delivery.client.webhook_secret)
        address = webhook_url_check(delivery.url)
        status_code, location = post_pinned(delivery.url, address=address, body=body, headers=headers,
                                            timeout=settings.DOCPROC_WEBHOOK_TIMEOUT)
        if 300 <= status_code < 400:
            # A redirect is not followed: it would turn the POST into a GET without the result, or
            # carry the signed body to wherever the Location points.
            error = f"HTTP {status_code}: redirect to {location[:300]!r} not followed"
        elif not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except UnsafeWebhookUrl as exc:
        error = f"{exc.code}: {exc.detail}"[:1000]
    except (requests.RequestException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
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


class _PinnedTlsAdapter(HTTPAdapter):
    """HTTPS to an address, with the certificate and SNI checked against the URL's host name."""

    def __init__(self, hostname: str, **kwargs: Any) -> None:
        self._hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **pool_kwargs: Any) -> None:
        pool_kwargs["server_hostname"] = self._hostname
        pool_kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **pool_kwargs)


def post_pinned(url: str, *, address: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    """POST ``body`` to ``url`` over a connection to ``address`` (the one the URL check passed).

    The name is not resolved again (no DNS rebinding between check and request); the ``Host``
    header, TLS SNI and certificate check still use the URL's host. Redirects are not followed and
    no proxy from the environment is used. Returns the status code and any ``Location``.
    """
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = hostname if ":" not in hostname else f"[{hostname}]"
    if parts.port:
        host_header += f":{parts.port}"
    with requests.Session() as session:
        session.trust_env = False
        if parts.scheme == "https":
            session.mount("https://", _PinnedTlsAdapter(hostname))
        response = session.post(target, data=body, headers={**headers, "Host": host_header}, timeout=timeout,
                                allow_redirects=False, stream=True)
        response.close()  # the answer's body is not ours to read
        return response.status_code, response.headers.get("Location", "")


def _mark_delivered(document_id) -> None:
    doc = Document.objects.select_for_update().get(pk=document_id)
    if doc.status in (DocumentStatus.AUTO_ACCEPTED, DocumentStatus.REVIEWED):
        document_transition(doc, DocumentStatus.DELIVERED, actor=WORKER)


class RedeliveryRefused(ValueError):
    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def delivery_redeliver(*, delivery_id, actor: Actor) -> WebhookDelivery:
    """Give a dead letter a fresh round of attempts (to the client's current webhook URL), audited.

    Only a ``dead`` delivery is re-sent; a pending or delivered one, or one whose document was
    purged (its result is gone), raises :class:`RedeliveryRefused` with a code. The caller
    queues the first attempt (``dispatch.webhook_deliver_enqueue``) once this has committed.
    """
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update().select_related("client", "document")
                    .filter(pk=delivery_id).first())
        if delivery is None:
            raise RedeliveryRefused(f"No webhook delivery {delivery_id}.", code="not_found")
        if delivery.status != WebhookDelivery.Status.DEAD:
            raise RedeliveryRefused(f"The delivery is {delivery.status}; only dead letters are re-sent.",
                                    code="delivery_not_dead")
        if delivery.document.purged_at is not None:
            raise RedeliveryRefused("The document was purged; its result is no longer held.", code="document_purged")
        if not delivery.client.webhook_url:
            raise RedeliveryRefused("The client has no webhook URL any more.", code="webhook_url_missing")
        previous = {"attempts": delivery.attempts, "url": delivery.url, "last_error": delivery.last_error}
        delivery.url = delivery.client.webhook_url
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.attempts = 0  # a fresh round; the attempt log keeps the earlier ones, with their times
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["url", "status", "attempts", "next_attempt_at"])
        record(actor=actor, action="webhook.redelivered", object_type="webhook", object_id=delivery.id,
               document_id=delivery.document_id, payload={"previous": previous, "url": delivery.url})
    return delivery


def deliveries_dead() -> list[str]:
    return [str(i) for i in WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD)
            .order_by("created_at").values_list("id", flat=True)]


def deliveries_due() -> list[str]:
    return [str(i) for i in WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()).values_list("id", flat=True)[:500]]
