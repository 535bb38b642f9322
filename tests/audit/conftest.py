"""Helpers for the audit tests: events written through the real ``record``, people in roles,
and a tamperer who edits the table with raw SQL (on PostgreSQL, past the append-only triggers,
as a database superuser could)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from django.db import connection


@pytest.fixture
def make_events(db):
    from docproc.audit.service import SYSTEM, Actor, record

    def make(n: int = 10, *, document_id=None, action: str = "document.status_changed"):
        doc = document_id or uuid.uuid4()
        out = []
        for i in range(n):
            if action == "field.edited":
                out.append(record(actor=Actor("user", "rita"), action=action, object_type="field", object_id=str(i),
                                  document_id=doc, before=f"old {i}", after=f"new {i}", reason="typo",
                                  payload={"field": "claim_number"}))
            else:
                out.append(record(actor=SYSTEM, action=action, object_type="document", object_id=doc,
                                  document_id=doc, before="received", after="processing",
                                  payload={"n": i, "note": "Ünïcode ✓"}, client_ip="10.1.2.3"))
        return out

    return make


@pytest.fixture
def user_in(db, django_user_model):
    from django.contrib.auth.models import Group

    def make(*groups: str, username: str | None = None):
        user = django_user_model.objects.create_user(username=username or f"u-{uuid.uuid4().hex[:8]}", password="pw-Secret-123")
        for name in groups:
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
        return user

    return make


@contextlib.contextmanager
def tamper():
    """A cursor that may change audit rows: on PostgreSQL the triggers are disabled for the
    enclosing transaction (ALTER TABLE is transactional; the test's rollback restores them)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
        try:
            yield cur
        finally:
            if connection.vendor == "postgresql":
                cur.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER ALL")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
