"""``manage.py bench_device``: OCR and extraction on each device in one run (docproc/bench/gpu.py,
which says what it measures); ``scripts/gpu-check`` installs the GPU runtimes and calls it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.bench.gpu import markdown, run_device_bench


class Command(BaseCommand):
    help = "OCR pages per second and extraction seconds per document on the GPU and on the CPU, same documents."

    def add_arguments(self, parser):
        parser.add_argument("dataset", type=Path, help="a folder with manifest.jsonl (e.g. the receipts-sroie dataset)")
        parser.add_argument("--limit", type=int, default=5, help="first N documents (sorted by id)")
        parser.add_argument("--devices", default="cuda,cpu", help="comma-separated: cuda, cpu")
        parser.add_argument("--extractor", default=None, help="extraction engine (default DOCPROC_EXTRACT_ENGINE)")
        parser.add_argument("--out", type=Path, default=None, help="folder for device-report.json and .md")

    def handle(self, *args, dataset: Path, limit: int, devices: str, extractor: str | None, out: Path | None, **opts):
        from django.conf import settings

        names = tuple(d.strip() for d in devices.split(",") if d.strip())
        if not names or set(names) - {"cuda", "cpu"}:
            raise CommandError("--devices takes cuda and/or cpu")
        if not (dataset / "manifest.jsonl").is_file():
            raise CommandError(f"{dataset} has no manifest.jsonl")
        if limit < 1:
            raise CommandError("--limit is at least 1")
        report = run_device_bench(dataset, limit=limit, devices=names, out=out, log=self.stderr.write,
                                  extractor=extractor or settings.DOCPROC_EXTRACT_ENGINE)
        self.stdout.write(markdown(report))
        if not report["runs"]:
            raise CommandError("no device ran")
