"""Concurrent writers keep one chain: no two events get the same sequence number and every
event links to the one before (PostgreSQL: advisory lock; SQLite: BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from docproc.audit.models import AuditEvent
from docproc.audit.service import Actor, record
from docproc.audit.verify import verify_database

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS, EACH = 4, 15


def test_concurrent_writers_keep_the_chain(settings):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("needs a file or server database shared by threads")
    before = AuditEvent.objects.count()
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                with transaction.atomic():
                    # Some work inside the same transaction as the event, as a service would do.
                    AuditEvent.objects.filter(actor=f"writer-{n}").count()
                    record(actor=Actor("worker", f"writer-{n}"), action="pipeline.stage_started",
                           payload={"writer": n, "i": i})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert AuditEvent.objects.count() == before + WRITERS * EACH
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    report = verify_database()
    assert report.ok, report.problems
