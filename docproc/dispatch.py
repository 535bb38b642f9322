"""The only code that names Celery tasks.

The domain queues work by task name (a signature resolved by the Celery app), so it never
imports ``workers``. Which queue a task goes to is decided by ``task_routes`` in
docproc/celery.py alone. A task registered in this process (the ``workers`` app registers them
at start-up) is run in process when ``DOCPROC_TASKS_EAGER`` is set; otherwise the message goes
to the broker.

Fairness between clients: every pipeline task carries a message priority (Celery's Redis
transport keeps one list per priority and workers take the lowest number first): the number of
the same client's documents still in flight ahead of this one, one level per
DOCPROC_FAIR_SHARE_STEP documents, at most 9. A client's first waiting document therefore
overtakes the tail of another client's burst, at every stage (the priority is computed again
each time a stage is queued), and documents of one level keep their order.

Broker down: with ``quiet=True`` (the default) the failure is logged and swallowed, because
what is being queued is already committed to the database and a beat job queues it again (the
sweeper for documents, the retry job for webhooks). With ``quiet=False`` it raises, so the
calling task is retried by Celery.
"""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings

from docproc import selectors
from docproc.celery import app

log = logging.getLogger(__name__)

DOCUMENT_INGEST = "workers.tasks.document_ingest"
DOCUMENT_OCR = "workers.tasks.document_ocr"
DOCUMENT_EXTRACT = "workers.tasks.document_extract"
WEBHOOK_DELIVER = "workers.tasks.webhook_deliver"
DOCUMENT_REPROCESS = "workers.tasks.document_reprocess"
CALIBRATIONS_REFIT = "workers.tasks.calibrations_refit"  # queued by the beat schedule (docproc/celery.py)


MAX_PRIORITY = 9  # the lowest priority level (Redis transport: 0 is taken first)


def document_priority(document_id) -> int:
    """The message priority of a document's next task (0 first): see the module's docstring."""
    step = settings.DOCPROC_FAIR_SHARE_STEP
    if step <= 0:
        return 0
    return min(MAX_PRIORITY, selectors.document_client_backlog(document_id) // step)


def _send(task_name: str, object_id, *, quiet: bool, what: str, retried_by: str, priority: int | None = None) -> None:
    try:
        options = {} if priority is None else {"priority": priority}
        app.signature(task_name, args=[str(object_id)]).apply_async(**options)
    except Exception:
        if not quiet:
            raise
        log.exception("could not queue %s %s; %s will retry", what, object_id, retried_by)


def document_ingest_enqueue(document_id, *, quiet: bool = True) -> None:
    """Queue the pipeline's first task for a stored document (the cpu queue, by route)."""
    _send(DOCUMENT_INGEST, document_id, quiet=quiet, what="document", retried_by="the sweeper",
          priority=document_priority(document_id))


def document_ocr_enqueue(document_id, *, quiet: bool = False) -> None:
    """Queue render, OCR and layout of an ingested document (the ocr queue, by route)."""
    _send(DOCUMENT_OCR, document_id, quiet=quiet, what="OCR of document", retried_by="the sweeper",
          priority=document_priority(document_id))


def document_extract_enqueue(document_id, *, quiet: bool = False) -> None:
    """Queue extraction of a read document (the gpu queue, by route)."""
    _send(DOCUMENT_EXTRACT, document_id, quiet=quiet, what="extraction of document", retried_by="the sweeper",
          priority=document_priority(document_id))


_STAGE_ENQUEUE = {"ocr": document_ocr_enqueue, "extract": document_extract_enqueue}


def document_stage_enqueue(document_id, stage: str, *, quiet: bool = False) -> None:
    """Queue the task of pipeline stage ``stage`` ("ocr" or "extract", as services name them)."""
    _STAGE_ENQUEUE[stage](document_id, quiet=quiet)


def document_reprocess_enqueue(run_id, *, quiet: bool = True) -> None:
    """Queue a requested re-run (its ExtractionRun row says what to run; the GPU queue, by route)."""
    _send(DOCUMENT_REPROCESS, run_id, quiet=quiet, what="re-run", retried_by="`manage.py reprocess --requeue`")


def webhook_deliver_enqueue(delivery_id, *, quiet: bool = True) -> None:
    """Queue one delivery attempt of a webhook."""
    _send(WEBHOOK_DELIVER, delivery_id, quiet=quiet, what="webhook", retried_by="the retry job")


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PIPELINE_TASKS = (DOCUMENT_INGEST, DOCUMENT_OCR, DOCUMENT_EXTRACT)
_PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport keeps priorities 1-9 in "<queue>\x06\x16<n>"


def _document_ids(raw: bytes | str) -> set[str]:
    try:
        message = json.loads(raw)
    except ValueError:
        return set()
    if isinstance(message, list):  # the unacked hash holds [message, exchange, routing key]
        message = message[0] if message else {}
    headers = message.get("headers") or {} if isinstance(message, dict) else {}
    if headers.get("task") not in _PIPELINE_TASKS:
        return set()
    return set(_UUID.findall(str(headers.get("argsrepr", ""))))


def documents_in_flight() -> set[str] | None:
    """Ids of the documents whose pipeline task the broker still holds: waiting in a queue, or
    delivered to a worker and not yet acknowledged (tasks are acknowledged late, so a running
    task's message stays unacknowledged until it ends, and comes back if the worker dies).

    None when the broker cannot be read this way (not Redis, or unreachable): the sweeper then
    judges by time alone."""
    url = str(app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    try:
        import redis

        conn = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        found: set[str] = set()
        queues = [q.name for q in app.conf.task_queues or ()] or ["cpu", "ocr", "gpu"]
        for queue in queues:
            for key in [queue, *(f"{queue}{_PRIORITY_SEPARATOR}{p}" for p in range(1, 10))]:
                for raw in conn.lrange(key, 0, -1):
                    found |= _document_ids(raw)
        for raw in conn.hvals("unacked"):
            found |= _document_ids(raw)
        return found
    except Exception:
        log.warning("could not read the broker's queues; the sweeper judges by time alone", exc_info=True)
        return None
