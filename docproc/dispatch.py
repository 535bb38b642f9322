"""The only code that names Celery tasks.

The domain queues work by task name (a signature resolved by the Celery app), so it never
imports ``workers``. Which queue a task goes to is decided by ``task_routes`` in
docproc/celery.py alone. A task registered in this process (the ``workers`` app registers them
at start-up) is run in process when ``DOCPROC_TASKS_EAGER`` is set; otherwise the message goes
to the broker.

Broker down: with ``quiet=True`` (the default) the failure is logged and swallowed, because
what is being queued is already committed to the database and a beat job queues it again (the
sweeper for documents, the retry job for webhooks). With ``quiet=False`` it raises, so the
calling task is retried by Celery.
"""

from __future__ import annotations

import logging

from docproc.celery import app

log = logging.getLogger(__name__)

DOCUMENT_INGEST = "workers.tasks.document_ingest"
DOCUMENT_EXTRACT = "workers.tasks.document_extract"
WEBHOOK_DELIVER = "workers.tasks.webhook_deliver"


def _send(task_name: str, object_id, *, quiet: bool, what: str, retried_by: str) -> None:
    try:
        app.signature(task_name, args=[str(object_id)]).apply_async()
    except Exception:
        if not quiet:
            raise
        log.exception("could not queue %s %s; %s will retry", what, object_id, retried_by)


def document_ingest_enqueue(document_id, *, quiet: bool = True) -> None:
    """Queue the pipeline's first task for a stored document."""
    _send(DOCUMENT_INGEST, document_id, quiet=quiet, what="document", retried_by="the sweeper")


def document_extract_enqueue(document_id, *, quiet: bool = False) -> None:
    """Queue extraction of an ingested document (the GPU queue, by route)."""
    _send(DOCUMENT_EXTRACT, document_id, quiet=quiet, what="extraction of document", retried_by="the sweeper")


def webhook_deliver_enqueue(delivery_id, *, quiet: bool = True) -> None:
    """Queue one delivery attempt of a webhook."""
    _send(WEBHOOK_DELIVER, delivery_id, quiet=quiet, what="webhook", retried_by="the retry job")
