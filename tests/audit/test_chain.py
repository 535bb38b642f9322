"""The hash chain in the database: it verifies, and a row changed, removed or reordered with raw
SQL is reported with the right sequence number (by the service and by ``audit_verify``)."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.management import CommandError, call_command

from docproc.audit.actions import UnknownAuditAction
from docproc.audit.chain import GENESIS
from docproc.audit.models import AppendOnlyError, AuditEvent
from docproc.audit.service import SYSTEM, record
from docproc.audit.verify import verify_database

from .conftest import tamper

pytestmark = pytest.mark.django_db


def first_bad() -> int | None:
    return verify_database().first_bad_seq


def verify_command_fails_at(seq: int) -> None:
    with pytest.raises(CommandError, match=rf"first bad sequence number: {seq}\b"):
        call_command("audit_verify")


def test_chain_links_and_verifies(make_events):
    events = make_events(6)
    first = AuditEvent.objects.order_by("seq").first()
    assert first.seq == 1 and first.prev_hash == GENESIS
    for a, b in itertools.pairwise(events):
        assert b.seq == a.seq + 1 and b.prev_hash == a.hash
    report = verify_database()
    assert report.ok, report.problems
    assert report.last_seq == events[-1].seq and report.last_hash == events[-1].hash
    call_command("audit_verify")  # exits 0


def test_changed_row_is_named(make_events):
    events = make_events(8)
    target = events[4].seq
    with tamper() as cur:
        cur.execute("UPDATE audit_auditevent SET actor = %s WHERE seq = %s", ["someone-else", target])
    assert first_bad() == target
    verify_command_fails_at(target)


def test_changed_payload_is_named(make_events):
    events = make_events(8)
    target = events[2].seq
    with tamper() as cur:
        cur.execute("SELECT payload FROM audit_auditevent WHERE seq = %s", [target])
        raw = cur.fetchone()[0]
        text = raw if isinstance(raw, str) else json.dumps(raw)
        cur.execute("UPDATE audit_auditevent SET payload = %s WHERE seq = %s",
                    [text.replace("processing", "rejected"), target])
    report = verify_database()
    assert report.first_bad_seq == target
    assert report.problems[0].code == "payload_digest"


def test_deleted_row_is_named(make_events):
    events = make_events(8)
    target = events[3].seq
    with tamper() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE seq = %s", [target])
    report = verify_database()
    assert report.first_bad_seq == target
    assert report.problems[0].code == "gap"
    verify_command_fails_at(target)


def test_deleted_first_row_is_named(make_events):
    make_events(4)
    with tamper() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE seq = 1")
    assert first_bad() == 1


def test_swapped_rows_are_named(make_events):
    events = make_events(8)
    a, b = events[5].seq, events[6].seq
    with tamper() as cur:
        cur.execute("UPDATE audit_auditevent SET seq = -1 WHERE seq = %s", [a])
        cur.execute("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [a, b])
        cur.execute("UPDATE audit_auditevent SET seq = %s WHERE seq = -1", [b])
    assert first_bad() == a
    verify_command_fails_at(a)


def test_range_verification(make_events):
    events = make_events(10)
    with tamper() as cur:
        cur.execute("UPDATE audit_auditevent SET action = 'document.uploaded' WHERE seq = %s", [events[7].seq])
    assert verify_database(from_seq=events[1].seq, to_seq=events[5].seq).ok
    call_command("audit_verify", "--from-seq", str(events[1].seq), "--to-seq", str(events[5].seq))
    assert verify_database(from_seq=events[6].seq).first_bad_seq == events[7].seq


def test_cut_off_tail_is_caught_by_a_manifest_anchor(make_events, tmp_path):
    events = make_events(6)
    out = tmp_path / "before.jsonl"
    call_command("audit_export", "--format", "jsonl", "--out", str(out))
    with tamper() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE seq >= %s", [events[4].seq])
    assert verify_database().ok  # a shorter chain is still a chain...
    with pytest.raises(CommandError, match="first bad sequence number"):  # ...but not the one exported
        call_command("audit_verify", "--manifest", str(out) + ".manifest.json")


def test_orm_refuses_update_and_delete(make_events):
    event = make_events(1)[0]
    event.actor = "x"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(actor="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_vocabulary_is_enforced(db):
    with pytest.raises(UnknownAuditAction, match=r"document\.uploadd"):
        record(actor=SYSTEM, action="document.uploadd")


def test_row_read_back_hashes_the_same(db):
    """Values that the database normalises (hex document ids, IPv4-mapped addresses, UUIDs in
    payloads, integer keys) are normalised before hashing."""
    import uuid

    doc = uuid.uuid4()
    record(actor=SYSTEM, action="document.status_changed", document_id=doc.hex, client_ip="::ffff:192.0.2.7",
           payload={"id": doc, 3: "three", "amount": 1.5}, before=None, after="x", versions={"ocr": "1.0"})
    record(actor=SYSTEM, action="document.status_changed", client_ip="2001:DB8::1", payload={})
    assert verify_database().ok
    row = AuditEvent.objects.order_by("-seq")[1]
    assert row.client_ip == "192.0.2.7" and row.payload["3"] == "three" and row.payload["versions"] == {"ocr": "1.0"}


def test_sqlite_without_immediate_transactions_is_an_error(settings):
    from django.db import connections

    from docproc.audit.apps import check_sqlite_write_lock

    conn = connections["default"]
    if conn.vendor != "sqlite":
        assert check_sqlite_write_lock() == []
        return
    assert check_sqlite_write_lock() == []
    saved = dict(conn.settings_dict["OPTIONS"])
    try:
        conn.settings_dict["OPTIONS"].pop("transaction_mode")
        assert [e.id for e in check_sqlite_write_lock()] == ["audit.E001"]
    finally:
        conn.settings_dict["OPTIONS"].update(saved)
