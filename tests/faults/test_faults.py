"""Break things for real and check that nothing is lost, duplicated or silently dropped.

Each test runs its own redis-server, Celery worker processes and (where uploads go over HTTP)
gunicorn; PostgreSQL is the test database, whose connections one test terminates."""

from __future__ import annotations

import ast
import itertools
import threading
import time
from datetime import timedelta

import pytest

from docproc.bench.stack import free_port, upload_over_http, wait_until
from tests.faults.conftest import FAULT_ENV, fail_with_logs

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FINAL = ("auto_accepted", "needs_review", "reviewed", "delivered", "failed", "rejected")


def unique_claim_pdf(seed: int, tmp_path, **changes) -> bytes:
    import dataclasses

    from fixtures.claims import make_claim, write_claim_pdf

    claim = dataclasses.replace(make_claim(seed), **changes)
    return write_claim_pdf(claim, tmp_path / f"claim-{seed}.pdf", **({"layout": "inline"} if changes else {})).read_bytes()


def status_of(doc_id: str) -> str:
    from docproc.models import Document

    return Document.objects.values_list("status", flat=True).get(pk=doc_id)


def assert_exactly_one_result(doc_id: str) -> None:
    """One extraction run, one field per schema field, one move to the final status."""
    from docproc.audit.models import AuditEvent
    from docproc.doctypes import get_doctype
    from docproc.models import Document, ExtractionRun, Field

    doc = Document.objects.get(pk=doc_id)
    assert ExtractionRun.objects.filter(document=doc).count() == 1
    names = list(Field.objects.filter(document=doc).values_list("name", flat=True))
    assert sorted(names) == sorted(f.name for f in get_doctype(doc.doc_type).fields)
    moves = [e.payload["after"] for e in AuditEvent.objects.filter(document_id=doc.id, action="document.status_changed")]
    assert moves.count(doc.status) == 1, moves
    finished = AuditEvent.objects.filter(document_id=doc.id, action="pipeline.stage_finished",
                                         payload__stage="extract").count()
    assert finished == 1


# --- a worker killed in the middle of OCR ------------------------------------------------------

def test_worker_killed_mid_ocr_task_is_redelivered_and_finishes_once(stack, make_api_client, tmp_path):
    """Given a scanned claim being read by a worker, when that worker is SIGKILLed in the middle
    of OCR, then after the visibility timeout a second worker gets the same task and the document
    ends with exactly one result."""
    from docproc.models import Document
    from fixtures.claims import make_claim, write_claim_pdf, write_scan

    _, token = make_api_client("faults-kill")
    scan = write_scan(write_claim_pdf(make_claim(41), tmp_path / "c.pdf"), tmp_path / "scan.png", dpi=150)
    base = stack.start_web(workers=1, threads=2)
    first = stack.start_worker("first")
    status, body = upload_over_http(base, token, scan.read_bytes(), "scan.png")
    assert status == 201, body
    doc_id = body["id"]
    wait_until(lambda: Document.objects.get(pk=doc_id).stage.startswith(("render", "ocr")), timeout=60,
               interval=0.05, what="OCR started")
    stack.kill(first)
    killed_at = time.monotonic()
    doc = Document.objects.get(pk=doc_id)
    assert doc.status == "processing", doc.status

    # The broker restores an unacked task when a worker starts after the visibility timeout.
    time.sleep(max(0.0, int(FAULT_ENV["DOCPROC_VISIBILITY_TIMEOUT"]) + 1 - (time.monotonic() - killed_at)))
    stack.start_worker("second")
    try:
        wait_until(lambda: status_of(doc_id) in FINAL, timeout=120, what="final state")
    except TimeoutError:
        pytest.fail(fail_with_logs(stack, f"document stuck in {status_of(doc_id)}"))
    assert status_of(doc_id) in ("auto_accepted", "needs_review")
    assert_exactly_one_result(doc_id)
    second_log = stack.procs[-1].log_path.read_text(errors="replace")
    # the OCR task is redelivered to the second worker, which then queues and runs extraction
    assert "workers.tasks.document_ocr[" in second_log and "workers.tasks.document_extract[" in second_log
    assert doc_id in second_log


# --- Redis restarted during a burst of uploads ------------------------------------------------

