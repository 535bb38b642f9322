"""Prometheus metrics at ``/metrics``.

Web and worker processes are many, so nothing is kept in process memory: workers add each run's
stage timings and model calls to histograms kept in Redis (``observe_run``), and a collector
reads those, the broker's queue lengths and the database's review backlog at scrape time.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

QUEUES = ("cpu", "ocr", "gpu")
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MODEL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
PREFIX = "docproc:metrics"
HEARTBEAT_KEY = "docproc:workers:heartbeat"


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def _bucket(value: float, buckets: tuple[float, ...]) -> str:
    for bound in buckets:
        if value <= bound:
            return repr(bound)
    return "+Inf"


def _observe(pipe, key: str, value: float, buckets: tuple[float, ...]) -> None:
    pipe.hincrby(key, _bucket(value, buckets), 1)
    pipe.hincrbyfloat(key, "sum", value)


def observe_run(*, timings: Mapping[str, float], calls: Iterable[Mapping[str, Any]] = ()) -> None:
    """Add one extraction run to the shared histograms. Never raises: metrics must not fail a
    document."""
    try:
        pipe = _redis().pipeline(transaction=False)
        for stage, seconds in timings.items():
            _observe(pipe, f"{PREFIX}:stage:{stage}", float(seconds), STAGE_BUCKETS)
        for call in calls:
            model = f"{call.get('backend', '')}|{call.get('model', '')}"
            _observe(pipe, f"{PREFIX}:model:{model}", float(call.get("latency_s") or 0.0), MODEL_BUCKETS)
            pipe.hincrby(f"{PREFIX}:tokens", f"{model}|in", int(call.get("tokens_in") or 0))
            pipe.hincrby(f"{PREFIX}:tokens", f"{model}|out", int(call.get("tokens_out") or 0))
            pipe.hincrby(f"{PREFIX}:model_calls", model + ("|cache" if call.get("cache_hit") else "|live"), 1)
        pipe.execute()
    except Exception:
        log.warning("could not record run metrics", exc_info=True)


def observe_busy(queue: str, seconds: float) -> None:
    """Add the seconds one task of ``queue`` ran to the queue's busy time. Never raises."""
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrbyfloat(f"{PREFIX}:busy_seconds", queue, float(seconds))
        pipe.hincrby(f"{PREFIX}:tasks", queue, 1)
        pipe.execute()
    except Exception:
        log.warning("could not record queue busy time", exc_info=True)


def queue_busy() -> dict[str, tuple[float, int]]:
    """{queue: (busy seconds, tasks run)} since the counters began (workers add to them)."""
    r = _redis()
    busy = {k.decode(): float(v) for k, v in r.hgetall(f"{PREFIX}:busy_seconds").items()}
    tasks = {k.decode(): int(v) for k, v in r.hgetall(f"{PREFIX}:tasks").items()}
    return {q: (busy.get(q, 0.0), tasks.get(q, 0)) for q in sorted(set(busy) | set(tasks))}


def worker_heartbeat(hostname: str) -> None:
    """Called by every worker process every DOCPROC_WORKER_HEARTBEAT_SECONDS."""
    try:
        _redis().hset(HEARTBEAT_KEY, hostname, f"{time.time():.3f}")
    except Exception:
        log.warning("could not write the worker heartbeat", exc_info=True)


def workers_seen(*, within: float | None = None) -> dict[str, float]:
    """{worker name: seconds since its last heartbeat} for the workers seen within ``within``."""
    within = settings.DOCPROC_WORKER_STALE_SECONDS if within is None else within
    now = time.time()
    seen = {}
    for name, at in _redis().hgetall(HEARTBEAT_KEY).items():
        age = now - float(at)
        if age <= within:
            seen[name.decode()] = round(age, 1)
    return seen


def _histogram(name: str, doc: str, label: str, raw: dict[str, dict[bytes, bytes]], buckets) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for value, counts in raw.items():
        decoded = {k.decode(): float(v) for k, v in counts.items()}
        cumulative, acc = [], 0.0
        for bound in (*map(repr, buckets), "+Inf"):
            acc += decoded.get(bound, 0.0)
            cumulative.append((bound, acc))
        family.add_metric([value] if label else [], cumulative, decoded.get("sum", 0.0))
    return family


