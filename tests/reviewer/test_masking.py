"""One masking rule (docproc.audit.export.user_sees_values) for the audit UI, the document page's
audit trail and history, and the corrections CSV; every export audited."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def corrected(make_user, review_doc):
    from docproc.models import Field
    from reviewer import services

    doc = review_doc()
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    dob = Field.objects.get(document=doc, name="claimant_dob")
    services.field_correct(document_id=doc.pk, field_id=dob.pk, user=ana, raw_value="02/20/1943", reason="misread",
                           note="patient called, DOB 02/20/1943")
    return doc


def _csv(client):
    resp = client.get(reverse("reviewer:export_corrections"))
    assert resp.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(resp.streaming_content).decode())))


def test_corrections_csv_is_masked_for_supervisors_and_audited(client, make_user, corrected):
    from docproc.audit.models import AuditEvent

    boss = make_user("supervisor", "sam")
    client.force_login(boss)
    rows = _csv(client)
    edit = next(r for r in rows if r["field"] == "claimant_dob")
    assert "1943" not in edit["new_value"] + edit["old_value"] + edit["note"]
    assert "[masked]" in edit["new_value"]
    event = AuditEvent.objects.filter(action="review.corrections_exported").latest("seq")
    assert event.actor == "sam" and event.payload["masked"] is True and event.payload["rows"] == len(rows)


def test_corrections_csv_shows_values_to_auditors(client, make_user, corrected):
    from docproc.audit.models import AuditEvent

    client.force_login(make_user("auditor", "aud"))
    rows = _csv(client)
    assert any("1943" in r["new_value"] for r in rows)
    assert AuditEvent.objects.filter(action="review.corrections_exported", actor="aud").get().payload["masked"] is False


@pytest.mark.parametrize("role", ["reviewer", "supervisor"])
def test_document_page_masks_audit_payloads_like_the_audit_log(client, make_user, corrected, role):
    client.force_login(make_user(role))
    page = client.get(reverse("reviewer:document", args=[corrected.pk])).content.decode()
    assert "field.edited" in page and "[masked]" in page
    # The fields table shows the current value (the page's purpose); the history and the audit
    # trail below it follow the audit log's rule.
    trail = page.split('class="history"', 1)[1]
    assert "02/20/1943" not in trail and "1943-02-20" not in trail and "patient called" not in page


def test_document_page_shows_values_to_auditors(client, make_user, corrected):
    client.force_login(make_user("auditor"))
    page = client.get(reverse("reviewer:document", args=[corrected.pk])).content.decode()
    assert "02/20/1943" in page and "patient called" in page
