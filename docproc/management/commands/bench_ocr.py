"""``manage.py bench_ocr DATASET_DIR --out REPORT_DIR [--limit N] [--engines rapidocr,tesseract]``.

``--coverage`` measures instead the coverage ceiling of rapidocr's text (per field, the share
of ground-truth values the raw and the assembled texts hold), with ``--set KEY=VALUE`` engine
options (``det_unclip_ratio``, ``det_box_thresh``, ``det_thresh``, ``max_side_len``, ``charset``)
over the configured ones; rapidocr's readings are cached under ``DATA_DIR/bench-ocr/coverage/``.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from docproc import engines as app_engines
from docproc.bench.ocr import run_coverage_bench, run_ocr_bench, write_coverage_report, write_ocr_report
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
        parser.add_argument("--coverage", action="store_true",
                            help="coverage ceiling of rapidocr's raw and assembled text per field (needs manifest.jsonl)")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="with --coverage: a rapidocr option over the configured ones (repeatable)")
        parser.add_argument("--name", default="ocr-coverage", help="with --coverage: report file name (no suffix)")

    def handle(self, *args, dataset: Path, out: Path, limit: int | None, engines: str, claims: int,
               dpi: int | None, **opts):
        if opts["coverage"]:
            return self._coverage(dataset, out, limit, dpi, opts)
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

    def _coverage(self, dataset: Path, out: Path, limit: int | None, dpi: int | None, opts) -> None:
        if not (dataset / "manifest.jsonl").is_file():
            raise CommandError(f"{dataset} needs a manifest.jsonl with the fields' ground truth")
        options = app_engines.engine_options("ocr", "rapidocr")
        for item in opts["set"]:
            key, sep, value = item.partition("=")
            if not sep or key not in options:
                raise CommandError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(options))}")
            options[key] = _typed(value, options[key])
        try:
            report = run_coverage_bench(dataset, options=options, limit=limit, ocr_dpi=dpi or app_engines.limits().ocr_dpi,
                                        cache_dir=Path(settings.DATA_DIR) / "bench-ocr" / "coverage" / dataset.name,
                                        progress=lambda doc_id: self.stderr.write(f"{doc_id} ...", ending="\r"),
                                        # Read as the pipeline reads: with the document type's
                                        # character set and OCR settings, except where --set says.
                                        by_type=True, fixed={s.partition("=")[0] for s in opts["set"]})
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        json_path, md_path = write_coverage_report(report, out, name=opts["name"])
        self.stdout.write(f"coverage {report['coverage']} on {report['documents']} documents, "
                          f"{report['ocr_cpu_seconds_per_document']} OCR CPU-s each")
        self.stdout.write(f"report: {json_path} and {md_path}")


def _typed(value: str, like):
    """``value`` parsed as the type of the configured option it replaces."""
    if isinstance(like, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value
