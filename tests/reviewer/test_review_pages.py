"""The review UI's pages beyond the review itself: error pages, the time zone setting, the
processing and failed lists, the machine value of corrected fields and the line-item cell boxes."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from docproc import selectors as doc_selectors
from docproc.models import Document, DocumentStatus, Field, Page
from reviewer import cells, services
from reviewer.models import ReviewerProfile

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_missing_document_is_a_404_page_with_a_way_back_and_json_for_programs(make_user):
    client = signed_in(make_user("reviewer", "ana"))
    url = f"/review/documents/{uuid.uuid4()}/"
    resp = client.get(url, HTTP_REFERER="http://testserver/review/dashboard/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("text/html")
    body = resp.content.decode()
    assert "<h1>404 · Not found</h1>" in body and 'href="/review/"' in body and 'href="/review/dashboard/"' in body
    assert 'class="topbar"' in body  # the site's layout
    resp = client.get(url, HTTP_ACCEPT="application/json")
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    resp = client.get("/api/v1/nothing-here/")
    assert resp.status_code == 404 and resp.json() == {"code": "not_found", "detail": resp.json()["detail"]}


def test_a_reviewer_on_a_supervisors_page_gets_a_403_page(make_user):
    resp = signed_in(make_user("reviewer", "ana")).get("/review/work/", HTTP_REFERER="https://evil.example/review/")
    assert resp.status_code == 403
    body = resp.content.decode()
    assert "Not allowed" in body and 'href="/review/"' in body
    assert "evil.example" not in body  # only a same-site page is offered as the way back


def test_the_time_zone_setting(make_user):
    ana = make_user("reviewer", "ana")
    client = signed_in(ana)
    assert "times in UTC" in client.get("/review/").content.decode()  # nothing known yet
    client.cookies["docproc_tz"] = "Europe%2FParis"
    assert "times in Europe/Paris" in client.get("/review/").content.decode()  # the browser's
    resp = client.post("/review/profile/", {"time_zone": "Mars/Olympus_Mons"}, follow=True)
    assert "is not a time zone name" in resp.content.decode()
    assert not ReviewerProfile.objects.filter(user=ana).exists()
    client.post("/review/profile/", {"time_zone": "Asia/Tokyo"})
    assert ReviewerProfile.objects.get(user=ana).time_zone == "Asia/Tokyo"
    assert "times in Asia/Tokyo" in client.get("/review/").content.decode()  # the profile wins
    client.post("/review/profile/", {"time_zone": ""})
    assert "times in Europe/Paris" in client.get("/review/").content.decode()


def test_processing_and_failed_lists_for_supervisors(make_user):
    def make(name, **kw):
        return Document.objects.create(doc_type="claim", original_name=name, sha256=name.ljust(64, "0")[:64], size=1,
                                       content_type="application/pdf", **kw)

    make("a.pdf", status=DocumentStatus.PROCESSING, stage="ocr")
    make("b.pdf", status=DocumentStatus.RECEIVED)
    make("c.pdf", status=DocumentStatus.FAILED, error_code="pdf_encrypted", error_detail="encrypted")
    make("d.pdf", status=DocumentStatus.REVIEWED)
    client = signed_in(make_user("supervisor", "sue"))
    body = client.get("/review/work/").content.decode()
    assert "a.pdf" in body and "b.pdf" in body and "c.pdf" not in body and ">ocr<" in body
    assert 'id="count-processing">2<' in body and 'id="count-failed">1<' in body
    body = client.get("/review/work/?view=failed").content.decode()
    assert "c.pdf" in body and "pdf_encrypted" in body and "a.pdf" not in body
    dash = client.get("/review/dashboard/").content.decode()
    assert 'href="/review/work/">2</a>' in dash and 'href="/review/work/?view=failed">1</a>' in dash


def test_a_corrected_field_keeps_the_machine_value_beside_the_reviewers(make_user, review_doc):
    doc = review_doc(seed=31)
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    dob = Field.objects.get(document=doc, name="claimant_dob")
    services.field_correct(document_id=doc.pk, field_id=dob.pk, user=ana, raw_value="02/28/1943", reason="misread")
    result = doc_selectors.document_result(doc)["fields"]
    assert result["claimant_dob"]["value"] == "02/28/1943" and result["claimant_dob"]["machine_value"] == "02/30/1943"
    assert "machine_value" not in result["claim_number"]  # only where a person changed the value
    body = signed_in(ana).get(f"/review/documents/{doc.pk}/").content.decode()
    assert "<del>02/30/1943</del>" in body and "02/28/1943" in body


def test_each_line_item_cell_has_its_own_box_on_its_words(review_doc):
    doc = review_doc(seed=3)
    items = Field.objects.get(document=doc, name="line_items")
    page = Page.objects.get(document=doc, number=items.page)
    boxes = cells.cell_boxes(items, cells.page_words(doc, page))
    assert len(boxes) == len(items.value) == 3
    x0, y0, x1, y1 = items.bbox
    tops = []
    for row in boxes:
        desc, amount = row["description"], row["amount"]
        assert desc and amount
        assert desc[2] < amount[0]  # the description left of its amount
        assert abs(desc[1] - amount[1]) < 0.01  # on one line
        assert x0 - 0.01 <= desc[0] and amount[2] <= x1 + 0.01 and y0 - 0.01 <= desc[1] <= y1
        tops.append(desc[1])
    assert tops == sorted(tops) and len(set(tops)) == 3  # one line per row, top to bottom
    assert cells.cell_boxes(items, None) == [{"description": None, "amount": None}] * 3  # no words: no boxes


def test_a_supervisor_queues_the_stuck_documents_again_on_the_real_broker(make_user):
    """Given a document processing and unchanged for two hours, the supervisor's button queues
    its extraction again on the real Redis broker, and the action is audited."""
    from datetime import timedelta

    import redis
    from django.conf import settings
    from django.utils import timezone

    from docproc.audit.models import AuditEvent

    from ..conftest import redis_available

    if not redis_available():
        pytest.skip("Redis is not reachable at REDIS_URL")
    # Past ingest with no reading stored: it is queued for the OCR stage again.
    stuck = Document.objects.create(doc_type="claim", original_name="stuck.pdf", sha256="s" * 64, size=1,
                                    content_type="application/pdf", status=DocumentStatus.PROCESSING, stage="extract")
    Document.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = broker.llen("ocr")
    client = signed_in(make_user("supervisor", "sue"))
    assert "Queue the 1 stuck document again now" in client.get("/review/work/").content.decode()
    resp = client.post("/review/work/requeue-stuck/", follow=True)
    try:
        assert "Queued 1 stuck document(s) again." in resp.content.decode()
        assert broker.llen("ocr") == before + 1
        stuck.refresh_from_db()
        assert timezone.now() - stuck.updated_at < timedelta(minutes=1)
        assert AuditEvent.objects.filter(action="document.requeued", document_id=stuck.pk, actor="sue").count() == 1
        assert "stuck document" not in client.get("/review/work/").content.decode()  # no longer stuck
    finally:
        if broker.llen("ocr") > before:
            broker.lpop("ocr")  # the message no worker will take in this test


def _failed_doc(name: str, code: str) -> Document:
    from django.core.files.base import ContentFile

    doc = Document(doc_type="claim", original_name=name, sha256=name.ljust(64, "0")[:64], size=9,
                   content_type="application/pdf", status=DocumentStatus.FAILED, error_code=code, error_detail="stopped")
    doc.file.save("original", ContentFile(b"%PDF-1.7\n"), save=False)
    doc.save()
    return doc


def test_a_supervisor_retries_a_failed_document_from_the_failed_list(make_user, monkeypatch):
    """The per-row Retry is a CSRF-protected POST for supervisors only; the document leaves the
    failed list, and a bad file offers no Retry and is refused if posted anyway."""
    import re

    from docproc import dispatch
    from docproc.audit.models import AuditEvent

    queued: list[str] = []
    monkeypatch.setattr(dispatch, "document_ingest_enqueue", lambda document_id, **kw: queued.append(str(document_id)))
    timeout = _failed_doc("late.pdf", "processing_timeout")
    corrupt = _failed_doc("broken.pdf", "corrupt_pdf")
    url = f"/review/work/{timeout.pk}/retry/"
    assert signed_in(make_user("reviewer", "ana")).post(url).status_code == 403
    sue = make_user("supervisor", "sue")
    client = Client(enforce_csrf_checks=True)
    client.force_login(sue)
    body = client.get("/review/work/?view=failed").content.decode()
    assert f'action="{url}"' in body and f'action="/review/work/{corrupt.pk}/retry/"' not in body and "bad file" in body
    assert client.post(url).status_code == 403  # no CSRF token
    timeout.refresh_from_db()
    assert timeout.status == DocumentStatus.FAILED
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    with_token = {"csrfmiddlewaretoken": token}

    resp = client.post(url, with_token, follow=True)
    body = resp.content.decode()
    assert "“late.pdf” was queued for processing again." in body
    assert "late.pdf" not in body.split('id="work-failed"')[1]  # gone from the failed list
    timeout.refresh_from_db()
    assert timeout.status == DocumentStatus.RECEIVED and timeout.error_code == ""
    assert AuditEvent.objects.filter(action="document.retried", document_id=timeout.pk, actor="sue").count() == 1
    body = client.post(f"/review/work/{corrupt.pk}/retry/", with_token, follow=True).content.decode()
    assert "a retry would fail the same way" in body
    corrupt.refresh_from_db()
    assert corrupt.status == DocumentStatus.FAILED
    resp = client.post(url, with_token, HTTP_ACCEPT="application/json")  # already retried
    assert resp.status_code == 409 and resp.json()["code"] == "not_failed"
