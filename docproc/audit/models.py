"""Audit events: each stores the hash of the previous one, so any change breaks the chain.

The ORM refuses update and delete; on PostgreSQL triggers (migration 0002) refuse UPDATE,
DELETE and TRUNCATE too, except the one audited retention path that replaces a payload with a
purge marker (docproc/audit/purge.py).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from .chain import at_text, is_purged


class AppendOnlyError(Exception):
    pass


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=20)  # user | api_client | worker | model | system | anonymous
    actor = models.CharField(max_length=200, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    document_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload = models.JSONField(default=dict)  # before, after, reason, versions ...; may be purged
    payload_digest = models.CharField(max_length=64)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        permissions = [("export_auditevent", "Can export audit events")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")

    @property
    def purged(self) -> bool:
        return is_purged(self.payload)

    def chain_dict(self) -> dict[str, Any]:
        """The event as the chain hashes it, with its links and payload (see chain.EXPORT_FIELDS)."""
        return {
            "seq": self.seq,
            "at": at_text(self.at),
            "actor_type": self.actor_type,
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "document_id": str(self.document_id) if self.document_id else None,
            "payload_digest": self.payload_digest,
            "request_id": self.request_id,
            "client_ip": self.client_ip or None,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "payload": self.payload,
            "payload_masked": False,
        }
