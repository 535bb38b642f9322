"""``manage.py bench_replay SOURCE --engine E [--model M] --out DIR [--limit N]``: replay a data set
folder or the reviewed documents (``reviewed[:DOC_TYPE]``) through another extractor and report
the diff against the verified values (docproc/bench/replay.py says what it measures)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.bench.replay import run_replay_bench


class Command(BaseCommand):
    help = "What switching extractor, model or prompt would change: changed, fixed and newly wrong fields."

    def add_arguments(self, parser):
        parser.add_argument("source", help="a folder with manifest.jsonl, or reviewed[:DOC_TYPE]")
        parser.add_argument("--engine", required=True)
        parser.add_argument("--model", default="")
        parser.add_argument("--baseline-engine", default="", help="data set folders: default DOCPROC_EXTRACT_ENGINE")
        parser.add_argument("--baseline-model", default="")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--limit", type=int, default=0)

    def handle(self, *args, **opts):
        source = opts["source"]
        if not source.startswith("reviewed") and not (Path(source) / "manifest.jsonl").is_file():
            raise CommandError(f"{source} is neither reviewed[:DOC_TYPE] nor a folder with manifest.jsonl")
        report = run_replay_bench(source, opts["out"], opts, log=self.stderr.write)
        self.stdout.write(json.dumps(report["summary"], indent=2))
        for r in report["new_wrong"]:
            self.stdout.write(f"new wrong {r['doc']} {r['field']}: {r['after']!r} (was {r['before']!r}, "
                              f"verified {r['truth']!r})")
        for r in report["auto_accepted_wrong_after"]:
            self.stdout.write(f"auto-accepted wrong {r['doc']} {r['field']}: {r['after']!r} (verified {r['truth']!r})")
