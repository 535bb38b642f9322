"""Purge documents kept longer than their client's retention period (also a Celery beat job)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from docproc.services.retention import documents_expired, documents_purge_expired


class Command(BaseCommand):
    help = ("Purge the files, page images, OCR results, field values and content-bearing audit payloads of "
            "finished documents older than their client's retention_days. The audit chain still verifies.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be purged, change nothing")
        parser.add_argument("--limit", type=int, help="purge at most this many documents")

    def handle(self, *args, **opts):
        if opts["dry_run"]:
            expired = documents_expired()
            count = 0
            for doc_id, created, client in expired.values_list("pk", "created_at", "client__name").iterator():
                self.stdout.write(f"{doc_id}  received {created:%Y-%m-%d}  client {client}")
                count += 1
            self.stdout.write(f"{count} documents would be purged")
            return
        results = documents_purge_expired(limit=opts["limit"])
        for r in results:
            self.stdout.write(f"{r.document_id}: {r.files_deleted} files, {r.fields_purged} fields, "
                              f"{r.events_purged} audit payloads (purge event {r.purge_seq})")
        self.stdout.write(f"purged {len(results)} documents")
