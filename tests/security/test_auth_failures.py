"""Bad API tokens: throttled per address and written to the audit chain as one event per address
per minute with a count, not one row per request (real Redis)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def clean_counters():
    from docproc.api.throttling import redis_client

    def wipe():
        r = redis_client()
        for pattern in ("docproc:anon:*", "docproc:authfail:*"):
            for key in r.scan_iter(pattern):
                r.delete(key)

    wipe()
    yield
    wipe()


def test_a_flood_of_bad_tokens_is_throttled_and_audited_once_with_its_count(clean_counters, settings, make_api_client):
    """Given 60 requests with a bad token from one address in one minute, then the first
    DOCPROC_ANON_RATE_PER_MINUTE get 401 and the rest 429 with Retry-After, the address's real
    client still gets through, and the chain gets one api.auth_failed event with the count."""
    from rest_framework.test import APIClient

    from docproc.api.throttling import flush_auth_failures
    from docproc.audit.models import AuditEvent

    settings.DOCPROC_ANON_RATE_PER_MINUTE = 10
    _, token = make_api_client("real")
    before = AuditEvent.objects.count()
    window = int(time.time() // 60)
    http = APIClient(REMOTE_ADDR="203.0.113.7")
    http.credentials(HTTP_AUTHORIZATION="Bearer dp_not-a-token-at-all")
    answers = [http.get("/api/v1/documents/") for _ in range(60)]
    if int(time.time() // 60) != window:
        pytest.skip("the minute turned during the burst")
    codes = [a.status_code for a in answers]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert answers[-1].json()["code"] == "rate_limited" and 0 < int(answers[-1]["Retry-After"]) <= 60
    # Nothing written while the minute runs.
    assert AuditEvent.objects.filter(action="api.auth_failed").count() == 0
    good = APIClient(REMOTE_ADDR="203.0.113.7")
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert good.get("/api/v1/documents/").status_code == 200
    # Another address is not throttled by this one.
    other = APIClient(REMOTE_ADDR="198.51.100.2")
    other.credentials(HTTP_AUTHORIZATION="Bearer dp_not-a-token-at-all")
    assert other.get("/api/v1/documents/").status_code == 401

    assert flush_auth_failures(now=(window + 1) * 60 + 1) == 2
    events = {e.client_ip: e for e in AuditEvent.objects.filter(action="api.auth_failed")}
    assert set(events) == {"203.0.113.7", "198.51.100.2"}
    flood = events["203.0.113.7"].payload
    assert flood["count"] == 60 and flood["failed"] == 10 and flood["throttled"] == 50
    assert flood["reason"] == "unknown or revoked token" and flood["path"] == "/api/v1/documents/"
    assert events["198.51.100.2"].payload["count"] == 1
    assert AuditEvent.objects.count() == before + 2
    # Flushed once: a second flush writes nothing.
    assert flush_auth_failures(now=(window + 2) * 60) == 0


def test_requests_without_a_token_are_throttled_too(clean_counters, settings):
    from rest_framework.test import APIClient

    settings.DOCPROC_ANON_RATE_PER_MINUTE = 3
    http = APIClient(REMOTE_ADDR="203.0.113.9")
    window = int(time.time() // 60)
    codes = [http.get("/api/v1/documents/").status_code for _ in range(5)]
    if int(time.time() // 60) != window:
        pytest.skip("the minute turned during the burst")
    assert codes == [401, 401, 401, 429, 429]
