"""The replay benchmark behind ``manage.py bench_replay SOURCE --engine E [--model M] --out DIR``:
what a switch of model or prompt would change, measured before anyone switches.

SOURCE is either a data set folder (``manifest.jsonl`` with the verified values; OCR cached on
disk as in bench_extract; the baseline is the configured extractor, or ``--baseline-engine``) or
``reviewed[:DOC_TYPE]``: the reviewed documents in the database, whose verified values are the
reviewers' and whose baseline is what the machine read then (each field's ``original_value``);
their stored files are read again (OCR from the stage cache) with the new extractor. Nothing is
written to the documents.

Per field it reports whether the value changed, and against the verified value: ``fixed``
(baseline wrong, new right), ``new_wrong`` (baseline right, new wrong), and, as every bench does,
the values each side would have auto-accepted wrong; and how many documents the new extractor did
not answer (the backup rules read them instead).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from docproc import engines
from docproc.bench.compare import values_match
from docproc.bench.extract import documents_read
from docproc.doctypes import DocType, get_doctype
from docproc.models import Document, DocumentStatus, FieldStatus
from docproc.pipeline import registry
from docproc.pipeline.confidence import calibration_for
from docproc.pipeline.date_order import for_document
from docproc.pipeline.runner import finish_fields, process_file, run_extractor
from docproc.pipeline.types import DocumentText, FieldResult, PipelineError
from docproc.results import jsonable
from docproc.selectors import document_latest_run
from docproc.services import DbStageCache, calibration_lookup
from docproc.storage import local_copy


def _extractor(engine: str, model: str) -> Any:
    return registry.build_engine("extract", engine, engines.engine_options("extract", engine, model=model or None))


def _fields(document: DocumentText, doctype: DocType, extractor: Any, *,
            reread: Any = None) -> tuple[tuple[FieldResult, ...], str]:
    """The routed fields and the extraction's fallback reason ("" when the extractor answered);
    ``reread``: the document's second reading (``bench.extract.documents_read``)."""
    extraction = run_extractor(document, doctype, extractor)
    calibration = None if extraction.fallback_reason else calibration_for(
        extraction.engine, extraction.engine_version, extraction.prompt_version)
    return finish_fields(document, doctype, extraction, calibration, reread=reread), extraction.fallback_reason


