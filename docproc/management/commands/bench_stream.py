"""``manage.py bench_stream DATASET --out DIR [--no-memory] [--limit N] [--keep]``: a data set played
in manifest order as live traffic, with reviews, to measure what learning from reviews (vendor
memory) gains (docproc/bench/stream.py says what it measures and how)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.bench.stream import run_stream_bench


class Command(BaseCommand):
    help = "Play a manifest.jsonl data set through the pipeline and the review services, in order; report automation."

    def add_arguments(self, parser):
        parser.add_argument("dataset", type=Path)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--no-memory", action="store_true", help="turn the vendor memory off (the comparison)")
        parser.add_argument("--limit", type=int, default=0)
        parser.add_argument("--keep", action="store_true", help="keep the run's client and documents in the database")

    def handle(self, *args, **opts):
        dataset: Path = opts["dataset"]
        if not (dataset / "manifest.jsonl").is_file():
            raise CommandError(f"{dataset / 'manifest.jsonl'} does not exist")
        run_stream_bench(dataset, opts["out"], memory=not opts["no_memory"], limit=opts["limit"] or None,
                         keep=opts["keep"], log=self.stderr.write)
        self.stdout.write((opts["out"] / "report.md").read_text())
