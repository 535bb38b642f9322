"""Tasks are queued by name (docproc/dispatch.py), so a misspelt name would fail only at run
time: every name must be a registered task, routed to its queue by task_routes alone."""

from __future__ import annotations

from docproc import dispatch
from docproc.celery import app

NAMES = {dispatch.DOCUMENT_INGEST: "cpu", dispatch.DOCUMENT_OCR: "ocr", dispatch.DOCUMENT_EXTRACT: "gpu",
         dispatch.WEBHOOK_DELIVER: "cpu", dispatch.DOCUMENT_REPROCESS: "gpu", dispatch.CALIBRATIONS_REFIT: "cpu"}


def test_every_dispatched_name_is_a_registered_task_on_its_queue():
    for name, queue in NAMES.items():
        assert name in app.tasks, f"{name} is not a registered task"
        route = app.amqp.router.route({}, name, args=["x"])
        assert route["queue"].name == queue, (name, route["queue"].name)


def test_beat_jobs_name_registered_tasks():
    for job in app.conf.beat_schedule.values():
        assert job["task"] in app.tasks, job["task"]


def test_no_route_names_a_task_that_does_not_exist():
    assert sorted(set(app.conf.task_routes) - set(app.tasks)) == []


def test_every_pipeline_stage_has_a_task_and_every_routed_queue_is_declared():
    """The stages services name (docproc.services.STAGE_*) are the ones dispatch can queue, and
    every queue a task is routed to is declared (a worker started with -Q for it gets it)."""
    from docproc import services

    assert set(dispatch._STAGE_ENQUEUE) == {services.STAGE_OCR, services.STAGE_EXTRACT}
    declared = {q.name for q in app.conf.task_queues}
    assert {r["queue"] for r in app.conf.task_routes.values()} <= declared == {"cpu", "ocr", "gpu"}
