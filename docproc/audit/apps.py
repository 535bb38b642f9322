"""Append-only, hash-chained audit log. ``record`` is the one way to write an event."""
from django.apps import AppConfig
from django.core import checks


class AuditConfig(AppConfig):
    name = "docproc.audit"
    label = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals

        signals.connect()
        checks.register(check_sqlite_write_lock)


def check_sqlite_write_lock(app_configs=None, **kwargs):
    """On SQLite the chain's order relies on every transaction taking the write lock at BEGIN."""
    from django.db import connections

    errors = []
    for alias in connections:
        conn = connections[alias]
        if conn.vendor == "sqlite" and str(conn.settings_dict.get("OPTIONS", {}).get("transaction_mode", "")).upper() != "IMMEDIATE":
            errors.append(checks.Error(
                f"database {alias!r} is SQLite without OPTIONS['transaction_mode'] = 'IMMEDIATE'",
                hint="Concurrent audit writers could read the same chain head; set it as docproc/settings.py does.",
                id="audit.E001",
            ))
    return errors
