"""The auditor UI: who may read and export, filters, pagination, the event page, streamed
exports that verify, and escaped output."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from docproc.audit.models import AuditEvent
from docproc.audit.service import Actor, record
from docproc.audit.verify import verify_file

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_anonymous_is_sent_to_sign_in(db):
    resp = Client().get("/audit/")
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


@pytest.mark.parametrize(("groups", "read", "export"), [
    (("reviewer",), False, False),
    ((), False, False),
    (("supervisor",), True, False),
    (("auditor",), True, True),
    (("admin",), True, True),
])
def test_roles(user_in, make_events, groups, read, export):
    make_events(3)
    c = client_for(user_in(*groups))
    assert (c.get("/audit/").status_code == 200) is read
    seq = AuditEvent.objects.order_by("seq").values_list("seq", flat=True).first()
    assert (c.get(f"/audit/events/{seq}/").status_code == 200) is read
    before = AuditEvent.objects.filter(action="audit.exported").count()
    resp = c.post("/audit/export/jsonl/", {})
    assert (resp.status_code == 200) is export, resp.status_code
    if not export:
        assert resp.status_code == 403
        assert c.get("/audit/export/csv/manifest/").status_code == 403
        assert AuditEvent.objects.filter(action="audit.exported").count() == before


def test_reviewer_cannot_export(user_in, make_events):
    make_events(2)
    c = client_for(user_in("reviewer"))
    for fmt in ("jsonl", "csv"):
        assert c.post(f"/audit/export/{fmt}/", {}).status_code == 403
        assert c.get(f"/audit/export/{fmt}/manifest/").status_code == 403
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_superuser_reads_and_exports(django_user_model, make_events):
    make_events(1)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    c = client_for(admin)
    assert c.get("/audit/").status_code == 200
    assert c.post("/audit/export/csv/", {}).status_code == 200


def test_filters_and_pagination(user_in, make_events, settings):
    settings.DOCPROC_AUDIT_PAGE_SIZE = 5
    edits = make_events(7, action="field.edited")
    make_events(4)
    c = client_for(user_in("auditor"))
    resp = c.get("/audit/", {"action": "field.edited", "actor": "rita"})
    page = resp.context["page"]
    assert page.paginator.count == 7 and len(page.object_list) == 5
    assert [e.seq for e in page.object_list] == [e.seq for e in reversed(edits)][:5]
    resp = c.get("/audit/", {"action": "field.edited", "actor": "rita", "page": 2})
    assert [e.seq for e in resp.context["page"].object_list] == [edits[1].seq, edits[0].seq]
    assert "action=field.edited" in resp.content.decode()  # pager links keep the filter
    resp = c.get("/audit/", {"document": str(edits[0].document_id)})
    assert resp.context["page"].paginator.count == 7
    first, last = edits[0].at, edits[-1].at
    resp = c.get("/audit/", {"since": first.isoformat(), "until": last.isoformat(), "action": "field.edited"})
    assert resp.context["page"].paginator.count == 6  # until is exclusive
    resp = c.get("/audit/", {"document": "not-a-uuid"})
    assert resp.status_code == 400 and "document must be a document id" in resp.content.decode()


def test_event_page_shows_before_and_after(user_in, make_events):
    edit = make_events(1, action="field.edited")[0]
    resp = client_for(user_in("auditor")).get(f"/audit/events/{edit.seq}/")
    body = resp.content.decode()
    assert resp.context["before_after"] == [("claim_number", "old 0", "new 0")]
    assert "old 0" in body and "new 0" in body and "matches the event" in body and "links to the event before" in body


def test_supervisor_sees_values_masked(user_in, make_events):
    edit = make_events(1, action="field.edited")[0]
    c = client_for(user_in("supervisor"))
    body = c.get(f"/audit/events/{edit.seq}/").content.decode()
    assert "old 0" not in body and "[masked]" in body
    assert "old 0" not in c.get("/audit/").content.decode()


def test_output_is_escaped(user_in, db):
    evil = "<script>alert(1)</script>"
    event = record(actor=Actor("user", evil), action="field.edited", before=evil, after=evil, payload={"field": evil})
    c = client_for(user_in("auditor"))
    for url in ("/audit/", f"/audit/events/{event.seq}/"):
        body = c.get(url).content.decode()
        assert evil not in body and "&lt;script&gt;" in body


def test_ui_export_streams_a_file_that_verifies(user_in, make_events, tmp_path):
    make_events(4)
    make_events(2, action="field.edited")
    c = client_for(user_in("auditor"))
    listing = c.get("/audit/")
    head = listing.context["head_seq"]
    resp = c.post("/audit/export/jsonl/", dict(listing.context["filter_fields"]))
    assert resp.status_code == 200 and resp.streaming
    assert resp["Content-Disposition"].startswith('attachment; filename="audit-')
    out = tmp_path / "ui.jsonl"
    out.write_bytes(b"".join(resp.streaming_content))
    exported = AuditEvent.objects.filter(action="audit.exported").order_by("-seq").first()
    assert exported.payload["via"] == "web" and exported.actor_type == "user"
    assert exported.seq > head  # the export's own event is not in the file it describes
    manifest = c.get(f"/audit/export/jsonl/manifest/?{listing.context['manifest_query']}")
    (tmp_path / "ui.jsonl.manifest.json").write_bytes(manifest.content)
    assert json.loads(manifest.content)["last_seq"] == head
    report, meta = verify_file(out)
    assert report.ok and meta is not None, report.problems
    csv_resp = c.post("/audit/export/csv/", {"action": "field.edited"})
    assert csv_resp["Content-Type"].startswith("text/csv")
    assert b"".join(csv_resp.streaming_content).count(b"\n") == 3  # header and two events


def test_export_is_post_only(user_in, db):
    c = client_for(user_in("auditor"))
    assert c.get("/audit/export/jsonl/").status_code == 405
