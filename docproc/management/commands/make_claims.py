"""``manage.py make_claims OUT_DIR``: generated claims (digital and scanned) with exact truth."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from fixtures.claims import generate_dataset


class Command(BaseCommand):
    help = "Generate synthetic claims with a manifest.jsonl, for `manage.py bench`."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument("--count", type=int, default=12)
        parser.add_argument("--no-scans", action="store_true")
        parser.add_argument("--seed", type=int, default=1000)

    def handle(self, *args, out: Path, count: int, no_scans: bool, seed: int, **opts):
        manifest = generate_dataset(out, count=count, scans=not no_scans, seed=seed)
        self.stdout.write(f"wrote {manifest}")