class DocprocCollector:
    """Everything read at scrape time; each source that fails is skipped, not fatal."""

    def collect(self):
        yield from self._redis_metrics()
        yield from self._database_metrics()

    def _redis_metrics(self):
        try:
            import redis

            broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1)
            depth = GaugeMetricFamily("docproc_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
            for queue in QUEUES:
                # Celery's Redis transport keeps priorities in extra lists named "<queue>\x06\x16<n>".
                total = broker.llen(queue) + sum(broker.llen(k) for k in broker.scan_iter(f"{queue}\x06\x16*"))
                depth.add_metric([queue], total)
            yield depth
            r = _redis()
            stages = {k.decode().rsplit(":", 1)[1]: r.hgetall(k) for k in r.scan_iter(f"{PREFIX}:stage:*")}
            yield _histogram("docproc_stage_seconds", "Seconds per pipeline stage of one document.", "stage",
                             stages, STAGE_BUCKETS)
            models = {k.decode().split(":", 3)[3]: r.hgetall(k) for k in r.scan_iter(f"{PREFIX}:model:*")}
            yield _histogram("docproc_model_call_seconds", "Latency of one extraction model call.", "model",
                             models, MODEL_BUCKETS)
            tokens = CounterMetricFamily("docproc_model_tokens", "Tokens sent to and produced by models.",
                                         labels=["model", "direction"])
            for key, count in r.hgetall(f"{PREFIX}:tokens").items():
                model, _, direction = key.decode().rpartition("|")
                tokens.add_metric([model, direction], float(count))
            yield tokens
            busy = CounterMetricFamily("docproc_queue_busy_seconds", "Seconds workers spent running each queue's tasks.",
                                       labels=["queue"])
            ran = CounterMetricFamily("docproc_queue_tasks", "Tasks run from each queue.", labels=["queue"])
            for queue, (seconds, count) in queue_busy().items():
                busy.add_metric([queue], seconds)
                ran.add_metric([queue], count)
            yield busy
            yield ran
            workers = GaugeMetricFamily("docproc_workers_seen", "Workers with a heartbeat within the stale limit.")
            workers.add_metric([], len(workers_seen()))
            yield workers
        except Exception:
            log.warning("metrics: Redis unavailable", exc_info=True)

    def _database_metrics(self):
        from django.db.models import Count, Min, Q
        from django.utils import timezone

        from docproc.models import Document, DocumentStatus, Field, FieldStatus

        try:
            now = timezone.now()
            by_status = GaugeMetricFamily("docproc_documents", "Documents by status.", labels=["status"])
            counts = dict(Document.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
            for status in DocumentStatus.values:
                by_status.add_metric([status], counts.get(status, 0))
            yield by_status
            backlog = Document.objects.filter(status=DocumentStatus.NEEDS_REVIEW).aggregate(n=Count("id"), oldest=Min("created_at"))
            yield GaugeMetricFamily("docproc_review_backlog", "Documents waiting for review.", value=backlog["n"])
            age = (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0.0
            yield GaugeMetricFamily("docproc_review_backlog_oldest_seconds",
                                    "Age of the oldest document waiting for review.", value=age)
            # Automation rate over the last 24 hours: documents whose every field was auto-accepted,
            # among the documents extracted in that time.
            recent = Document.objects.filter(runs__created_at__gte=now - timedelta(hours=24)).distinct()
            total = recent.count()
            touched = Field.objects.filter(document__in=recent).filter(
                ~Q(status=FieldStatus.AUTO_ACCEPTED)).values("document").distinct().count()
            yield GaugeMetricFamily("docproc_automation_rate",
                                    "Share of documents extracted in the last 24 h with no field for review.",
                                    value=(total - touched) / total if total else 0.0)
        except Exception:
            log.warning("metrics: database unavailable", exc_info=True)


def _allowed(request) -> bool:
    token = settings.DOCPROC_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


def metrics_view(request):
    """Prometheus exposition for a scraper with DOCPROC_METRICS_TOKEN, or a staff user."""
    if not _allowed(request):
        status = 403 if getattr(request, "user", None) and request.user.is_authenticated else 401
        return JsonResponse({"code": "permission_denied" if status == 403 else "not_authenticated",
                             "detail": "Metrics need DOCPROC_METRICS_TOKEN as a bearer token, or a staff login."},
                            status=status)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DocprocCollector())
    # django-prometheus's HTTP request metrics (requests, latency, status codes by view) live in
    # the default registry of this process.
    body = generate_latest(registry) + generate_latest(REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
