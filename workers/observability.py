"""Worker liveness and log context.

Every worker writes its name and the time to Redis every DOCPROC_WORKER_HEARTBEAT_SECONDS;
``/readyz`` and ``/metrics`` read them. A task carries the request id of the web request that
queued it (a message header), and a document task logs with its document id; both are cleared
when the task ends so that the next task of the process does not inherit them. The seconds each
task ran are added to its queue's busy time (``docproc_queue_busy_seconds_total``), the measure
that autoscaling and the load bench read a queue's utilisation from.
"""

from __future__ import annotations

import logging
import threading
import time

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready, worker_shutdown
from django.db import DatabaseError, connection

from docproc.logging import document_id_var, request_id_var
from docproc.metrics import observe_busy
from docproc.models import Document
from docproc.pipeline.extract.llm import answer_scope, client_scope

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "docproc_request_id"
DOCUMENT_TASKS = frozenset({"workers.tasks.document_ingest", "workers.tasks.document_extract",
                            "workers.tasks.document_ocr"})
_tokens: dict[str, tuple] = {}

_stop = threading.Event()


@worker_ready.connect
def _start_heartbeat(sender=None, **_: object) -> None:
    from django.conf import settings

    from docproc.metrics import worker_heartbeat

    name = getattr(sender, "hostname", None) or "worker"
    interval = max(1, settings.DOCPROC_WORKER_HEARTBEAT_SECONDS)

    def beat() -> None:
        while True:
            worker_heartbeat(name)
            if _stop.wait(interval):
                return

    _stop.clear()
    threading.Thread(target=beat, name="docproc-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(sender=None, **_: object) -> None:
    _stop.set()
    try:
        from docproc.metrics import HEARTBEAT_KEY, _redis

        _redis().hdel(HEARTBEAT_KEY, getattr(sender, "hostname", None) or "worker")
    except Exception:  # Redis down at shutdown: the entry goes stale on its own
        pass


@before_task_publish.connect
def _send_request_id(headers=None, **_: object) -> None:
    rid = request_id_var.get()
    if rid and headers is not None and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = rid


def _answer_scope(document_id: str | None) -> tuple[str, str]:
    """Cached LLM answers belong to the document's client (docproc.pipeline.extract.llm.answer_scope)."""
    if document_id is None:
        return ("local", "")
    def client_of() -> object:
        return Document.objects.filter(pk=document_id).values_list("client_id", flat=True).first()

    try:
        client_id = client_of()
    except DatabaseError:
        # A persistent connection the database dropped (a restart, a failover) fails here first.
        # Celery logs and swallows what a signal handler raises, which would leave the task without
        # its client's answer scope: reconnect once, so the scope is always the document's client.
        log.warning("database connection lost before the task; reconnected", extra={"document_id": document_id})
        connection.close()
        client_id = client_of()
    return (client_scope(client_id), document_id)


@task_prerun.connect
def _enter_task_context(task_id=None, task=None, args=None, **_: object) -> None:
    rid = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    doc = str(args[0]) if task is not None and task.name in DOCUMENT_TASKS and args else None
    scope = answer_scope.set(_answer_scope(doc))
    queue = ((getattr(task.request, "delivery_info", None) or {}).get("routing_key") or "") if task is not None else ""
    _tokens[task_id] = (request_id_var.set(rid), document_id_var.set(doc), scope, queue, time.monotonic())


@task_postrun.connect
def _leave_task_context(task_id=None, **_: object) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        request_id_var.reset(tokens[0])
        document_id_var.reset(tokens[1])
        answer_scope.reset(tokens[2])
        if tokens[3]:
            observe_busy(tokens[3], time.monotonic() - tokens[4])
