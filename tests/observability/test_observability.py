"""/metrics, /readyz with the worker heartbeat, and log lines carrying request and document ids."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.conftest import wait_for

TOKEN = "metrics-token-for-tests"


def _scrape(client, token: str = TOKEN) -> str:
    resp = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert resp.status_code == 200, resp.content[:300]
    return resp.content.decode()


def _value(text: str, sample: str) -> float:
    m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert m, f"{sample} not in metrics"
    return float(m.group(1))


@pytest.fixture
def metrics_redis(settings):
    from docproc.metrics import PREFIX, _redis

    settings.DOCPROC_METRICS_TOKEN = TOKEN
    r = _redis()
    for key in r.scan_iter(f"{PREFIX}:*"):
        r.delete(key)
    yield r
    for key in r.scan_iter(f"{PREFIX}:*"):
        r.delete(key)


@pytest.mark.django_db
def test_metrics_need_the_token_or_staff(client, settings, django_user_model):
    settings.DOCPROC_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    settings.DOCPROC_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401  # no token set: none works
    staff = django_user_model.objects.create_user("ops", password="x" * 12, is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_report_queues_stages_models_backlog_and_automation(client, metrics_redis, make_api_client, settings):
    import redis
    from django.core.files.base import ContentFile
    from django.utils import timezone

    from docproc.metrics import observe_run
    from docproc.models import Document, ExtractionRun, Field

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("cpu", "gpu")
    broker.rpush("gpu", "a", "b", "c")
    try:
        observe_run(timings={"ocr": 0.3, "extract": 12.0},
                    calls=[{"backend": "llamacpp", "model": "qwen", "latency_s": 0.7, "tokens_in": 900, "tokens_out": 80}])
        observe_run(timings={"ocr": 0.04}, calls=[])
        api_client, _ = make_api_client()
        for i, (status, field_status) in enumerate([("needs_review", "needs_review"), ("auto_accepted", "auto_accepted")]):
            doc = Document(client=api_client, sha256=str(i) * 64, original_name="a.pdf", doc_type="claim", status=status)
            doc.file.save("original", ContentFile(b"%PDF"), save=False)
            doc.save()
            run = ExtractionRun.objects.create(document=doc, extractor="rules", extractor_version="1")
            Field.objects.create(document=doc, run=run, name="claim_number", status=field_status)
        Document.objects.filter(status="needs_review").update(created_at=timezone.now() - timedelta(hours=2))
        text = _scrape(client)
    finally:
        broker.delete("gpu")
    assert _value(text, 'docproc_queue_depth{queue="gpu"}') == 3
    assert _value(text, 'docproc_queue_depth{queue="cpu"}') == 0
    assert _value(text, 'docproc_stage_seconds_count{stage="ocr"}') == 2
    assert _value(text, 'docproc_stage_seconds_bucket{le="0.05",stage="ocr"}') == 1
    assert _value(text, 'docproc_stage_seconds_bucket{le="0.5",stage="ocr"}') == 2
    assert _value(text, 'docproc_stage_seconds_sum{stage="extract"}') == 12.0
    assert _value(text, 'docproc_model_call_seconds_count{model="llamacpp|qwen"}') == 1
    assert _value(text, 'docproc_model_tokens_total{direction="in",model="llamacpp|qwen"}') == 900
    assert _value(text, 'docproc_model_tokens_total{direction="out",model="llamacpp|qwen"}') == 80
    assert _value(text, "docproc_review_backlog") == 1
    assert 7100 < _value(text, "docproc_review_backlog_oldest_seconds") < 7400
    assert _value(text, "docproc_automation_rate") == 0.5
    assert _value(text, 'docproc_documents{status="needs_review"}') == 1


@pytest.mark.django_db
def test_readyz_wants_a_recent_worker_heartbeat(client, settings):
    import time

    from docproc.metrics import HEARTBEAT_KEY, _redis, worker_heartbeat

    r = _redis()
    r.delete(HEARTBEAT_KEY)
    body = client.get("/readyz").json()
    assert body["checks"]["workers"].startswith("error") and body["status"] == "unavailable"
    r.hset(HEARTBEAT_KEY, "old@host", str(time.time() - settings.DOCPROC_WORKER_STALE_SECONDS - 5))
    assert client.get("/readyz").status_code == 503
    worker_heartbeat("fresh@host")
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok", "workers": "ok"}
    r.delete(HEARTBEAT_KEY)


@pytest.mark.integration
def test_a_real_worker_beats_and_logs_the_request_and_document_ids(celery_worker_process, api, claim_files, client):
    """Given a running worker, /readyz sees it; an upload sent with X-Request-ID is processed and
    the worker's JSON log lines for it carry that request id and the document id."""
    from docproc.models import Document

    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
    http, _ = api
    path, _truth = claim_files[0]
    with path.open("rb") as fh:
        resp = http.post("/api/v1/documents/", {"file": fh, "doc_type": "claim"}, format="multipart",
                         HTTP_X_REQUEST_ID="req-observability-1")
    assert resp.status_code == 201 and resp["X-Request-ID"] == "req-observability-1"
    doc_id = resp.json()["id"]
    wait_for(lambda: Document.objects.get(pk=doc_id).status in ("auto_accepted", "needs_review"), timeout=120)

    def lines():
        out = []
        for line in celery_worker_process.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    tagged = wait_for(lambda: [rec for rec in lines() if rec.get("document_id") == doc_id], timeout=10)
    assert all(rec.get("request_id") == "req-observability-1" for rec in tagged), tagged[:3]
