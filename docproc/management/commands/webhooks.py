"""``manage.py webhooks list [--status dead]`` and ``manage.py webhooks redeliver ID... | --dead``.

Re-sending gives a dead letter a fresh round of attempts to the client's current webhook URL,
audited under the operator's name, and makes the first attempt at once.
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from docproc import webhooks
from docproc.audit.service import Actor
from docproc.models import WebhookDelivery


class Command(BaseCommand):
    help = "List webhook deliveries, or re-send dead letters."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="deliveries by status")
        ls.add_argument("--status", default="dead", choices=WebhookDelivery.Status.values)
        again = sub.add_parser("redeliver", help="re-send dead letters")
        again.add_argument("ids", nargs="*", help="delivery ids")
        again.add_argument("--dead", action="store_true", help="every dead letter")
        again.add_argument("--no-send", action="store_true",
                           help="only re-queue; the retry job sends them within its period")

    def handle(self, *args, action: str, **options):
        if action == "list":
            for d in WebhookDelivery.objects.filter(status=options["status"]).select_related("client").order_by("created_at"):
                self.stdout.write(f"{d.id}  {d.client.name}  {d.event}  attempts={d.attempts}  {d.url}  {d.last_error[:80]}")
            return
        ids = list(options["ids"])
        if options["dead"]:
            ids += webhooks.deliveries_dead()
        if not ids:
            raise CommandError("name delivery ids or pass --dead")
        actor = Actor("system", f"manage.py webhooks redeliver ({getpass.getuser()})")
        failed = 0
        for delivery_id in ids:
            try:
                delivery = webhooks.delivery_redeliver(delivery_id=delivery_id, actor=actor)
            except (webhooks.RedeliveryRefused, ValueError) as exc:
                failed += 1
                self.stderr.write(f"{delivery_id}: not re-sent: {getattr(exc, 'code', 'invalid')}: {exc}")
                continue
            if options["no_send"]:
                self.stdout.write(f"{delivery.id}: queued again for {delivery.url}")
                continue
            status = webhooks.delivery_attempt(delivery_id=delivery.id)
            delivery.refresh_from_db()
            self.stdout.write(f"{delivery.id}: {status} ({delivery.last_error or delivery.last_status_code})")
        if failed:
            raise CommandError(f"{failed} of {len(ids)} deliveries were not re-sent")
