"""``manage.py bench_review --documents N --fields M --out DIR``: seed, then time the review UI."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.bench import review


class Command(BaseCommand):
    help = ("Seed documents and fields in bulk (COPY on PostgreSQL), then measure server time and query count of "
            "the queue page, the next action and the review page. Use a dedicated database.")

    def add_arguments(self, parser):
        parser.add_argument("--documents", type=int, default=100_000)
        parser.add_argument("--fields", type=int, default=1_000_000)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--runs", type=int, default=30)
        parser.add_argument("--reuse", action="store_true", help="measure the rows an earlier run seeded; seed nothing")

    def handle(self, *args, documents: int, fields: int, out: Path, runs: int, reuse: bool, **opts):
        from docproc.models import ApiClient, Document

        seeded = ApiClient.objects.filter(name__startswith=review.BENCH_CLIENT).exists()
        data = {}
        if reuse:
            if not seeded:
                raise CommandError("nothing seeded yet: run without --reuse first")
        else:
            if seeded or Document.objects.exists():
                raise CommandError("the database already holds documents: use a fresh database, or --reuse")
            data["seed"] = review.seed(documents=documents, fields=fields, log=self.stdout.write)
        data |= review.measure(runs=runs)
        json_path, md_path = review.write_report(out, data)
        self.stdout.write(md_path.read_text())
        self.stdout.write(f"wrote {json_path} and {md_path}")