def _from_dataset(dataset: Path, opts: dict[str, Any], new: Any, log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    entries = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    if opts["limit"]:
        entries = entries[: opts["limit"]]
    baseline = _extractor(opts["baseline_engine"] or settings.DOCPROC_EXTRACT_ENGINE, opts["baseline_model"])
    for doc in documents_read(dataset, entries, Path(settings.DATA_DIR) / "bench-ocr" / dataset.name, log=log):
        doctype = get_doctype(doc["doc_type"])
        old_fields, _ = _fields(doc["document"], doctype, baseline, reread=doc["reread"])
        before = {f.name: f for f in old_fields}
        new_fields, fallback = _fields(doc["document"], doctype, new, reread=doc["reread"])
        for f in new_fields:
            if f.name not in doc["truth"]:
                continue  # unknown to the data set: not scored
            b = before[f.name]
            yield {"doc": doc["id"], "doctype": for_document(doctype, doc["document"]), "field": f.name,
                   "truth": doc["truth"].get(f.name),
                   "before": b.value, "before_auto": b.status == "auto_accepted",
                   "after": f.value, "after_auto": f.status == "auto_accepted", "fallback": fallback}
        log(f"replayed {doc['id']}" + (f" (the new extractor fell back to the rules: {fallback})" if fallback else ""))


def _from_reviewed(doc_type: str, opts: dict[str, Any], new: Any, log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    qs = Document.objects.filter(status__in=[DocumentStatus.REVIEWED, DocumentStatus.DELIVERED], purged_at__isnull=True)
    qs = qs.filter(doc_type=doc_type) if doc_type else qs
    qs = qs.order_by("-created_at")[: opts["limit"] or None]
    for doc in qs:
        run = document_latest_run(document_id=doc.pk).first()
        if run is None:
            continue
        doctype = get_doctype(doc.doc_type)
        try:
            with local_copy(doc.file) as path:  # the files may be in a bucket
                result = process_file(path, doctype, ocr=engines.get_ocr, extractor=new,
                                      limits=engines.limits(), cache=DbStageCache(doc.id),
                                      calibrations=calibration_lookup(client_id=doc.client_id, doc_type=doc.doc_type),
                                      second_reader=engines.get_second_reader)
        except (PipelineError, OSError) as exc:
            log(f"{doc.pk}: {getattr(exc, 'code', type(exc).__name__)}")
            continue
        after = {f.name: f for f in result.fields}
        fallback = result.extraction.fallback_reason
        for f in run.fields.all():
            a = after.get(f.name)
            yield {"doc": str(doc.pk), "doctype": for_document(doctype, DocumentText(result.pages)), "field": f.name,
                   "truth": f.value,
                   "before": f.original_value,
                   "before_auto": (f.routed_status or f.status) == FieldStatus.AUTO_ACCEPTED,
                   "after": a.value if a else None, "after_auto": bool(a and a.status == "auto_accepted"),
                   "fallback": fallback}
        log(f"replayed {doc.pk}" + (f" (the new extractor fell back to the rules: {fallback})" if fallback else ""))


def run_replay_bench(source: str, out: Path, opts: dict[str, Any], *, log: Callable[[str], None]) -> dict[str, Any]:
    """Replay ``source`` (a data set folder or ``reviewed[:DOC_TYPE]``) through ``opts["engine"]``
    / ``opts["model"]`` and write ``report.json`` and ``rows.jsonl`` to ``out``. Returns the report."""
    new = _extractor(opts["engine"], opts["model"])
    if source.startswith("reviewed"):
        rows_in = _from_reviewed(source.partition(":")[2], opts, new, log)
    else:
        rows_in = _from_dataset(Path(source), opts, new, log)
    rows = []
    for r in rows_in:
        spec, day_first = r["doctype"].field(r["field"]), r["doctype"].day_first
        before_ok = values_match(spec, r["before"], r["truth"], day_first=day_first)
        after_ok = values_match(spec, r["after"], r["truth"], day_first=day_first)
        rows.append({"doc": r["doc"], "field": r["field"], "truth": jsonable(r["truth"]), "before": jsonable(r["before"]),
                     "after": jsonable(r["after"]), "changed": jsonable(r["before"]) != jsonable(r["after"]),
                     "before_correct": before_ok, "after_correct": after_ok,
                     "fixed": not before_ok and after_ok, "new_wrong": before_ok and not after_ok,
                     "before_auto_wrong": r["before_auto"] and not before_ok,
                     "after_auto_wrong": r["after_auto"] and not after_ok,
                     "before_auto": r["before_auto"], "after_auto": r["after_auto"], "fallback": r["fallback"]})
    n = len(rows)

    def share(key: str) -> float | None:
        return round(sum(r[key] for r in rows) / n, 4) if n else None

    summary = {
        "source": source, "engine": opts["engine"], "model": opts["model"], "fields": n,
        "documents": len({r["doc"] for r in rows}),
        "changed": sum(r["changed"] for r in rows), "fixed": sum(r["fixed"] for r in rows),
        "new_wrong": sum(r["new_wrong"] for r in rows),
        "accuracy_before": share("before_correct"), "accuracy_after": share("after_correct"),
        "automation_before": share("before_auto"), "automation_after": share("after_auto"),
        "auto_accepted_wrong_before": sum(r["before_auto_wrong"] for r in rows),
        "auto_accepted_wrong_after": sum(r["after_auto_wrong"] for r in rows),
        # Documents where the new extractor did not answer and the backup rules read them: their
        # "after" is the rules', not the new model's.
        "fallback_documents_after": len({r["doc"] for r in rows if r["fallback"]}),
    }
    out.mkdir(parents=True, exist_ok=True)
    report = {"summary": summary, "new_wrong": [r for r in rows if r["new_wrong"]],
              "fixed": [r for r in rows if r["fixed"]], "auto_accepted_wrong_after": [r for r in rows if r["after_auto_wrong"]]}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return report
