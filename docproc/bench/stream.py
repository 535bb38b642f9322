"""The stream benchmark behind ``manage.py bench_stream DATASET --out DIR [--no-memory] [--limit N]``.

Plays a data set's ``manifest.jsonl`` in its order as live traffic: each document is stored and
run through the pipeline services a worker runs (``document_ingest``, ``document_extract``), its
result taken as it stands after extraction (before any review), then the fields that were not
auto-accepted are "reviewed" through the review services a reviewer's screen calls (claim,
accept or correct to the truth, submit), so that what the vendor memory learns from a review is
there for the next document. ``--no-memory`` turns the memory off for the comparison.

Writes ``DIR/documents/<file stem>.json`` (each result as at extraction, the shape ``manage.py
extract`` writes), ``DIR/report.json`` and ``DIR/report.md``: automation of fields and of whole
documents, precision of auto-accepted fields and the auto-accepted wrong values, over the whole
stream, its first and second half and each 20 documents.

The documents belong to an API client made for the run (its memory starts empty) and are deleted
with it at the end (``keep`` leaves them for a look in the review UI). OCR readings are cached on
disk under ``data/bench-ocr/<data set>/`` (shared with ``bench_extract``), so a second run costs
only the extraction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import File
from django.db import transaction
from django.test import override_settings

from docproc import engines
from docproc.bench.compare import reads_day_first, values_match
from docproc.bench.extract import DiskStageCache
from docproc.doctypes import get_doctype
from docproc.models import ApiClient, Document, DocumentStatus, FieldStatus, SenderMemory, StageResult
from docproc.pipeline.files import sha256_file
from docproc.selectors import document_latest_run, document_result
from docproc.services import document_extract, document_ingest, run_date_order
from reviewer import roles
from reviewer import services as review
from reviewer.models import CorrectionReason, ReviewTask

SEGMENT = 20
BENCH_USER = "bench-stream-reviewer"


def _entries(dataset: Path, limit: int | None) -> list[dict[str, Any]]:
    manifest = dataset / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    return entries[:limit] if limit else entries


def _reviewer():
    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    group = Group.objects.filter(name=roles.REVIEWER).first()
    if group is not None:
        user.groups.add(group)
    return get_user_model().objects.get(pk=user.pk)  # permissions cache fresh


def _seed_ocr(doc: Document, cache: DiskStageCache, pages: int) -> None:
    """Readings of an earlier run put where the worker's stage cache looks for them."""
    engine = engines.get_ocr()
    for page in range(1, pages + 1):
        hit = cache.get(page, "ocr", engine.name, engine.version)
        if hit is not None:
            StageResult.objects.get_or_create(document=doc, page=page, stage="ocr", engine=engine.name,
                                              engine_version=engine.version, prompt_version="",
                                              defaults={"payload": hit})


def _keep_ocr(doc: Document, cache: DiskStageCache) -> None:
    for r in StageResult.objects.filter(document=doc, stage="ocr"):
        if cache.get(r.page, "ocr", r.engine, r.engine_version) is None:
            cache.put(r.page, "ocr", r.engine, r.engine_version, r.payload)


def _truth_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def review_to_truth(doc: Document, truth: dict[str, Any], user) -> dict[str, int]:
    """Review ``doc`` as a careful person would, through the review services: every field that
    waits is accepted when it holds the truth, else corrected to it (as printed where a check
    refuses the truth); then the review is submitted. Returns the counts of each decision."""
    task = ReviewTask.objects.get(document=doc)
    review.review_task_claim(task=task, user=user)
    doctype = get_doctype(doc.doc_type)
    counts = {"accepted": 0, "corrected": 0}
    run = document_latest_run(document_id=doc.pk).first()
    for field in run.fields.filter(status=FieldStatus.NEEDS_REVIEW):
        spec = doctype.field(field.name)
        expected = truth.get(field.name)
        if field.name not in truth:
            # The data set does not say: the value is kept as read (and the field is not scored).
            review.field_accept(document_id=doc.pk, field_id=field.pk, user=user, confirm=True)
            counts["accepted"] += 1
            continue
        day_first = reads_day_first(doctype, run_date_order(run))
        if values_match(spec, field.value, expected, day_first=day_first) or (field.value is None and expected is None):
            review.field_accept(document_id=doc.pk, field_id=field.pk, user=user, confirm=True)
            counts["accepted"] += 1
            continue
        try:
            review.field_correct(document_id=doc.pk, field_id=field.pk, user=user, raw_value=_truth_text(expected),
                                 reason=CorrectionReason.MISREAD)
        except review.ReviewError as exc:
            if exc.code != "invalid_value":
                raise
            review.field_correct(document_id=doc.pk, field_id=field.pk, user=user, raw_value=_truth_text(expected),
                                 reason=CorrectionReason.AS_PRINTED)
        counts["corrected"] += 1
    review.document_review_submit(document_id=doc.pk, user=user)
    return counts


