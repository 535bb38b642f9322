"""Per-client rate limit and daily upload quota, counted in Redis so that every web process
shares them. Answers 429 with code ``rate_limited`` or ``quota_exceeded`` and ``Retry-After``.

Counting is fail-open: when Redis cannot be reached the request goes through (an upload must not
be lost because the limiter is down) and a warning is logged.
"""

from __future__ import annotations

import json
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


# --- unauthenticated callers ------------------------------------------------------------------

class UnauthenticatedThrottled(exceptions.Throttled):
    error_code = "rate_limited"

    def __init__(self, wait: float) -> None:
        super().__init__(wait=wait, detail="Too many requests without a valid API token from this address.")


def _window(now: float) -> int:
    return int(now // 60)


def unauthenticated_over_limit(ip: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait when ``ip`` already sent DOCPROC_ANON_RATE_PER_MINUTE requests without a
    valid token this minute, else None. Read only: the caller counts with ``unauthenticated_seen``."""
    limit = settings.DOCPROC_ANON_RATE_PER_MINUTE
    if not limit or not ip:
        return None
    now = time.time() if now is None else now
    try:
        seen = redis_client().get(f"docproc:anon:{ip}:{_window(now)}")
    except Exception:
        log.warning("rate limiter unavailable; letting the request through", exc_info=True)
        return None
    if seen is not None and int(seen) >= limit:
        return 60 - (now % 60)
    return None


def unauthenticated_seen(ip: str | None, *, now: float | None = None) -> None:
    if ip and settings.DOCPROC_ANON_RATE_PER_MINUTE:
        _count(f"docproc:anon:{ip}:{_window(time.time() if now is None else now)}", 120)


# --- audit events counted per minute ------------------------------------------------------------
#
# Something that can come in floods (a bad token, a refused upload) costs one Redis increment, not
# one row in the hash chain under its global lock: each member (an address; a client and a code) is
# counted per calendar minute and written as one audit event with the count once the minute is
# over (by the next occurrence anywhere, or by a beat job calling ``flush``). Counted keys live a
# day, so a flush missed for hours loses nothing.

_TALLY_TTL = 86400


class MinuteTally:
    """Per-minute counts of one kind of event in Redis, written as one audit event per member and
    finished minute by ``write(member, counts, first, window_start)`` (inside a transaction).

    ``counters`` name what is counted for a member (e.g. failed and throttled); ``first`` keeps the
    details of a member's first occurrence in the minute (a reason, a path)."""

    def __init__(self, name: str, counters: tuple[str, ...], write) -> None:
        self.prefix = f"docproc:{name}"
        self.counters = counters
        self.write = write
        self._suffixes = (*counters, "first")

    def seen(self, member: str, *, counter: str, first: dict, now: float | None = None) -> bool:
        """Count one occurrence for ``member``. Returns False when Redis is unreachable: the caller
        then writes the event itself, so nothing goes unrecorded."""
        now = time.time() if now is None else now
        window = _window(now)
        key = f"{self.prefix}:{window}"
        try:
            pipe = redis_client().pipeline()
            pipe.hincrby(f"{key}:{counter}", member, 1)
            pipe.hsetnx(f"{key}:first", member, json.dumps(first))
            for suffix in self._suffixes:
                pipe.expire(f"{key}:{suffix}", _TALLY_TTL)
            pipe.zadd(f"{self.prefix}:windows", {str(window): window})
            pipe.execute()
        except Exception:
            log.warning("%s counter unavailable; recording the event alone", self.prefix, exc_info=True)
            return False
        self.flush(now=now)
        return True

    def flush(self, *, now: float | None = None) -> int:
        """Write one event per member for every finished minute still counted; returns how many
        events were written. Safe to call from several processes at once, and twice."""
        from django.db import transaction

        now = time.time() if now is None else now
        current = _window(now)
        windows, lock = f"{self.prefix}:windows", f"{self.prefix}:lock"
        try:
            r = redis_client()
            if not r.zcount(windows, "-inf", current - 1):
                return 0
            if not r.set(lock, "1", nx=True, ex=30):
                return 0
        except Exception:
            log.warning("%s counter unavailable; flush skipped", self.prefix, exc_info=True)
            return 0
        written = 0
        try:
            for raw in r.zrangebyscore(windows, "-inf", current - 1):
                window = int(raw)
                key = f"{self.prefix}:{window}"
                # Renamed before reading: a late increment (a clock a second behind) starts a fresh
                # hash under the old name, flushed next time. A ``:flushing`` hash left by a flush
                # that failed halfway is finished first.
                parts: dict[str, dict[str, str]] = {}
                for suffix in self._suffixes:
                    taken = f"{key}:{suffix}:flushing"
                    if not r.exists(taken) and r.exists(f"{key}:{suffix}"):
                        r.rename(f"{key}:{suffix}", taken)
                    parts[suffix] = {k.decode(): v.decode() for k, v in r.hgetall(taken).items()}
                start = datetime.fromtimestamp(window * 60, UTC)
                members = set().union(*(parts[c] for c in self.counters))
                with transaction.atomic():
                    for member in sorted(members):
                        counts = {c: int(parts[c].get(member, 0)) for c in self.counters}
                        self.write(member, counts, json.loads(parts["first"].get(member, "{}")), start)
                        written += 1
                r.delete(*(f"{key}:{suffix}:flushing" for suffix in self._suffixes))
                if not any(r.exists(f"{key}:{c}") for c in self.counters):
                    r.zrem(windows, raw)
        finally:
            r.delete(lock)
        return written


# --- failed authentications, one audit event per address per minute ------------------------------


def _auth_failures_write(member: str, counts: dict[str, int], first: dict, start: datetime) -> None:
    from docproc.audit.service import Actor, record

    failed, throttled = counts["failed"], counts["throttled"]
    record(actor=Actor("anonymous", "api"), action="api.auth_failed",
           client_ip=None if member == "-" else member,
           payload={"count": failed + throttled, "failed": failed, "throttled": throttled,
                    "window_start": start.isoformat(), "window_seconds": 60,
                    "reason": first.get("reason", ""), "path": first.get("path", "")})


AUTH_FAILURES = MinuteTally("authfail", ("failed", "throttled"), _auth_failures_write)


def auth_failure_seen(ip: str | None, *, reason: str, path: str, throttled: bool = False,
                      now: float | None = None) -> bool:
    """Count one failed (or, with ``throttled``, refused) authentication of ``ip``. Returns False
    when Redis is unreachable: the caller then writes the event itself, so nothing goes unrecorded."""
    return AUTH_FAILURES.seen(ip or "-", counter="throttled" if throttled else "failed",
                              first={"reason": reason, "path": path[:200]}, now=now)


def flush_auth_failures(*, now: float | None = None) -> int:
    """Write one ``api.auth_failed`` event per address for every finished minute still counted;
    returns how many events were written. Safe to call from several processes at once."""
    return AUTH_FAILURES.flush(now=now)
