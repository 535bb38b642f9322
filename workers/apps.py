from __future__ import annotations

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """Registers the Celery tasks in every process that loads Django, so a task queued by name
    (docproc/dispatch.py) resolves to its function: in process when tasks run eagerly, with its
    options (retries, acknowledgement) everywhere."""

    name = "workers"

    def ready(self) -> None:
        from workers import tasks  # noqa: F401  (importing registers the tasks)