def _score(result: dict[str, Any], doc_type: str, truth: dict[str, Any]) -> list[dict[str, Any]]:
    doctype = get_doctype(doc_type)
    day_first = reads_day_first(doctype, ((result.get("engines") or {}).get("extract") or {}).get("date_order", ""))
    rows = []
    for name, f in result["fields"].items():
        if name not in truth:
            continue  # unknown to the data set (a missing key is not an empty value): not scored
        spec = doctype.field(name)
        rows.append({"field": name, "value": f["value"], "truth": truth.get(name), "status": f["status"],
                     "source": f["source"], "auto": f["status"] == "auto_accepted",
                     "correct": values_match(spec, f["value"], truth.get(name), day_first=day_first)})
    return rows


def summarise(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Automation and auto-accepted precision over a list of scored documents."""
    rows = [r for d in docs for r in d["rows"]]
    auto = [r for r in rows if r["auto"]]
    wrong = [{"doc": d["id"], "field": r["field"], "value": r["value"], "truth": r["truth"], "source": r["source"]}
             for d in docs for r in d["rows"] if r["auto"] and not r["correct"]]
    return {
        "documents": len(docs),
        "fields": len(rows),
        "field_automation": round(len(auto) / len(rows), 4) if rows else None,
        "document_automation": round(sum(1 for d in docs if d["status"] == "auto_accepted") / len(docs), 4) if docs else None,
        "auto_precision": round(sum(r["correct"] for r in auto) / len(auto), 4) if auto else None,
        "auto_accepted_wrong": len(wrong),
        "auto_accepted_wrong_values": wrong,
        "from_memory": sum(1 for r in rows if r["source"] == "memory"),
        "auto_from_memory": sum(1 for r in auto if r["source"] == "memory"),
        "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4) if rows else None,
    }


def run_stream_bench(dataset: Path, out: Path, *, memory: bool = True, limit: int | None = None, keep: bool = False,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Play ``dataset`` through the pipeline and the review services (see the module's doc);
    write the results and the report to ``out``. Returns the report."""
    entries = _entries(dataset, limit)
    out.mkdir(parents=True, exist_ok=True)
    (out / "documents").mkdir(exist_ok=True)
    ocr_cache_dir = Path(settings.DATA_DIR) / "bench-ocr" / dataset.name
    user = _reviewer()
    client = ApiClient(name=f"bench-stream-{dataset.name}-{time.strftime('%Y%m%d%H%M%S')}-{time.monotonic_ns() % 10_000}")
    client.set_token(ApiClient.new_token())
    client.save()
    docs: list[dict[str, Any]] = []
    used: set[str] = set()
    started = time.perf_counter()
    try:
        with override_settings(DOCPROC_MEMORY=memory):
            for entry in entries:
                path = dataset / entry["file"]
                t0 = time.perf_counter()
                doc = _store(client, path, entry["doc_type"], external_ref=entry["id"])
                cache = DiskStageCache(ocr_cache_dir, entry["id"])
                if document_ingest(document_id=doc.pk):
                    doc.refresh_from_db()
                    _seed_ocr(doc, cache, doc.page_count)
                    document_extract(document_id=doc.pk)
                doc.refresh_from_db()
                _keep_ocr(doc, cache)
                result = document_result(doc)  # as the API answers it now: before any review
                extract = (result.get("engines") or {}).get("extract", {})
                stem = Path(entry["file"]).stem or "document"
                target, n = stem, 2
                while target in used:
                    target, n = f"{stem}-{n}", n + 1
                used.add(target)
                (out / "documents" / f"{target}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
                decisions = {"accepted": 0, "corrected": 0}
                if doc.status == DocumentStatus.NEEDS_REVIEW:
                    decisions = review_to_truth(doc, entry["fields"], user)
                rows = _score(result, entry["doc_type"], entry["fields"]) if doc.status != DocumentStatus.FAILED else []
                docs.append({"id": entry["id"], "status": result["document"]["status"], "rows": rows,
                             "fallback": extract.get("fallback_reason", ""),
                             "decisions": decisions, "seconds": round(time.perf_counter() - t0, 2)})
                log(f"{len(docs)}/{len(entries)} {entry['id']} {result['document']['status']} "
                    f"auto {sum(r['auto'] for r in rows)}/{len(rows)} memory {sum(r['source'] == 'memory' for r in rows)}")
    finally:
        if not keep:
            _cleanup(client)
    half = (len(docs) + 1) // 2
    report = {
        "dataset": dataset.name, "memory": memory, "engine": settings.DOCPROC_EXTRACT_ENGINE,
        # Documents the backup rules read because the configured backend failed (its reasons per document).
        "fallbacks": sum(1 for d in docs if d["fallback"]),
        "documents": len(docs), "seconds": round(time.perf_counter() - started, 1),
        "overall": summarise(docs),
        "first_half": summarise(docs[:half]), "second_half": summarise(docs[half:]),
        "per_20": [{"from": i + 1, "to": min(i + SEGMENT, len(docs)), **summarise(docs[i:i + SEGMENT])}
                   for i in range(0, len(docs), SEGMENT)],
        "per_document": [{k: d[k] for k in ("id", "status", "decisions", "seconds", "fallback")} for d in docs],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    (out / "report.md").write_text(report_markdown(report))
    return report


def _store(client: ApiClient, path: Path, doc_type: str, *, external_ref: str) -> Document:
    """A received document of ``client`` holding the file, as an upload leaves it (without
    queueing it: the bench runs the pipeline services itself, in order)."""
    with transaction.atomic():
        doc = Document(client=client, doc_type=doc_type, original_name=path.name, external_ref=external_ref[:200],
                       sha256=sha256_file(path), size=path.stat().st_size)
        with path.open("rb") as fh:
            doc.file.save("original", File(fh), save=False)
        doc.save()
    return doc


def _cleanup(client: ApiClient) -> None:
    SenderMemory.objects.filter(client=client).delete()
    for doc in Document.objects.filter(client=client):
        if doc.file:
            doc.file.delete(save=False)
    Document.objects.filter(client=client).delete()
    client.delete()


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# bench_stream {report['dataset']}: memory {'on' if report['memory'] else 'off'}, "
             f"engine {report['engine']}", "",
             f"{report['documents']} documents in manifest order, {report['seconds']} s; "
             f"{report['fallbacks']} read by the backup rules after a backend failure.", "",
             "| documents | field automation | document automation | auto-accepted precision | auto-accepted wrong "
             "| fields from memory (auto) |",
             "|---|---|---|---|---|---|"]
    segments = [("all", report["overall"]), ("first half", report["first_half"]), ("second half", report["second_half"])]
    segments += [(f"{s['from']}-{s['to']}", s) for s in report["per_20"]]
    for label, s in segments:
        lines.append(f"| {label} | {_fmt(s['field_automation'])} | {_fmt(s['document_automation'])} | "
                     f"{_fmt(s['auto_precision'])} | {s['auto_accepted_wrong']} | {s['from_memory']} ({s['auto_from_memory']}) |")
    wrong = report["overall"]["auto_accepted_wrong_values"]
    lines += ["", f"Auto-accepted wrong values: {len(wrong)}"]
    lines += [f"- {w['doc']} {w['field']} ({w['source']}): {w['value']!r}, truth {w['truth']!r}" for w in wrong]
    return "\n".join(lines) + "\n"
