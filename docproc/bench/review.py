"""Review UI benchmark: seed many documents and fields in bulk, then time the queue page, the
"next" action and the review page through the full Django stack (middleware, session, ORM,
templates), counting queries. Figures go to a JSON and a Markdown report."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from docproc.doctypes import DOC_TYPES
from docproc.storage import file_write

BENCH_CLIENT = "bench-review"


@dataclass
class Timing:
    name: str
    runs_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    status: set[int] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        ms = sorted(self.runs_ms)
        return {
            "runs": len(ms), "median_ms": round(statistics.median(ms), 2),
            "p95_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 2), "max_ms": round(ms[-1], 2),
            "queries_min": min(self.queries), "queries_max": max(self.queries),
            "sql_median_ms": round(statistics.median(self.sql_ms), 2), "http_status": sorted(self.status),
        }


def _columns(model: type[models.Model], first: models.Model) -> list[models.Field]:
    # An auto-increment key left empty is filled by the database.
    return [f for f in model._meta.concrete_fields
            if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField) and getattr(first, f.attname) is None)]


def _rows(fields: list[models.Field], objs: Iterable[models.Model]) -> Iterator[list[Any]]:
    for obj in objs:
        yield [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]


def bulk_insert(model: type[models.Model], objs: list[models.Model]) -> None:
    """COPY on PostgreSQL (values prepared by each model field, so defaults and JSON behave as
    in save()); bulk_create elsewhere."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=2000)
        return
    fields = _columns(model, objs[0])
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cur, cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in _rows(fields, objs):
            copy.write_row(row)


def _page_image() -> tuple[str, int, int]:
    """One real rendered claim page in the storage, shared by every seeded page."""
    from docproc.pipeline.render import page_image
    from fixtures.claims import make_claim, write_claim_pdf

    with tempfile.TemporaryDirectory() as folder:
        pdf = write_claim_pdf(make_claim(7), Path(folder) / "claim.pdf")
        img = page_image(pdf, "application/pdf", 1, dpi=110, max_image_pixels=settings.DOCPROC_MAX_IMAGE_PIXELS).image
    png = io.BytesIO()
    img.save(png, format="PNG")
    return file_write("bench-review/page-1.png", png.getvalue()), img.width, img.height


