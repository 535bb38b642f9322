"""Per-client rate limit and daily upload quota, counted in Redis so that every web process
shares them. Answers 429 with code ``rate_limited`` or ``quota_exceeded`` and ``Retry-After``.

Counting is fail-open: when Redis cannot be reached the request goes through (an upload must not
be lost because the limiter is down) and a warning is logged.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from rest_framework import exceptions, throttling

from docproc.models import ApiClient

log = logging.getLogger(__name__)

_redis = None


def redis_client():
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    return _redis


def _count(key: str, ttl: int) -> int | None:
    """Increment ``key`` (expiring after ``ttl`` seconds); None when Redis is unreachable."""
    try:
        pipe = redis_client().pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl)  # the key names its window, so pushing the expiry back is harmless
        return int(pipe.execute()[0])
    except Exception:
        log.warning("rate limiter unavailable; letting the request through", exc_info=True)
        return None


class ApiClientRateThrottle(throttling.BaseThrottle):
    """At most ``ApiClient.rate_limit_per_minute`` requests per client per calendar minute."""

    scope_code = "rate_limited"

    def allow_request(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient) or not client.rate_limit_per_minute:
            return True
        now = time.time()
        window = int(now // 60)
        count = _count(f"docproc:rate:{client.pk}:{window}", 120)
        self._wait = 60 - (now % 60)
        return count is None or count <= client.rate_limit_per_minute

    def wait(self) -> float | None:
        return getattr(self, "_wait", 60.0)


class QuotaExceeded(exceptions.Throttled):
    error_code = "quota_exceeded"

    def __init__(self, wait: float, quota: int) -> None:
        super().__init__(wait=wait, detail=f"The daily upload quota of {quota} documents is used up.")


class DailyUploadQuotaThrottle(throttling.BaseThrottle):
    """At most DOCPROC_DAILY_UPLOAD_QUOTA upload requests (POSTs) per client per UTC day; 0 = no
    quota. Reads and status polls count against the rate limit only."""

    def allow_request(self, request, view) -> bool:
        quota = settings.DOCPROC_DAILY_UPLOAD_QUOTA
        client = request.auth
        if request.method != "POST" or not quota or not isinstance(client, ApiClient):
            return True
        now = datetime.now(UTC)
        count = _count(f"docproc:quota:{client.pk}:{now:%Y%m%d}", 2 * 86400)
        if count is not None and count > quota:
            raise QuotaExceeded(wait=86400 - (now.hour * 3600 + now.minute * 60 + now.second), quota=quota)
        return True
