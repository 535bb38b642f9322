"""``manage.py bench_ocr DATASET_DIR --out REPORT_DIR [--limit N] [--engines rapidocr,tesseract]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc import engines as app_engines
from docproc.bench.ocr import run_ocr_bench, write_ocr_report
from docproc.pipeline.registry import ENGINES


class Command(BaseCommand):
    help = ("OCR engines on a folder of images with ground-truth lines (images/ID.*, lines/ID.csv as in "
            "receipts-sroie): CER, line recall, seconds per page, peak memory, pipeline overhead; plus field "
            "accuracy on generated claims, digital against scanned.")

    def add_arguments(self, parser):
        parser.add_argument("dataset", type=Path)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--limit", type=int, default=None, help="first N images (sorted by id)")
        parser.add_argument("--engines", default="rapidocr,tesseract", help="comma-separated OCR engine names")
        parser.add_argument("--claims", type=int, default=6, help="generated claims for digital-vs-scanned (0: none)")
        parser.add_argument("--dpi", type=int, default=None, help="PDF render DPI (default DOCPROC_RENDER_DPI)")

    def handle(self, *args, dataset: Path, out: Path, limit: int | None, engines: str, claims: int,
               dpi: int | None, **opts):
        if not (dataset / "images").is_dir() or not (dataset / "lines").is_dir():
            raise CommandError(f"{dataset} needs images/ and lines/ (ID.csv: 8 corner coordinates, then the text)")
        names = [n.strip() for n in engines.split(",") if n.strip()]
        unknown = [n for n in names if n not in ENGINES["ocr"]]
        if unknown:
            raise CommandError(f"unknown OCR engine(s) {', '.join(unknown)}; known: {', '.join(sorted(ENGINES['ocr']))}")
        options = {n: app_engines.engine_options("ocr", n) for n in names}
        report = run_ocr_bench(dataset, engines=names, options=options, limit=limit, claims=claims,
                               ocr_dpi=dpi or app_engines.limits().ocr_dpi,
                               progress=lambda name: self.stderr.write(f"running {name} ..."))
        json_path, md_path = write_ocr_report(report, out)
        for name, r in report["engines"].items():
            if "error" in r:
                self.stdout.write(f"{name}: {r['error']}")
                continue
            s = r.get("sroie", {})
            self.stdout.write(f"{name}: CER {s.get('cer')}, line recall {s.get('line_recall')}, "
                              f"{s.get('seconds_per_page')} s/page, overhead {s.get('overhead_ratio')}x, "
                              f"peak RSS {r.get('peak_rss_mib')} MiB")
        self.stdout.write(f"report: {json_path} and {md_path}")
