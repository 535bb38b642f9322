"""Purging the payloads of a document's audit events, while the hash chain still verifies.

How an audit payload is purged, and why the chain survives it: an event's hash covers the
digest of its payload, not the payload. The purge first appends a ``retention.purged`` event
(seq P) for the document, then, in the same transaction, replaces each content-bearing payload
of that document with ``{"_purged": {"at": ..., "event": P}}``. That UPDATE is the one the
PostgreSQL trigger lets through, and only while ``docproc.audit_purge`` is set for the
transaction; it may change nothing but the payload, and only to such a marker. ``audit_verify``
skips the digest check for a marker but requires event P to be a retention purge of the same
document, so a payload blanked any other way is reported.

Which payloads hold document content is the action catalogue's business (``keep_on_purge``);
what else a purge removes (files, field values) belongs to the document domain
(docproc/services/retention.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, models, transaction

from .actions import ACTIONS
from .chain import at_text, purge_marker
from .models import AuditEvent
from .service import Actor, record


def _payloads_replace(event_ids: list[int], marker: dict) -> None:
    """The one UPDATE of audit events the application makes (see the module docstring)."""
    if not event_ids:
        return
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cur:
        if postgres:
            cur.execute("SELECT set_config('docproc.audit_purge', 'on', true)")
        try:
            for i in range(0, len(event_ids), 500):
                # Past AuditQuerySet.update, which refuses every update on purpose.
                models.QuerySet.update(AuditEvent.objects.filter(pk__in=event_ids[i : i + 500]), payload=marker)
        finally:
            if postgres:
                cur.execute("SELECT set_config('docproc.audit_purge', 'off', true)")


def audit_payloads_purge(*, document_id, actor: Actor, reason: str, payload: dict[str, Any], at: datetime
                         ) -> AuditEvent:
    """Append the document's ``retention.purged`` event (``payload`` plus ``events_purged``) and
    replace every content-bearing payload of the document's earlier events with a marker that
    points at it. Must run inside the caller's transaction (the marker and the event commit
    together, or neither does). Returns the purge event."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_payloads_purge must run inside a transaction")
    keep = [name for name, spec in ACTIONS.items() if spec.keep_on_purge]
    event_ids = list(
        AuditEvent.objects.filter(document_id=document_id).exclude(action__in=keep).exclude(payload={})
        .exclude(payload__has_key="_purged").values_list("pk", flat=True)
    )
    purge = record(actor=actor, action="retention.purged", object_type="document", object_id=document_id,
                   document_id=document_id, reason=reason, payload={**payload, "events_purged": len(event_ids)})
    _payloads_replace(event_ids, purge_marker(purge_seq=purge.seq, at=at_text(at)))
    return purge