def test_redis_restart_during_upload_burst_loses_no_accepted_upload(stack, make_api_client, tmp_path):
    """Given uploads arriving from several clients, when the broker dies and comes back empty in
    the middle, then every upload the API accepted reaches a final state (the sweeper queues
    what the broker lost) with exactly one result."""
    _, token = make_api_client("faults-burst")
    files = [unique_claim_pdf(200 + i, tmp_path) for i in range(20)]
    base = stack.start_web(workers=2, threads=4)
    stack.start_worker("burst")
    accepted: list[str] = []
    answers: list[int] = []
    lock = threading.Lock()

    def uploader(chunk):
        for i, data in chunk:
            status, body = upload_over_http(base, token, data, f"claim-{i}.pdf")
            with lock:
                answers.append(status)
                if status in (200, 201):
                    accepted.append(body["id"])
            time.sleep(0.5)

    threads = [threading.Thread(target=uploader, args=([(i, f) for i, f in enumerate(files) if i % 4 == k],))
               for k in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(answers) >= 4, timeout=60, interval=0.05, what="first uploads")
    stack.redis.restart(down_seconds=1.5)
    answered_when_back = len(answers)
    for t in threads:
        t.join(timeout=180)
    assert all(s < 500 for s in answers), answers
    assert len(accepted) == len(files), answers  # the web keeps accepting while the broker is down
    assert answered_when_back < len(files)  # the broker died in the middle of the burst
    requeued: list[str] = []

    def sweep_until_final() -> bool:
        pending = [d for d in accepted if status_of(d) not in FINAL]
        if pending:
            # What beat runs every minute, with the clock moved past the stuck thresholds.
            out = stack.manage("shell", "-c", SWEEP)
            assert out.returncode == 0, out.stderr[-2000:]
            requeued.extend(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
        return not pending

    try:
        wait_until(sweep_until_final, timeout=240, interval=5, what="every accepted upload final")
    except TimeoutError:
        pytest.fail(fail_with_logs(stack, f"not final: {[(d, status_of(d)) for d in accepted if status_of(d) not in FINAL]}"))
    for doc_id in accepted:
        assert status_of(doc_id) == "auto_accepted", doc_id
        assert_exactly_one_result(doc_id)
    print(f"broker back after {answered_when_back} of {len(files)} answers; sweeper re-queued {len(requeued)}")


SWEEP = (
    "from datetime import timedelta; from django.conf import settings; from django.utils import timezone; "
    "from docproc.services import documents_requeue_stuck; "
    "print(documents_requeue_stuck(now=timezone.now() + timedelta(seconds=settings.DOCPROC_STUCK_AFTER_SECONDS + 61)))"
)


# --- PostgreSQL connections dropped -----------------------------------------------------------

def test_database_connections_dropped_tasks_retry(stack, make_api_client, tmp_path):
    """Given a worker holding persistent database connections, when PostgreSQL terminates them,
    then the next task fails on its dead connection, is retried with a fresh one and finishes."""
    from django.db import connection

    _, token = make_api_client("faults-db")
    base = stack.start_web(workers=1, threads=2)
    worker = stack.start_worker("db", DOCPROC_DB_CONN_MAX_AGE="600")
    status, first = upload_over_http(base, token, unique_claim_pdf(301, tmp_path), "one.pdf")
    assert status == 201
    wait_until(lambda: status_of(first["id"]) in FINAL, timeout=90, what="first document final")

    with connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cur.rowcount >= 1  # the worker's persistent connection at least
    status, second = upload_over_http(base, token, unique_claim_pdf(302, tmp_path), "two.pdf")
    assert status == 201, second
    try:
        wait_until(lambda: status_of(second["id"]) in FINAL, timeout=120, what="second document final")
    except TimeoutError:
        pytest.fail(fail_with_logs(stack, "second document not final"))
    assert status_of(second["id"]) == "auto_accepted"
    assert_exactly_one_result(second["id"])
    log = worker.log_path.read_text(errors="replace")
    # The dead connection is met either by the task (which is retried) or, first, by the task's
    # start-up, which reconnects; either way it was met and the document finished once.
    assert "Retry in" in log or "database connection lost before the task; reconnected" in log, log[-3000:]
    assert "terminat" in log.lower() or "closed" in log.lower() or "reconnected" in log


# --- the LLM endpoint down --------------------------------------------------------------------

@pytest.fixture
def silent_endpoint():
    """A server that accepts connections and never answers (an LLM endpoint stuck on a request)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("failure", ["down", "slow"])
def test_llm_endpoint_down_or_slow_falls_back_and_sends_fields_to_review(
        failure, stack, make_api_client, tmp_path, silent_endpoint):
    """Given the extractor is an OpenAI-compatible endpoint that refuses connections (down) or
    never answers (slow), the rules fallback runs, says why, and every field goes to review."""
    from docproc.models import ExtractionRun, Field

    _, token = make_api_client("faults-llm")
    dead = f"http://127.0.0.1:{free_port()}/v1" if failure == "down" else silent_endpoint
    env = {"DOCPROC_EXTRACT_ENGINE": "openai", "DOCPROC_OPENAI_BASE_URL": dead, "DOCPROC_OPENAI_MODEL": "m",
           "DOCPROC_OPENAI_RETRIES": "1", "DOCPROC_OPENAI_TIMEOUT": "2", "DOCPROC_LLM_CACHE_DIR": ""}
    base = stack.start_web(workers=1, threads=2)
    stack.start_worker("llm", **env)
    # An email that is not one: the label rules cannot settle it, so the model is asked.
    status, body = upload_over_http(base, token, unique_claim_pdf(401, tmp_path, claimant_email="maria at example"),
                                    "claim.pdf")
    assert status == 201
    wait_until(lambda: status_of(body["id"]) in FINAL, timeout=120, what="final state")
    assert status_of(body["id"]) == "needs_review"
    run = ExtractionRun.objects.get(document_id=body["id"])
    assert run.extractor == "rules" and "openai" in run.fallback_reason, run.fallback_reason
    assert ("Connection refused" if failure == "down" else "timed out") in run.fallback_reason
    assert not Field.objects.filter(document_id=body["id"], status="auto_accepted").exists()


# --- a webhook receiver down ------------------------------------------------------------------

def test_webhook_receiver_down_retries_with_backoff_then_dead_letter_visible_to_supervisors(
        stack, make_api_client, tmp_path, client, django_user_model):
    """Given a client whose webhook receiver is down, deliveries are retried with growing waits
    (driven by the retry job beat runs) and end ``dead``, listed for supervisors."""
    from celery import Celery
    from django.contrib.auth.models import Group

    from docproc.models import WebhookDelivery

    receiver = f"http://127.0.0.1:{free_port()}/hook"
    _, token = make_api_client("faults-hook", webhook_url=receiver, webhook_secret="whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    base = stack.start_web(workers=1, threads=2)
    stack.start_worker("hooks")
    status, body = upload_over_http(base, token, unique_claim_pdf(501, tmp_path), "claim.pdf")
    assert status == 201
    wait_until(lambda: WebhookDelivery.objects.filter(document_id=body["id"], attempts__gte=1).exists(),
               timeout=90, what="first delivery attempt")
    # Not the current app: shared tasks in this test process must keep the project's broker.
    beat = Celery(broker=stack.redis.url, set_as_current=False)

    def retried_to_death() -> bool:
        d = WebhookDelivery.objects.get(document_id=body["id"])
        if d.status == WebhookDelivery.Status.PENDING:
            beat.send_task("workers.tasks.webhook_retry_due", queue="cpu")
        return d.status == WebhookDelivery.Status.DEAD

    try:
        wait_until(retried_to_death, timeout=90, interval=1, what="delivery dead")
    except TimeoutError:
        pytest.fail(fail_with_logs(stack, "delivery never dead"))
    delivery = WebhookDelivery.objects.get(document_id=body["id"])
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3] and all(a.status_code is None and a.error for a in attempts)
    waits = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert waits[0] >= 5 - 0.5 and waits[1] >= 10 - 0.5 and waits[1] > waits[0], waits
    assert status_of(body["id"]) == "auto_accepted"  # never marked delivered

    supervisor = django_user_model.objects.create_user("faults-supervisor", password="x" * 12)
    supervisor.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(supervisor)
    listed = client.get("/ops/webhooks/").json()
    assert [d["id"] for d in listed["deliveries"]] == [str(delivery.id)]
    assert listed["deliveries"][0]["attempts"] == 3 and len(listed["deliveries"][0]["attempt_log"]) == 3
    assert timedelta(0) < delivery.attempt_log.last().at - delivery.created_at
