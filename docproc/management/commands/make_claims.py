"""``manage.py make_claims OUT_DIR``: generated claims (digital and scanned) with exact truth."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fixtures.claims import generate_dataset


class Command(BaseCommand):
    help = "Generate synthetic claims with a manifest.jsonl, for `manage.py bench`."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument("--count", type=int, default=12)
        parser.add_argument("--no-scans", action="store_true")
        parser.add_argument("--seed", type=int, default=1000)
        parser.add_argument("--cms1500-form", type=Path, default=None,
                            help="the blank CMS-1500 PDF (with AcroForm fields) to fill")
        parser.add_argument("--cms1500", type=int, default=0, help="how many CMS-1500 claims to fill")
        parser.add_argument("--cms1500-scans", action="store_true", help="also a degraded scan of each CMS-1500")
        parser.add_argument("--cms1500-widgets", action="store_true",
                            help="also each CMS-1500 as a scanned blank form with the values only in its AcroForm widgets")
        parser.add_argument("--cms1500-hand", action="store_true",
                            help="also each CMS-1500 as a scan of the form filled in hand-like writing")

    def handle(self, *args, out: Path, count: int, no_scans: bool, seed: int, cms1500_form: Path | None,
               cms1500: int, cms1500_scans: bool = False, cms1500_widgets: bool = False,
               cms1500_hand: bool = False, **opts):
        if cms1500 and (cms1500_form is None or not cms1500_form.is_file()):
            raise CommandError("--cms1500 needs --cms1500-form pointing at the blank form")
        manifest = generate_dataset(out, count=count, scans=not no_scans, seed=seed,
                                    cms1500_form=cms1500_form, cms1500_count=cms1500, cms1500_scans=cms1500_scans,
                                    cms1500_widgets=cms1500_widgets, cms1500_hand=cms1500_hand)
        self.stdout.write(f"wrote {manifest}")
