"""Benchmark the audit log's export and verification (see docproc/bench/audit.py)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Seed a fresh SQLite database in --out with N chained events, then measure audit_export (JSON Lines, "
            "CSV) and audit_verify (database, file): events per second and peak memory. Writes bench-audit.md/json.")

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=100_000, help="events to seed (default 100,000)")
        parser.add_argument("--out", type=Path, default=Path("bench-out/audit"), help="folder for the database and report")
        parser.add_argument("--seed-only", action="store_true",
                            help="internal: append --events events to the configured database and stop")

    def handle(self, *args, **opts):
        from docproc.bench import audit

        if opts["seed_only"]:
            head = audit.seed(opts["events"])
            self.stdout.write(f"seeded {opts['events']} events; head seq {head}")
            return
        results = audit.run(opts["events"], opts["out"].resolve())
        self.stdout.write(audit.report(results))
        self.stdout.write(f"written {opts['out'] / 'bench-audit.md'} and bench-audit.json")
