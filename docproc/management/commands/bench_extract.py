"""``manage.py bench_extract DATASET_DIR --out DIR --backends rules,llamacpp [--model NAME] [--limit N]``:
the extraction benchmark (docproc/bench/extract.py, which says what it measures and how)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.bench.extract import run_extract_bench


class Command(BaseCommand):
    help = "Benchmark extraction backends on a manifest.jsonl dataset (OCR cached on disk)."

    def add_arguments(self, parser):
        parser.add_argument("dataset", type=Path)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--backends", default="rules,llamacpp")
        parser.add_argument("--model", default="", help="DOCPROC_LLM_MODEL for the llamacpp/transformers backends")
        parser.add_argument("--limit", type=int, default=0)
        parser.add_argument("--target-precision", type=float, default=0.99)
        parser.add_argument("--min-threshold", type=float, default=0.9,
                            help="no field threshold below this calibrated confidence: a half with no wrong "
                                 "values would otherwise accept everything")
        parser.add_argument("--install-calibration", action="store_true",
                            help="also write the fitted calibration where the pipeline loads it")

    def handle(self, *args, **opts):
        dataset: Path = opts["dataset"]
        if not (dataset / "manifest.jsonl").is_file():
            raise CommandError(f"{dataset / 'manifest.jsonl'} does not exist")
        report = run_extract_bench(dataset, opts["out"], opts, log=self.stderr.write)
        self.stdout.write(json.dumps({b: r["summary"] for b, r in report["backends"].items()}, indent=2))
