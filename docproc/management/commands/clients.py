"""API clients without a shell: create, list, rotate-token, revoke, set-webhook (each audited)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from docproc import clients
from docproc.audit.service import Actor


class Command(BaseCommand):
    help = "Manage API clients: create, list, rotate-token, revoke, set-webhook. Tokens are shown once."

    def add_arguments(self, parser):
        parser.add_argument("--by", default="", help="who is acting, for the audit log (default: the system)")
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="create a client and print its token once")
        create.add_argument("name")
        create.add_argument("--doc-types", default="", help="comma-separated; empty: every type")
        create.add_argument("--rate-limit", type=int, default=None, help="requests per minute (0: none)")
        create.add_argument("--retention-days", type=int, default=None)
        lst = sub.add_parser("list", help="list clients (never their tokens)")
        lst.add_argument("--json", action="store_true")
        for verb, text in (("rotate-token", "replace the token; the old one stops working"), ("revoke", "disable the client")):
            sub.add_parser(verb, help=text).add_argument("name")
        hook = sub.add_parser("set-webhook", help="set the webhook URL (empty: remove); prints a new secret once")
        hook.add_argument("name")
        hook.add_argument("url")
        hook.add_argument("--secret", default=None, help="use this secret instead of a random one")

    def handle(self, *args, verb: str, by: str, **opts):
        actor = Actor("user", by) if by else None
        try:
            if verb == "create":
                doc_types = [d.strip() for d in opts["doc_types"].split(",") if d.strip()]
                issued = clients.api_client_create(name=opts["name"], doc_types=doc_types, actor=actor,
                                                   rate_limit_per_minute=opts["rate_limit"],
                                                   retention_days=opts["retention_days"])
                self.stdout.write(f"created API client {issued.client.name}\ntoken {issued.token}\n"
                                  "(shown once: store it in the upstream system now)")
            elif verb == "rotate-token":
                issued = clients.api_client_rotate_token(name=opts["name"], actor=actor)
                self.stdout.write(f"new token for {issued.client.name}\ntoken {issued.token}\n"
                                  "(the old token no longer works; shown once)")
            elif verb == "revoke":
                client = clients.api_client_revoke(name=opts["name"], actor=actor)
                self.stdout.write(f"revoked API client {client.name}")
            elif verb == "set-webhook":
                client, secret = clients.api_client_set_webhook(name=opts["name"], url=opts["url"],
                                                                secret=opts["secret"], actor=actor)
                if client.webhook_url:
                    self.stdout.write(f"webhook of {client.name}: {client.webhook_url}\nsecret {secret}\n(shown once)")
                else:
                    self.stdout.write(f"webhook of {client.name} removed")
            else:
                self._list(json_out=opts["json"])
        except clients.ClientRefused as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from None

    def _list(self, *, json_out: bool) -> None:
        rows = [{"name": c.name, "active": c.is_active, "token_prefix": c.token_prefix,
                 "doc_types": c.allowed_doc_types, "webhook_url": c.webhook_url,
                 "rate_limit_per_minute": c.rate_limit_per_minute, "retention_days": c.retention_days,
                 "created_at": c.created_at.isoformat()} for c in clients.clients_list()]
        if json_out:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for r in rows:
            self.stdout.write(f"{r['name']:<30} {'active' if r['active'] else 'revoked':<8} {r['token_prefix']}…  "
                              f"types={','.join(r['doc_types']) or '*'}  webhook={r['webhook_url'] or '-'}")
