"""The extraction benchmark behind ``manage.py bench_extract DATASET_DIR --out DIR --backends
rules,llamacpp [--model NAME] [--limit N]``.

Measures field extraction alone, over one OCR reading per page cached on disk (so a re-run
costs only the extraction): per-field accuracy, automation, precision of the auto-accepted
fields, the precision/automation curve over thresholds and seconds per document, with the
rules baseline in the same run.

Documents are split in two by a hash of their id, and calibration is cross-fitted: each
half's confidences come from the calibration (Platt, per field) and per-field thresholds
fitted on the other half, so every figure in ``report.json`` is measured on documents the
calibration never saw. The calibration written to DIR (and, with ``--install-calibration``,
where the pipeline loads it) is then fitted on all documents, and ``threshold_all_documents``
gives the per-field thresholds that reach the target precision with it, for the document type.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from docproc import engines
from docproc.bench.compare import values_match
from docproc.doctypes import get_doctype
from docproc.pipeline import registry
from docproc.pipeline.confidence import CALIBRATION_DIR, Calibration, fit_platt_pooled
from docproc.pipeline.date_order import for_document
from docproc.pipeline.ingest import ingest_file
from docproc.pipeline.ocr.second_reading import rereader
from docproc.pipeline.runner import (
    Timings,
    blocking,
    doubts,
    extraction_tokens,
    finish_fields,
    read_page,
    run_extractor,
    text_share_for_type,
    timed,
)
from docproc.pipeline.types import DocumentText, PageImage, PipelineError

THRESHOLDS = [round(0.5 + 0.01 * i, 2) for i in range(50)] + [0.995, 0.999]


class DiskStageCache:
    """OCR words per page on disk, keyed like the database's stage cache."""

    def __init__(self, folder: Path, doc_id: str) -> None:
        self.folder = folder
        self.doc_id = doc_id

    def _path(self, page: int, stage: str, engine: str, version: str) -> Path:
        return self.folder / engine / version / f"{self.doc_id}-p{page}-{stage}.json"

    def get(self, page: int, stage: str, engine: str, version: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(page, stage, engine, version).read_text())
        except (OSError, ValueError):
            return None

    def put(self, page: int, stage: str, engine: str, version: str, payload: dict[str, Any]) -> None:
        path = self._path(page, stage, engine, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload))


def split_of(doc_id: str) -> str:
    return "fit" if int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 2 == 0 else "report"


def curve(samples: list[tuple[float, bool, bool]]) -> list[dict[str, Any]]:
    """Automation and precision of auto-accepted fields at each threshold.
    ``samples``: (confidence, valid-and-not-fallback, correct)."""
    out = []
    n = len(samples) or 1
    for t in THRESHOLDS:
        auto = [ok for conf, eligible, ok in samples if eligible and conf >= t]
        out.append({"threshold": t, "automation": round(len(auto) / n, 4),
                    "precision": round(sum(auto) / len(auto), 4) if auto else None})
    return out


def pick_threshold(samples: list[tuple[float, bool, bool]], target: float) -> float:
    """The lowest threshold whose auto-accepted fields reach ``target`` precision (on the
    fit half); 1.01 (nothing accepted) when none does."""
    for point in curve(samples):
        if point["precision"] is not None and point["precision"] >= target:
            return point["threshold"]
    return 1.01


def run_extract_bench(dataset: Path, out: Path, opts: dict[str, Any], *, log: Callable[[str], None]) -> dict[str, Any]:
    """Benchmark every backend of ``opts["backends"]`` (comma-separated) on the dataset's
    ``manifest.jsonl`` and write ``report.json``, the rows and the calibrations to ``out``.
    ``opts``: ``backends``, ``model``, ``limit``, ``target_precision``, ``min_threshold``,
    ``install_calibration`` (the command's options). Returns the report."""
    manifest = dataset / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    if opts["limit"]:
        entries = entries[: opts["limit"]]
    out.mkdir(parents=True, exist_ok=True)
    ocr_cache = Path(settings.DATA_DIR) / "bench-ocr" / dataset.name
    documents = documents_read(dataset, entries, ocr_cache, log=log)
    report: dict[str, Any] = {"dataset": str(dataset.name), "documents": len(documents),
                              "splits": {s: sum(1 for d in documents if d["split"] == s) for s in ("fit", "report")},
                              "backends": {}}
    for backend in [b.strip() for b in opts["backends"].split(",") if b.strip()]:
        report["backends"][backend] = backend_bench(backend, documents, opts, out, log=log)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


