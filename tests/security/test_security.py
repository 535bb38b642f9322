"""Tokens at rest, rate limits and quotas, webhook address safety and signatures, deploy checks
and security headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# --- API tokens -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_api_tokens_are_stored_only_as_a_hash(make_api_client):
    from django.db import connection
    from rest_framework.test import APIClient

    client, token = make_api_client("hashed")
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM docproc_apiclient WHERE id = %s", [client.pk])
        stored = " ".join(str(v) for v in cur.fetchone())
    assert token not in stored and token[12:] not in stored
    assert client.token_hash == hashlib.sha256(token.encode()).hexdigest()

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert http.get("/api/v1/documents/").status_code == 200
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {client.token_hash}")  # the hash is no token
    resp = http.get("/api/v1/documents/")
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_token"


# --- rate limit and quota ---------------------------------------------------------------------

def _clear_counters(client) -> None:
    from docproc.api.throttling import redis_client

    r = redis_client()
    for pattern in (f"docproc:rate:{client.pk}:*", f"docproc:quota:{client.pk}:*"):
        for key in r.scan_iter(pattern):
            r.delete(key)


@pytest.mark.django_db
def test_rate_limit_per_client_answers_429_rate_limited(make_api_client):
    from rest_framework.test import APIClient

    limited, token = make_api_client("limited", rate_limit_per_minute=3)
    other, other_token = make_api_client("unlimited")
    _clear_counters(limited)
    _clear_counters(other)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    window = int(time.time() // 60)
    answers = [http.get("/api/v1/documents/") for _ in range(5)]
    codes = [a.status_code for a in answers]
    if int(time.time() // 60) != window:  # the minute turned during the burst: fewer are refused
        assert codes.count(429) >= 1
    else:
        assert codes == [200, 200, 200, 429, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another client's budget is its own.
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {other_token}")
    assert http.get("/api/v1/documents/").status_code == 200


@pytest.mark.django_db
def test_daily_upload_quota_answers_429_quota_exceeded(make_api_client, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    settings.DOCPROC_DAILY_UPLOAD_QUOTA = 2
    client, token = make_api_client("quota")
    _clear_counters(client)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    codes = []
    for i in range(3):
        upload = SimpleUploadedFile(f"n{i}.png", b"not an image %d" % i)
        resp = http.post("/api/v1/documents/", {"file": upload, "doc_type": "claim"}, format="multipart")
        codes.append((resp.status_code, resp.json()["code"]))
    assert codes[:2] == [(415, "unsupported_type")] * 2  # counted even when the file is refused
    assert codes[2] == (429, "quota_exceeded")
    assert http.get("/api/v1/documents/").status_code == 200  # reads are not uploads


# --- webhooks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/hook", "http://10.1.2.3/hook",
    "http://192.168.0.10/hook", "http://172.16.5.4/hook", "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/hook", "ftp://example.com/hook", "http:///nohost",
])
def test_webhook_urls_to_internal_addresses_are_refused(url, settings):
    from docproc.webhooks import UnsafeWebhookUrl, check_webhook_url

    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url(url)


def test_private_webhook_urls_pass_only_when_the_setting_allows(settings):
    from docproc.webhooks import check_webhook_url

    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    check_webhook_url("http://127.0.0.1:8080/hook")
    check_webhook_url("http://10.1.2.3/hook")


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300) -> bool:
    """A receiver's check, written from the Standard Webhooks specification: the signed content is
    ``{webhook-id}.{webhook-timestamp}.{body}``, the key is the base64 secret after ``whsec_``, and
    ``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256>`` values."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (part.partition(",") for part in headers["webhook-signature"].split())
    )


@pytest.fixture
def webhook_receiver():
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@pytest.mark.django_db
def test_webhook_signature_verifies_at_a_standard_webhooks_receiver(make_api_client, settings, webhook_receiver):
    from django.core.files.base import ContentFile

    from docproc.models import Document, WebhookDelivery
    from docproc.webhooks import delivery_attempt, delivery_create

    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    url, received = webhook_receiver
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    client, _ = make_api_client("hooked", webhook_url=url, webhook_secret=secret)
    doc = Document(client=client, sha256="1" * 64, original_name="a.pdf", doc_type="claim", status="auto_accepted")
    doc.file.save("original", ContentFile(b"%PDF-1.4\n"), save=False)
    doc.save()
    delivery = delivery_create(document_id=doc.id, event="document.completed")
    assert delivery_attempt(delivery_id=delivery.id) == WebhookDelivery.Status.DELIVERED

    (headers, body), = received
    assert verify_standard_webhook(secret, headers, body)
    assert json.loads(body)["data"]["document"]["id"] == str(doc.id)
    assert not verify_standard_webhook(secret, headers, body.replace(b"auto_accepted", b"rejected"))
    assert not verify_standard_webhook("whsec_" + base64.b64encode(b"x" * 24).decode(), headers, body)
    stale = dict(headers, **{"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)})
    assert not verify_standard_webhook(secret, stale, body)


# --- deployment -------------------------------------------------------------------------------

def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = dict(os.environ, DOCPROC_HTTPS="1", DOCPROC_DEBUG="0", DOCPROC_SECRET_KEY=secrets.token_urlsafe(64),
               DOCPROC_ALLOWED_HOSTS="docproc.example.com", DOCPROC_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/documents/", "/accounts/login/", "/no-such-page/"])
def test_security_headers_on_every_answer(client, path):
    resp = client.get(path)
    csp = resp["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Referrer-Policy"] == "same-origin"
    assert resp["X-Frame-Options"] == "DENY"
