"""``manage.py reprocess --doc-type T [--since ISO] [--engine E --model M] [--client NAME] [--inline]``:
a new extraction run beside the current one of every processed document that matches
(docproc/services/reprocess.py); the current values stay until a supervisor adopts the new ones.
``--requeue`` queues again the re-runs still waiting (a broker that lost them)."""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from docproc import dispatch, services
from docproc.audit.service import Actor
from docproc.models import Document, ExtractionRun, RerunState


class Command(BaseCommand):
    help = "Re-run extraction of processed documents beside their current run (never over it)."

    def add_arguments(self, parser):
        parser.add_argument("--doc-type", default="")
        parser.add_argument("--since", default="", help="documents received at or after this ISO date or time")
        parser.add_argument("--engine", default="", help="extraction engine (default DOCPROC_EXTRACT_ENGINE)")
        parser.add_argument("--model", default="", help="model of that engine (default its configured one)")
        parser.add_argument("--client", default="", help="only this API client's documents (its name)")
        parser.add_argument("--limit", type=int, default=0)
        parser.add_argument("--inline", action="store_true", help="run here instead of queueing for a worker")
        parser.add_argument("--requeue", action="store_true", help="queue again the re-runs still waiting")

    def handle(self, *args, **opts):
        if opts["requeue"]:
            ids = list(ExtractionRun.objects.filter(rerun_state=RerunState.QUEUED).values_list("pk", flat=True))
            for run_id in ids:
                dispatch.document_reprocess_enqueue(run_id, quiet=False)
            self.stdout.write(f"queued {len(ids)} waiting re-run(s) again")
            return
        if not opts["doc_type"]:
            raise CommandError("--doc-type is required")
        qs = Document.objects.filter(doc_type=opts["doc_type"], status__in=services.REPROCESSABLE,
                                     purged_at__isnull=True).order_by("created_at")
        if opts["since"]:
            since = parse_datetime(opts["since"])
            if since is None and (day := parse_date(opts["since"])) is not None:
                since = datetime.combine(day, time.min)
            if since is None:
                raise CommandError(f"--since {opts['since']!r} is not an ISO date or date and time")
            if timezone.is_naive(since):
                since = timezone.make_aware(since)
            qs = qs.filter(created_at__gte=since)
        if opts["client"]:
            qs = qs.filter(client__name=opts["client"])
        if opts["limit"]:
            qs = qs[: opts["limit"]]
        actor = Actor("system", "manage.py reprocess")
        made = refused = 0
        for doc in qs:
            try:
                run = services.document_reprocess_request(document=doc, actor=actor, engine=opts["engine"],
                                                          model=opts["model"], queue=not opts["inline"])
            except services.ReprocessRefused as exc:
                if exc.code == "unknown_engine":
                    raise CommandError(exc.detail) from None
                self.stderr.write(f"{doc.pk}: {exc.code}: {exc.detail}")
                refused += 1
                continue
            made += 1
            if opts["inline"]:
                state = services.document_reprocess(run_id=run.pk)
                changed = services.rerun_changes(run=ExtractionRun.objects.get(pk=run.pk)) if state == "pending" else {}
                self.stdout.write(f"{doc.pk} run {run.pk}: {state}; changed: {', '.join(changed) or 'none'}")
            else:
                self.stdout.write(f"{doc.pk} run {run.pk}: queued")
        self.stdout.write(f"{made} re-run(s) {'made' if opts['inline'] else 'queued'}, {refused} refused")
