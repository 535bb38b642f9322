"""Export audit events as JSON Lines or CSV, streamed, with a manifest next to the file."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from docproc.audit.export import (
    FORMATS,
    AuditFilter,
    BadFilter,
    export_to_file,
    manifest_path,
    mask_for_everyone,
)
from docproc.audit.service import Actor, record


class Command(BaseCommand):
    help = ("Export audit events (JSON Lines or CSV) for the given filters, streamed with constant memory. "
            "Writes FILE and FILE.manifest.json (count, first and last seq, last hash, SHA-256) and records "
            "the export as an audit event.")

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, required=True)
        parser.add_argument("--out", type=Path, required=True, help="file to write")
        parser.add_argument("--since", help="from this date or date-time (inclusive, UTC unless an offset is given)")
        parser.add_argument("--until", help="up to this date-time (exclusive); a bare date includes that whole day")
        parser.add_argument("--actor", help="only this actor (exact name)")
        parser.add_argument("--action", help="only this action")
        parser.add_argument("--document", help="only events of this document id")
        parser.add_argument("--from-seq", help="first sequence number")
        parser.add_argument("--to-seq", help="last sequence number")
        parser.add_argument("--mask", action="store_true",
                            help="mask field values (always on when DOCPROC_AUDIT_MASK_VALUES is set)")

    def handle(self, *args, **opts):
        try:
            flt = AuditFilter.parse({key: opts.get(key) for key in
                                     ("since", "until", "actor", "action", "document", "from_seq", "to_seq")})
        except BadFilter as exc:
            raise CommandError(str(exc)) from None
        out: Path = opts["out"]
        if not out.parent.is_dir():
            raise CommandError(f"folder {out.parent} does not exist")
        mask = opts["mask"] or mask_for_everyone()
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no user name in a bare container
            who = "unknown"
        actor = Actor("system", f"manage.py audit_export ({who})")
        started = time.perf_counter()
        data = export_to_file(out, flt, opts["format"], mask=mask, exported_by=actor.name)
        seconds = time.perf_counter() - started
        with transaction.atomic():
            record(actor=actor, action="audit.exported", object_type="export", object_id=out.name,
                   payload={"via": "command", **{k: data[k] for k in (
                       "format", "file", "sha256", "count", "first_seq", "last_seq", "last_hash", "filters", "masked")}})
        rate = data["count"] / seconds if seconds > 0 else 0.0
        self.stdout.write(
            f"exported {data['count']} events (seq {data['first_seq']}..{data['last_seq']}) to {out} "
            f"in {seconds:.2f} s ({rate:,.0f} events/s); manifest {manifest_path(out)}"
        )
