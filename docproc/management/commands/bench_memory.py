"""``manage.py bench_memory --out DIR [--documents 200] [--scans] [--engine rules]``: peak RSS
of one process after 10 and after N generated documents (docproc/bench/memory.py)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from docproc import engines
from docproc.bench.memory import bench_memory, generate_documents, write_report


class Command(BaseCommand):
    help = "Peak resident memory after 10 and after N documents in one process."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--documents", type=int, default=200)
        parser.add_argument("--scans", action="store_true", help="scanned claims (OCR) instead of digital PDFs")
        parser.add_argument("--engine", default=None, help="extraction engine (default: DOCPROC_EXTRACT_ENGINE)")
        parser.add_argument("--work", type=Path, default=None, help="folder for the generated documents")

    def handle(self, *args, out: Path, documents: int, scans: bool, engine: str | None, work: Path | None, **opts):
        from docproc.pipeline import registry

        files = generate_documents(work or out / "documents", documents, scans=scans)
        extractor = registry.get_engine("extract", engine, engines.engine_options("extract", engine)) if engine \
            else engines.get_extractor()
        report = bench_memory(files, ocr=engines.get_ocr, extractor=extractor, limits=engines.limits(),
                              checkpoints=(10, 50, 100))
        write_report(report, out)
        self.stdout.write(f"peak RSS after {report.peak_mib_after} MiB; growth after 10: {report.growth_after_10:.1%}")
