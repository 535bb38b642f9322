"""Liveness and readiness: the database, Redis, the file storage and recently seen workers."""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import JsonResponse

from docproc import metrics


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2).ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        # A name nobody stores: answered without error only when the storage (a bucket: its
        # server, keys and bucket) can be reached and read.
        default_storage.exists(".readyz-probe")
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"error: {type(exc).__name__}"
    try:
        seen = metrics.workers_seen()
        checks["workers"] = "ok" if seen else f"error: no worker heartbeat in {settings.DOCPROC_WORKER_STALE_SECONDS}s"
    except Exception as exc:
        checks["workers"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
