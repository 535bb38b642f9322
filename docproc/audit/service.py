"""Writing audit events, in the caller's transaction and in chain order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from docproc.logging import request_id_var

from .chain import GENESIS, digest, event_hash
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
) -> AuditEvent:
    """Append one event. Call inside the transaction that makes the change it records."""
    payload = payload or {}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        seq = (last["seq"] + 1) if last else 1
        prev = last["hash"] if last else GENESIS
        at = timezone.now()
        data = {
            "seq": seq,
            "at": at.isoformat(),
            "actor_type": actor.type,
            "actor": actor.name,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id or ""),
            "document_id": str(document_id) if document_id else None,
            "payload_digest": digest(payload),
            "request_id": request_id if request_id is not None else (request_id_var.get() or ""),
            "client_ip": client_ip,
        }
        event = AuditEvent(
            seq=seq, at=at, actor_type=actor.type, actor=actor.name, action=action,
            object_type=object_type, object_id=data["object_id"], document_id=document_id,
            payload=payload, payload_digest=data["payload_digest"], request_id=data["request_id"],
            client_ip=client_ip, prev_hash=prev, hash=event_hash(prev, data),
        )
        event.save()
        return event
