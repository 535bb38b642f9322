"""Run the pipeline over a ``manifest.jsonl`` dataset and report per stage and per field."""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docproc.doctypes import get_doctype
from docproc.pipeline.extract import Extractor
from docproc.pipeline.runner import Limits, process_file
from docproc.pipeline.types import PipelineError

from .compare import values_match


@dataclass
class FieldTally:
    total: int = 0
    correct: int = 0
    auto: int = 0
    auto_correct: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "accuracy": round(self.correct / self.total, 4) if self.total else None,
            "automation": round(self.auto / self.total, 4) if self.total else None,
            "auto_precision": round(self.auto_correct / self.auto, 4) if self.auto else None,
        }


@dataclass
class BenchReport:
    dataset: str
    extractor: str
    documents: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    fields: dict[str, FieldTally] = field(default_factory=lambda: defaultdict(FieldTally))
    stage_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    pages: int = 0
    doc_seconds: list[float] = field(default_factory=list)
    bare_pdfplumber_seconds: float = 0.0
    text_layer_seconds: float = 0.0
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    samples: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, correct) per field
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        overall = FieldTally()
        for t in self.fields.values():
            overall.total += t.total
            overall.correct += t.correct
            overall.auto += t.auto
            overall.auto_correct += t.auto_correct
        per_page = {k: round(sum(v) / max(self.pages, 1), 5) for k, v in self.stage_seconds.items()}
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "extractor": self.extractor,
            "documents": self.documents,
            "pages": self.pages,
            "failed": self.failed,
            "overall": overall.as_dict(),
            "fields": {k: v.as_dict() for k, v in sorted(self.fields.items())},
            "seconds_per_page": per_page,
            "seconds_per_document": {
                "mean": round(statistics.mean(self.doc_seconds), 4) if self.doc_seconds else None,
                "median": round(statistics.median(self.doc_seconds), 4) if self.doc_seconds else None,
            },
            "threshold_curve": self.curve(),
            "errors": self.errors[:50],
        }
        if self.bare_pdfplumber_seconds:
            out["text_layer_vs_bare_pdfplumber"] = {
                "pipeline_text_layer_s": round(self.text_layer_seconds, 4),
                "bare_pdfplumber_s": round(self.bare_pdfplumber_seconds, 4),
                "ratio": round(self.text_layer_seconds / self.bare_pdfplumber_seconds, 3),
            }
        return out

    def curve(self) -> list[dict[str, Any]]:
        """Precision of accepted fields and automation if every field used one threshold."""
        rows = []
        n = len(self.samples)
        for thr in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99):
            acc = [ok for c, ok in self.samples if c >= thr]
            rows.append({"threshold": thr, "automation": round(len(acc) / n, 4) if n else None,
                         "precision": round(sum(acc) / len(acc), 4) if acc else None})
        return rows


def _bare_pdfplumber(path: Path) -> float:
    import pdfplumber

    start = time.perf_counter()
    with pdfplumber.open(str(path)) as pdf:
        for page in pdf.pages:
            page.extract_words()
    return time.perf_counter() - start


def run_bench(dataset_dir: Path, *, extractor: Extractor, ocr: Callable[[], Any], limits: Limits,
              limit: int | None = None, progress: Callable[[str], None] | None = None) -> BenchReport:
    manifest = dataset_dir / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    entries = [e for e in entries if e.get("doc_type") and e.get("fields")]
    if limit:
        entries = entries[:limit]
    report = BenchReport(dataset=dataset_dir.name, extractor=f"{extractor.name} {extractor.version}")
    for entry in entries:
        path = dataset_dir / entry["file"]
        doctype = get_doctype(entry["doc_type"])
        if progress:
            progress(entry["id"])
        start = time.perf_counter()
        try:
            result = process_file(path, doctype, ocr=ocr, extractor=extractor, limits=limits)
        except PipelineError as exc:
            report.failed.append({"id": entry["id"], "code": exc.code, "detail": exc.detail})
            continue
        elapsed = time.perf_counter() - start
        report.documents += 1
        report.pages += len(result.pages)
        report.doc_seconds.append(elapsed)
        for stage, secs in result.timings.items():
            report.stage_seconds[stage].append(secs)
        if path.suffix.lower() == ".pdf" and all(p.source == "text-layer" for p in result.pages):
            report.text_layer_seconds += result.timings.get("text_layer", 0.0)
            report.bare_pdfplumber_seconds += _bare_pdfplumber(path)
        day_first = doctype.day_first
        by_name = {f.name: f for f in result.fields}
        for name, truth in entry["fields"].items():
            if name not in doctype.field_names:
                continue
            spec = doctype.field(name)
            f = by_name[name]
            ok = values_match(spec, f.value, truth, day_first=day_first)
            tally = report.fields[name]
            tally.total += 1
            tally.correct += ok
            auto = f.status == "auto_accepted"
            tally.auto += auto
            tally.auto_correct += auto and ok
            report.samples.append((f.confidence, ok))
            if not ok:
                report.errors.append({"id": entry["id"], "field": name, "truth": truth, "got": f.value,
                                      "confidence": f.confidence, "status": f.status})
    return report


def write_report(report: BenchReport, out_dir: Path, *, name: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.summary()
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md = [f"# Benchmark: {data['dataset']} with {data['extractor']}", "",
          f"Documents: {data['documents']} ({data['pages']} pages), failed: {len(data['failed'])}", ""]
    o = data["overall"]
    md += ["| measure | value |", "|---|---|",
           f"| field accuracy | {o['accuracy']} |", f"| automation (fields auto-accepted) | {o['automation']} |",
           f"| precision of auto-accepted fields | {o['auto_precision']} |",
           f"| seconds per document (mean) | {data['seconds_per_document']['mean']} |", ""]
    md += ["## Per field", "", "| field | n | accuracy | automation | auto precision |", "|---|---|---|---|---|"]
    for k, v in data["fields"].items():
        md.append(f"| {k} | {v['total']} | {v['accuracy']} | {v['automation']} | {v['auto_precision']} |")
    md += ["", "## Seconds per page by stage", "", "| stage | s/page |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in data["seconds_per_page"].items()]
    if "text_layer_vs_bare_pdfplumber" in data:
        t = data["text_layer_vs_bare_pdfplumber"]
        md += ["", f"Text layer: pipeline {t['pipeline_text_layer_s']} s against a bare pdfplumber call "
               f"{t['bare_pdfplumber_s']} s on the same pages (ratio {t['ratio']})."]
    md += ["", "## Precision and automation by threshold", "", "| threshold | automation | precision |", "|---|---|---|"]
    md += [f"| {r['threshold']} | {r['automation']} | {r['precision']} |" for r in data["threshold_curve"]]
    md_path = out_dir / f"{name}.md"
    md_path.write_text("\n".join(md) + "\n")
    return json_path, md_path