# -- OCR once ----------------------------------------------------------------------------------
def documents_read(dataset: Path, entries: list[dict[str, Any]], cache_dir: Path, *,
                   log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Each entry's pages read once (OCR cached on disk under ``cache_dir``); unreadable files
    are logged and left out. Where the second reading is configured (as the service reads a
    chosen value's lines again, DOCPROC_SECOND_READING_ENGINE), each document's ``reread`` reads
    the lines of given words again, on the OCR'd pages' upright images; else it is None."""
    documents = []
    limits = engines.limits()
    reader = engines.get_second_reader()
    for entry in entries:
        path = dataset / entry["file"]
        doctype = get_doctype(entry["doc_type"])
        timings = Timings()
        images: dict[int, PageImage] = {}
        try:
            ingested = ingest_file(path, max_pages=limits.max_pages, max_image_pixels=limits.max_image_pixels)
            pages = []
            for n in range(1, ingested.page_count + 1):
                upright: list[PageImage] = []
                page = read_page(path, ingested, n, ocr=engines.get_ocr, limits=limits, timings=timings,
                                 cache=DiskStageCache(cache_dir, entry["id"]), charset=doctype.charset,
                                 detector=doctype.ocr.given(),
                                 on_image=upright.append if reader is not None else None)
                if upright and page.source == "ocr":
                    images[n] = upright[0]
                pages.append(page)
        except PipelineError as exc:
            log(f"{entry['id']}: {exc.code}: {exc.detail}")
            continue
        reread = None
        if reader is not None and images:
            text_share = text_share_for_type(engines.get_ocr(), doctype)
            reread = timed(rereader(tuple(pages), images, reader, text_share=text_share), timings, "second_reading")
        documents.append({"id": entry["id"], "doc_type": entry["doc_type"], "truth": entry["fields"],
                          "document": DocumentText(tuple(pages)), "split": split_of(entry["id"]),
                          "read_seconds": dict(timings.seconds), "timings": timings, "reread": reread})
    return documents


# -- one backend --------------------------------------------------------------------------------
def backend_bench(backend: str, documents: list[dict[str, Any]], opts: dict[str, Any], out: Path, *,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """One backend over every document: rows, cross-fitted calibration and thresholds, figures."""
    options = engines.engine_options("extract", backend, model=opts["model"] or None)
    extractor = registry.build_engine("extract", backend, options)
    rows: list[dict[str, Any]] = []
    seconds: list[float] = []
    per_document: list[dict[str, Any]] = []
    unscored: list[dict[str, Any]] = []
    engine_version = prompt_version = ""
    prompt_versions: dict[str, str] = {}  # document type -> the prompt version its documents were read with
    for doc in documents:
        doctype = get_doctype(doc["doc_type"])
        start = time.perf_counter()
        extraction = run_extractor(doc["document"], doctype, extractor)
        elapsed = time.perf_counter() - start
        cached = any(c.get("cache_hit") for c in extraction.calls)
        if not cached:
            seconds.append(elapsed)
        engine_version, prompt_version = extraction.engine_version, extraction.prompt_version
        if extraction.prompt_version:
            prompt_versions[doctype.name] = extraction.prompt_version
        started_finish = time.perf_counter()
        reread_before = doc["timings"].seconds.get("second_reading", 0.0)
        fields = finish_fields(doc["document"], doctype, extraction, reread=doc["reread"])
        reread_seconds = doc["timings"].seconds.get("second_reading", 0.0) - reread_before
        model_seconds = sum(float(c.get("latency_s", 0.0)) for c in extraction.calls)
        per_document.append({"doc": doc["id"], "cached": cached, "tokens": extraction_tokens(extraction),
                             "seconds": {"read": round(sum(doc["read_seconds"].values()), 3),
                                         "model": round(model_seconds, 3),
                                         "extract_other": round(elapsed - model_seconds, 3),
                                         "second_reading": round(reread_seconds, 3),
                                         "finish": round(time.perf_counter() - started_finish - reread_seconds, 3)},
                             "read_seconds": doc["read_seconds"]})
        day_first = for_document(doctype, doc["document"]).day_first  # as this document's dates were read
        for f in fields:
            if f.name not in doc["truth"]:
                # The data set does not say what this field holds (a key missing from its truth is
                # unknown, not empty): listed in the report, left out of every figure and fit.
                unscored.append({"doc": doc["id"], "field": f.name, "value": f.value})
                continue
            spec = doctype.field(f.name)
            ok = values_match(spec, f.value, doc["truth"].get(f.name), day_first=day_first)
            loose = ok or (spec.type in ("text", "name", "address") and f.value is not None
                           and _alnum(f.value) == _alnum(doc["truth"].get(f.name)))
            rows.append({"doc": doc["id"], "split": doc["split"], "doctype": doctype.name, "field": f.name,
                         "value": f.value, "truth": doc["truth"].get(f.name), "correct": ok, "correct_loose": loose,
                         "signals": f.signals, "raw_confidence": f.confidence,
                         "eligible": not extraction.fallback_reason and not blocking(f.messages) and not doubts(f.signals),
                         "fallback": extraction.fallback_reason})
        log(f"{backend} {doc['id']} {elapsed:.1f}s")
    # Two-fold cross-fitting: each half is scored with the calibration and thresholds fitted
    # on the other half, so every figure below is measured on documents the calibration did
    # not see. The calibration that is written (and installed) is fitted on all documents.
    calibration = None
    thresholds: dict[str, float] = {}
    fold_thresholds: dict[str, dict[str, float]] = {}
    key = field_key(rows)
    if backend != "rules":
        model = engine_version.split(":", 1)[-1]
        target, floor = opts["target_precision"], opts["min_threshold"]
        for held_out, train in (("report", "fit"), ("fit", "report")):
            fold = _fit_calibration(rows, backend, model, prompt_version, {train})
            train_rows = [r for r in rows if r["split"] == train]
            fold_thresholds[held_out] = _thresholds(train_rows, _confidences(train_rows, fold), target, floor, key=key)
            held_rows = [r for r in rows if r["split"] == held_out]
            for r, confidence in zip(held_rows, _confidences(held_rows, fold), strict=True):
                r["confidence"] = confidence
        calibration = _fit_calibration(rows, backend, model, prompt_version, {"fit", "report"})
        thresholds = _thresholds(rows, _confidences(rows, calibration), target, floor, key=key)  # for the document type
        write_calibrations(rows, prompt_versions, backend, model, out, install=opts["install_calibration"])
    else:
        for r in rows:
            r["confidence"] = r["raw_confidence"]
        configured = {key(r): get_doctype(r["doctype"]).field(r["field"]).review_threshold for r in rows}
        fold_thresholds = {"fit": configured, "report": configured}
    for r in rows:
        r["threshold"] = fold_thresholds[r["split"]].get(key(r), 1.01)
        r["auto"] = r["eligible"] and r["confidence"] >= r["threshold"]
    by_field: dict[str, Any] = {}
    for name in sorted({key(r) for r in rows}):
        rep = [r for r in rows if key(r) == name]
        auto = [r for r in rep if r["auto"]]
        by_field[name] = {
            "n": len(rep),
            "accuracy": round(sum(r["correct"] for r in rep) / len(rep), 4) if rep else None,
            "accuracy_loose": round(sum(r["correct_loose"] for r in rep) / len(rep), 4) if rep else None,
            "thresholds_by_fold": {s: fold_thresholds[s].get(name) for s in ("fit", "report")},
            "threshold_all_documents": thresholds.get(name),
            "automation": round(len(auto) / len(rep), 4) if rep else None,
            "auto_precision": round(sum(r["correct"] for r in auto) / len(auto), 4) if auto else None,
            "auto_wrong": [{"doc": r["doc"], "value": r["value"], "truth": r["truth"]} for r in auto if not r["correct"]],
            "curve": curve([(r["confidence"], r["eligible"], r["correct"]) for r in rep]),
        }
    auto_rows = [r for r in rows if r["auto"]]
    by_doc: dict[str, list[bool]] = {}
    for r in rows:
        by_doc.setdefault(r["doc"], []).append(r["auto"])
    auto_wrong = [{"doc": r["doc"], "field": r["field"], "value": r["value"], "truth": r["truth"],
                   "confidence": r["confidence"], "threshold": r["threshold"], "signals": r["signals"]}
                  for r in auto_rows if not r["correct"]]
    summary = {
        # The headline: values nobody looks at that are wrong.
        "auto_accepted_wrong": len(auto_wrong),
        "engine_version": engine_version, "prompt_version": prompt_version, "prompt_versions": prompt_versions,
        "calibration_version": calibration.version if calibration else "",
        "fields": len(rows),
        "unscored_fields": len(unscored),
        "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4) if rows else None,
        # Text compared on letters and digits only: OCR spacing around punctuation differs from the truth.
        "accuracy_loose": round(sum(r["correct_loose"] for r in rows) / len(rows), 4) if rows else None,
        "automation": round(len(auto_rows) / len(rows), 4) if rows else None,
        # Whole documents nobody looks at: every field auto-accepted.
        "document_automation": round(sum(all(v) for v in by_doc.values()) / len(by_doc), 4) if by_doc else None,
        "auto_precision": round(sum(r["correct"] for r in auto_rows) / len(auto_rows), 4) if auto_rows else None,
        "seconds_per_document_uncached": round(sum(seconds) / len(seconds), 2) if seconds else None,
        "fallbacks": sum(1 for d in {(r["doc"], r["fallback"]) for r in rows} if d[1]),
        **_token_summary(per_document),
    }
    (out / f"documents-{backend}.jsonl").write_text("\n".join(json.dumps(d) for d in per_document) + "\n")
    (out / f"rows-{backend}.jsonl").write_text("\n".join(json.dumps(_jsonable(r)) for r in rows) + "\n")
    return {"summary": summary, "auto_accepted_wrong_values": auto_wrong, "unscored": unscored,
            "thresholds": thresholds, "fields": by_field,
            "curve": curve([(r["confidence"], r["eligible"], r["correct"]) for r in rows])}


def _token_summary(per_document: list[dict[str, Any]]) -> dict[str, Any]:
    """Model tokens and seconds per stage, as means over the documents not answered from a cache;
    the OCR ("read") over the documents whose pages were not in the OCR cache."""
    live = [d for d in per_document if not d["cached"]]
    read = [d["seconds"]["read"] for d in per_document if "ocr" in d["read_seconds"] or "text_layer" in d["read_seconds"]]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 2) if values else None

    by_field: dict[str, list[int]] = {}
    asked: dict[str, int] = {}
    for d in live:
        for name in d["tokens"]["asked"]:
            asked[name] = asked.get(name, 0) + 1
        for name, n in d["tokens"]["answer_by_field"].items():
            by_field.setdefault(name, []).append(n)
    return {
        "prompt_tokens_per_document": mean([d["tokens"]["prompt"] for d in live]),
        "answer_tokens_per_document": mean([d["tokens"]["answer"] for d in live]),
        "cached_prompt_tokens_per_document": mean([d["tokens"]["cached"] for d in live]),
        "answer_tokens_by_field": {name: mean([float(v) for v in values]) for name, values in sorted(by_field.items())},
        "documents_asked_per_field": dict(sorted(asked.items())),
        "documents_without_model_call": sum(1 for d in per_document if d["tokens"]["calls"] == 0),
        "lines_sent_per_document": mean([d["tokens"]["lines_sent"] for d in live]),
        "lines_per_document": mean([d["tokens"]["lines"] for d in live]),
        "seconds_per_stage": {
            "read_uncached": mean(read),
            **{stage: mean([d["seconds"].get(stage, 0.0) for d in live])
               for stage in ("model", "extract_other", "second_reading", "finish")},
        },
    }


def write_calibrations(rows: list[dict[str, Any]], prompt_versions: dict[str, str], backend: str, model: str,
                       out: Path, *, install: bool = False) -> list[Path]:
    """One calibration file per (backend, model, prompt version), fitted on all the rows of its
    document type: a prompt version names one type, so a data set of several types (claims and
    CMS-1500 forms) gives one file for each. Written to ``out`` as ``calibration-NAME`` and, with
    ``install``, where the pipeline loads them; returns the files written to ``out``."""
    written = []
    for type_name, version in sorted(prompt_versions.items()):
        own = _fit_calibration([r for r in rows if r["doctype"] == type_name], backend, model, version,
                               {"fit", "report"})
        name = f"{backend}-{model}-{version}.json"
        path = out / f"calibration-{name}"
        path.write_text(json.dumps(own.to_json(), indent=2))
        written.append(path)
        if install:
            CALIBRATION_DIR.mkdir(parents=True, exist_ok=True)
            (CALIBRATION_DIR / name).write_text(json.dumps(own.to_json(), indent=2) + "\n")
    return written


def _fit_calibration(rows: list[dict[str, Any]], backend: str, model: str, prompt_version: str,
                     splits: set[str]) -> Calibration:
    """Platt coefficients per (document type, field) from the rows of ``splits`` that have a value,
    fitted together (``fit_platt_pooled``)."""
    samples: dict[str, list[tuple[dict[str, float], bool]]] = {}
    for r in rows:
        if r["split"] in splits and r["value"] is not None:
            samples.setdefault(f"{r['doctype']}.{r['field']}", []).append((r["signals"], r["correct"]))
    samples = {k: v for k, v in samples.items() if len(v) >= 4}
    coefficients = fit_platt_pooled(samples) if samples else {}
    # The day and a digest of the weights: two fits on one day (another OCR setting, another
    # rule) are two versions, and the run that used each says which.
    stamp = time.strftime("%Y%m%d")
    digest = hashlib.sha256(json.dumps(coefficients, sort_keys=True).encode()).hexdigest()[:8]
    return Calibration(f"{backend}-{model}-{prompt_version}-{stamp}-{digest}", backend, model, prompt_version,
                       coefficients)


def _confidences(rows: list[dict[str, Any]], calibration: Calibration) -> list[float]:
    """Each row's confidence under ``calibration`` (its uncalibrated one where no table applies)."""
    out = []
    for r in rows:
        calibrated = calibration.score(r["doctype"], r["field"], r["signals"]) if r["value"] is not None else None
        out.append(r["raw_confidence"] if calibrated is None else calibrated)
    return out


def field_key(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any]], str]:
    """How a row's field is named in thresholds and per-field figures: its name, or, on a data
    set of several document types, "type.field" (a claim's and a CMS-1500's policy number are two
    fields, with their own thresholds)."""
    if len({r["doctype"] for r in rows}) > 1:
        return lambda r: f"{r['doctype']}.{r['field']}"
    return lambda r: r["field"]


def _thresholds(rows: list[dict[str, Any]], confidences: list[float], target: float, floor: float, *,
                key: Callable[[dict[str, Any]], str] = lambda r: r["field"]) -> dict[str, float]:
    """Per field (``key``), the lowest threshold whose accepted rows reach ``target`` precision, at least ``floor``."""
    samples: dict[str, list[tuple[float, bool, bool]]] = {}
    for r, confidence in zip(rows, confidences, strict=True):
        samples.setdefault(key(r), []).append((confidence, r["eligible"], r["correct"]))
    return {name: max(floor, pick_threshold(field_samples, target)) for name, field_samples in sorted(samples.items())}


def _alnum(value: Any) -> str:
    return re.sub(r"[^0-9a-z]", "", str(value).casefold())


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v)) for k, v in row.items()}
