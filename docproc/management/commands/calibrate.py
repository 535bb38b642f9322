"""``manage.py calibrate [--doc-type T]``: refit calibrations on reviewer outcomes and propose them
(docproc/services/learning.py); a supervisor applies a proposal on the reviewer dashboard."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from docproc import services


class Command(BaseCommand):
    help = "Refit each calibration on the shipped one and the reviewer outcomes; propose thresholds."

    def add_arguments(self, parser):
        parser.add_argument("--doc-type", default="", help="only this document type")

    def handle(self, *args, **opts):
        proposals = services.calibrations_refit(doc_type=opts["doc_type"])
        if not proposals:
            self.stdout.write("No calibration has enough outcomes to refit (DOCPROC_CALIBRATION_MIN_OUTCOMES).")
        for p in proposals:
            cur, new = p.current["totals"], p.proposed["totals"]
            self.stdout.write(
                f"proposed {p.version}: {p.doc_type} {p.backend} {p.model} {p.prompt_version} "
                f"client={p.client_id or '-'} outcomes={p.outcomes} folds={p.folds} | as routed: automation "
                f"{cur['automation']} precision {cur['precision']} | held out: automation {new['automation']} "
                f"precision {new['precision']} (target {p.target_precision})")
