"""Writing audit events, in the caller's transaction and in chain order.

Chain order with concurrent writers: on PostgreSQL every writer takes a transaction-level
advisory lock before it reads the chain head, so the head it reads is the last committed one and
nobody else can append until it commits or rolls back. On SQLite the settings open every
transaction with ``BEGIN IMMEDIATE``, which takes the database's write lock at once, so the same
holds. The unique ``seq`` is the backstop: two writers that ever read the same head cannot both
commit.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from docproc.logging import request_id_var

from .actions import get_action
from .chain import GENESIS, at_text, digest, event_hash
from .models import AuditEvent

_LOCK_KEY = 0x646F6370  # advisory lock id for the chain head on PostgreSQL


@dataclass(frozen=True, slots=True)
class Actor:
    type: str  # user | api_client | worker | model | system | anonymous
    name: str

    @classmethod
    def user(cls, user) -> Actor:
        return cls("user", user.get_username())

    @classmethod
    def client(cls, client) -> Actor:
        return cls("api_client", client.name)


WORKER = Actor("worker", "pipeline")
SYSTEM = Actor("system", "docproc")

# Who is acting and from where, for events written by code that has no request at hand (signal
# receivers for group changes made in the admin, for instance). Set by AuditContextMiddleware;
# the request is kept rather than its user so that requests that write no event never load one.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_request", default=None)
current_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_client_ip", default=None)


def normalize_ip(value: Any) -> str | None:
    """The form the database gives back, so the hash computed now matches the row read later."""
    if not value:
        return None
    try:
        addr = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


def _document_uuid(value: Any) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_stored(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _field(name: str, value: str) -> str:
    return value[: AuditEvent._meta.get_field(name).max_length]


def record(
    *,
    actor: Actor,
    action: str,
    object_type: str = "",
    object_id: str = "",
    document_id: Any = None,
    payload: dict[str, Any] | None = None,
    client_ip: str | None = None,
    request_id: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
    versions: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call inside the transaction that makes the change it records: both
    commit or neither does.

    ``action`` must be in the vocabulary (docproc/audit/actions.py). ``before``/``after`` (old and
    new values), ``reason`` and ``versions`` (engine, model, prompt versions) go into the payload
    under those keys. Values are stored as JSON; anything JSON cannot hold is stored as text.
    """
    get_action(action)
    # Store exactly what was digested: a round trip through canonical JSON turns UUIDs, dates
    # and decimals into text and integer keys into strings, as the database would.
    data_payload: dict[str, Any] = _as_stored(dict(payload or {}))
    extra = {"before": before, "after": after, "reason": reason or None, "versions": versions}
    for key, value in extra.items():
        if value is not None:
            data_payload[key] = _as_stored(value)
    doc_uuid = _document_uuid(document_id)
    ip = normalize_ip(client_ip if client_ip is not None else current_client_ip.get())
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        seq = (last["seq"] + 1) if last else 1
        prev = last["hash"] if last else GENESIS
        # Taken under the lock, so times never go backwards along the chain.
        at = timezone.now()
        data = {
            "seq": seq,
            "at": at_text(at),
            "actor_type": _field("actor_type", actor.type),
            "actor": _field("actor", actor.name),
            "action": action,
            "object_type": _field("object_type", object_type),
            "object_id": _field("object_id", str(object_id or "")),
            "document_id": str(doc_uuid) if doc_uuid else None,
            "payload_digest": digest(data_payload),
            "request_id": _field("request_id", request_id if request_id is not None else (request_id_var.get() or "")),
            "client_ip": ip,
        }
        event = AuditEvent(
            seq=seq, at=at, actor_type=data["actor_type"], actor=data["actor"], action=action,
            object_type=data["object_type"], object_id=data["object_id"], document_id=doc_uuid,
            payload=data_payload, payload_digest=data["payload_digest"], request_id=data["request_id"],
            client_ip=ip, prev_hash=prev, hash=event_hash(prev, data),
        )
        event.save()
        return event


def acting() -> Actor:
    """The actor for an event written outside a request's own code: the signed-in user of the
    current request if there is one, else the system (a management command, a migration)."""
    request = current_request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated:
        return Actor.user(user)
    return SYSTEM
