"""``manage.py bench DATASET_DIR --out REPORT_DIR``: accuracy, automation, precision and speed."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc import engines
from docproc.bench.harness import run_bench, write_report
from docproc.pipeline import registry


class Command(BaseCommand):
    help = "Benchmark the pipeline on a dataset folder holding manifest.jsonl (see README)."

    def add_arguments(self, parser):
        parser.add_argument("dataset", type=Path)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--engine", default=None, help="extraction engine (default: DOCPROC_EXTRACT_ENGINE)")

    def handle(self, *args, dataset: Path, out: Path, limit: int | None, engine: str | None, **opts):
        if not (dataset / "manifest.jsonl").is_file():
            raise CommandError(f"{dataset} has no manifest.jsonl")
        name = engine or None
        extractor = (registry.get_engine("extract", name, engines.engine_options("extract", name))
                     if name else engines.get_extractor())
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            total = sum(1 for line in (dataset / "manifest.jsonl").read_text().splitlines() if line.strip())
            bar = tqdm(total=min(total, limit) if limit else total, unit="doc", file=sys.stderr)

        def progress(doc_id: str) -> None:
            if bar is not None:
                bar.set_postfix_str(doc_id)
                bar.update(1)

        report = run_bench(dataset, extractor=extractor, ocr=engines.get_ocr, limits=engines.limits(),
                           limit=limit, progress=progress)
        if bar is not None:
            bar.close()
        _, md_path = write_report(report, out, name=f"{dataset.name}-{extractor.name}")
        summary = report.summary()
        s = summary["overall"]
        for w in summary["auto_accepted_wrong_values"]:
            self.stdout.write(f"auto-accepted wrong: {w['doc']} {w['field']}: {w['value']!r} (truth {w['truth']!r}, "
                              f"confidence {w['confidence']:.3f}, signals {w['signals']})")
        self.stdout.write(f"{report.documents} documents: {summary['auto_accepted_wrong']} auto-accepted wrong values, "
                          f"accuracy {s['accuracy']}, automation {s['automation']}, "
                          f"auto-accepted precision {s['auto_precision']}; report: {md_path}")
