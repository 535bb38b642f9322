"""Append-only, hash-chained audit log. ``record`` is the one way to write an event."""
from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "docproc.audit"
    label = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals

        signals.connect()