def seed(*, documents: int, fields: int, chunk: int = 5000, seed_value: int = 5, log=print) -> dict[str, Any]:
    """Documents (60 % waiting for review), one page, one run and ``fields / documents`` fields
    each, and the open review tasks. Returns counts and seconds."""
    from docproc.models import ApiClient, Document, ExtractionRun, Field, Page
    from reviewer.models import NO_DEADLINE, ReviewTask

    rng = random.Random(seed_value)
    doc_types = sorted(DOC_TYPES)
    started = time.perf_counter()
    per_doc = max(1, fields // max(documents, 1))
    extra = fields - per_doc * documents  # the remainder goes to the first documents
    clients = []
    for i in range(5):
        client, _ = ApiClient.objects.get_or_create(
            name=f"{BENCH_CLIENT}-{i}", defaults={"token_prefix": f"bench{i}", "token_hash": hashlib.sha256(f"b{i}".encode()).hexdigest()})
        clients.append(client)
    image, width, height = _page_image()
    now = timezone.now()
    run_ids = ExtractionRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    made_docs = made_fields = made_tasks = 0
    for start in range(0, documents, chunk):
        docs, pages, runs, flds, tasks = [], [], [], [], []
        for i in range(start, min(documents, start + chunk)):
            r = rng.random()
            status = "needs_review" if r < 0.6 else ("auto_accepted" if r < 0.9 else "reviewed")
            created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 30))
            sla = created + timedelta(hours=rng.choice([4, 24, 72])) if rng.random() < 0.5 else None
            doc = Document(
                id=uuid.uuid4(), client=rng.choice(clients), sha256=f"{i:064x}", original_name=f"bench-{i}.pdf",
                content_type="application/pdf", size=50_000, page_count=1, doc_type=rng.choice(doc_types),
                file=f"bench-review/{i}.pdf", status=status, priority=rng.randint(0, 3), sla_deadline=sla,
                created_at=created, updated_at=created, processing_started_at=created,
                finished_at=None if status == "needs_review" else created + timedelta(seconds=20),
            )
            docs.append(doc)
            pages.append(Page(document_id=doc.id, number=1, width=612, height=792, source="text-layer", image=image,
                              image_width=width, image_height=height))
            run_ids += 1
            runs.append(ExtractionRun(id=run_ids, document_id=doc.id, extractor="rules", extractor_version="1",
                                      engines={}, timings={"extract": 0.01}, created_at=created))
            n = per_doc + (1 if i < extra else 0)
            for k in range(n):
                conf = round(rng.uniform(0.3, 1.0), 3)
                waiting = status == "needs_review" and conf < 0.9
                x0, y0 = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.9)
                flds.append(Field(
                    document_id=doc.id, run_id=run_ids, name=f"field_{k:03d}", value=f"value {i}-{k}",
                    normalized=f"value {i}-{k}", confidence=conf,
                    status="needs_review" if waiting else ("auto_accepted" if status != "reviewed" else "accepted"),
                    page=1, bbox=[x0, y0, x0 + 0.2, y0 + 0.02], source_words=["value", f"{i}-{k}"],
                    word_ids=[], messages=[], signals={}, threshold=0.9, position=k, original_value=f"value {i}-{k}",
                ))
            if status == "needs_review":
                tasks.append(ReviewTask(document_id=doc.id, doc_type=doc.doc_type, client_id=doc.client_id,
                                        priority=doc.priority, sla_deadline=sla, due_at=sla or NO_DEADLINE,
                                        received_at=created, opened_at=created + timedelta(seconds=20)))
        with transaction.atomic():
            bulk_insert(Document, docs)
            bulk_insert(Page, pages)
            bulk_insert(ExtractionRun, runs)
            bulk_insert(Field, flds)
            bulk_insert(ReviewTask, tasks)
        made_docs, made_fields, made_tasks = made_docs + len(docs), made_fields + len(flds), made_tasks + len(tasks)
        log(f"seeded {made_docs}/{documents} documents, {made_fields} fields")
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for model in (ExtractionRun,):
                table = model._meta.db_table
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            cur.execute("ANALYZE")
    return {"documents": made_docs, "fields": made_fields, "open_tasks": made_tasks,
            "seconds": round(time.perf_counter() - started, 1)}


def _timed(client, method: str, url: str, timing: Timing, **kwargs) -> Any:
    with CaptureQueriesContext(connection) as ctx:
        t0 = time.perf_counter()
        response = getattr(client, method)(url, **kwargs)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        elapsed = (time.perf_counter() - t0) * 1000
    timing.runs_ms.append(elapsed)
    timing.queries.append(len(ctx.captured_queries))
    timing.sql_ms.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
    timing.status.add(response.status_code)
    return response


