"""Check the audit chain in the database (all of it or a range) or in an exported file alone."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.audit.verify import load_manifest, summary, verify_database, verify_file


class Command(BaseCommand):
    help = ("Verify the audit log's hash chain. Exits 1 and names the first bad sequence number when an "
            "event was changed, removed or reordered.")

    def add_arguments(self, parser):
        parser.add_argument("--from-seq", type=int, help="first sequence number to check (default 1)")
        parser.add_argument("--to-seq", type=int, help="last sequence number to check (default: the head)")
        parser.add_argument("--file", type=Path, help="verify this exported file (.jsonl or .csv) without the database")
        parser.add_argument("--format", choices=["jsonl", "csv"], help="format of --file (default: from its name)")
        parser.add_argument("--manifest", type=Path,
                            help="the export's manifest; with --file it defaults to FILE.manifest.json; "
                                 "without --file its last event must still be in the database's chain")
        parser.add_argument("--no-manifest", action="store_true", help="with --file, ignore a manifest next to it")
        parser.add_argument("--allow-gaps", action="store_true",
                            help="with --file and no manifest: the file is a filtered export, gaps in seq are expected")

    def handle(self, *args, **opts):
        started = time.perf_counter()
        meta = None
        if opts["file"]:
            path: Path = opts["file"]
            if not path.is_file():
                raise CommandError(f"{path} is not a file")
            try:
                report, meta = verify_file(path, fmt=opts["format"], manifest=opts["manifest"],
                                           use_manifest=not opts["no_manifest"], allow_gaps=opts["allow_gaps"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            what = f"{path}" + (" with its manifest" if meta else " (no manifest: checked line by line)")
        else:
            anchor = None
            if opts["manifest"]:
                try:
                    meta = load_manifest(opts["manifest"])
                except ValueError as exc:
                    raise CommandError(str(exc)) from None
                if meta.get("last_seq") is not None:
                    anchor = (int(meta["last_seq"]), str(meta["last_hash"]))
            report = verify_database(from_seq=opts["from_seq"], to_seq=opts["to_seq"], anchor=anchor)
            what = "the database"
        seconds = time.perf_counter() - started
        if report.ok:
            rate = report.checked / seconds if seconds > 0 else 0.0
            self.stdout.write(f"OK: {what}: {summary(report)} ({seconds:.2f} s, {rate:,.0f} events/s)")
            return
        for problem in report.problems or []:
            self.stderr.write(f"  {problem}")
        first = report.first_bad_seq
        where = f"first bad sequence number: {first}" if first is not None else f"{report.problems[0]}"
        raise CommandError(f"audit chain verification FAILED for {what}: {where}", returncode=1)