def measure(*, runs: int = 30) -> dict[str, Any]:
    """Time the review endpoints as signed-in reviewers. Each of ``runs`` reviewers presses Next
    once (so each claim is a different document, as on a busy floor), opens the review page and
    accepts a field; their claims are released at the end."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from docproc.models import Document, ExtractionRun, Field
    from reviewer import services
    from reviewer.models import ReviewTask

    settings.DEBUG = False
    group = Group.objects.get(name="reviewer")

    def reviewer(name: str) -> tuple[User, Client]:
        user, _ = User.objects.get_or_create(username=name)
        user.groups.add(group)
        http = Client()
        http.force_login(user)
        return user, http

    queue, queue_filtered, claim, review, field_post = (
        Timing("queue page"), Timing("queue page, filtered (type + age)"), Timing("next (claim)"),
        Timing("review page"), Timing("accept a field (JSON)"))
    first_user, first_client = reviewer("bench-reviewer")
    for task in ReviewTask.objects.filter(state="open", assignee__username__startswith="bench-reviewer"):
        services.review_task_release(task=task, user=task.assignee)
    first_client.get("/review/")  # warm up connection, caches and templates
    for _ in range(runs):
        _timed(first_client, "get", "/review/", queue)
        _timed(first_client, "get", "/review/?doc_type=claim&older_than=24h", queue_filtered)
    held: list[tuple[User, ReviewTask]] = []
    for i in range(runs):
        user, http = reviewer(f"bench-reviewer-{i}")
        response = _timed(http, "post", "/review/next/", claim)
        doc_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
        held.append((user, ReviewTask.objects.get(document_id=doc_id)))
        _timed(http, "get", f"/review/doc/{doc_id}/", review)
        field_id = Field.objects.filter(document_id=doc_id).order_by("position").values_list("id", flat=True).first()
        _timed(http, "post", f"/review/doc/{doc_id}/field/{field_id}/", field_post,
               data={"action": "accept"}, HTTP_ACCEPT="application/json")
    # Query count against the number of fields shown: the last document in the queue, given 120 fields.
    many = Timing("review page, 120 fields")
    task = ReviewTask.objects.filter(state="open", assignee__isnull=True).order_by(*services.queue_order()).last()
    run_id = ExtractionRun.objects.filter(document_id=task.document_id).values_list("id", flat=True).first()
    have = Field.objects.filter(run_id=run_id).count()
    Field.objects.bulk_create([
        Field(document_id=task.document_id, run_id=run_id, name=f"extra_{k:03d}", value=f"extra {k}", confidence=0.95,
              status="auto_accepted", page=1, bbox=[0.1, 0.1, 0.2, 0.12], position=1000 + k)
        for k in range(max(0, 120 - have))])
    services.review_task_claim(task=task, user=first_user)
    for _ in range(max(5, runs // 3)):
        _timed(first_client, "get", f"/review/doc/{task.document_id}/", many)
    held.append((first_user, task))
    for user, t in held:
        services.review_task_release(task=t, user=user)
    return {
        "scale": {"documents": Document.objects.count(), "fields": Field.objects.count(),
                  "open_tasks": ReviewTask.objects.filter(state="open").count()},
        "results": [t.summary() | {"name": t.name} for t in (queue, queue_filtered, claim, review, many, field_post)
                    if t.runs_ms],
    }


def write_report(out: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = {**data, "database": connection.vendor, "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()], "at": timezone.now().isoformat()}
    json_path = out / "bench-review.json"
    json_path.write_text(json.dumps(data, indent=2, default=str))
    lines = [
        "# Review UI benchmark", "",
        f"Database: {data['database']}; {data['scale']['documents']:,} documents, {data['scale']['fields']:,} fields, "
        f"{data['scale']['open_tasks']:,} open review tasks. {data['cpus']} CPUs, load average at the end "
        f"{', '.join(map(str, data['load_average']))}.", "",
        "Server time through the Django test client (full middleware, session, ORM and template rendering, no "
        "network), as a signed-in reviewer.", "",
        "| endpoint | runs | median ms | p95 ms | max ms | SQL median ms | queries |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["results"]:
        q = str(r["queries_min"]) if r["queries_min"] == r["queries_max"] else f"{r['queries_min']}-{r['queries_max']}"
        lines.append(f"| {r['name']} | {r['runs']} | {r['median_ms']} | {r['p95_ms']} | {r['max_ms']} | "
                     f"{r['sql_median_ms']} | {q} |")
    if "seed" in data:
        lines += ["", f"Seeding: {data['seed']['seconds']} s for {data['seed']['documents']:,} documents and "
                      f"{data['seed']['fields']:,} fields."]
    md_path = out / "bench-review.md"
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
