"""``manage.py demo``: seed a fresh instance with a user per role, an API client and a few
processed documents (some auto-accepted, some waiting for review), and say how to sign in."""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import replace
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.test import override_settings

from docproc import services
from docproc.celery import app as celery_app
from docproc.models import ApiClient
from fixtures.claims import LAYOUTS, make_claim, write_claim_pdf

ROLES = ("reviewer", "supervisor", "auditor", "admin")


class Command(BaseCommand):
    help = "Seed demo users (one per role), an API client and processed documents."

    def add_arguments(self, parser):
        parser.add_argument("--documents", type=int, default=6)
        parser.add_argument("--password", default="", help="password for every demo user (default: random, printed)")
        parser.add_argument("--extractor", default="rules",
                            help="extraction engine for the demo documents: 'rules' (default: instant and exact on "
                                 "the generated claims) or 'configured' (DOCPROC_EXTRACT_ENGINE)")

    def handle(self, *args, documents: int, password: str, extractor: str, **opts):
        if extractor != "configured":
            with override_settings(DOCPROC_EXTRACT_ENGINE=extractor):
                return self._seed(documents, password)
        return self._seed(documents, password)

    def _seed(self, documents: int, password: str) -> None:
        lines = ["", "docproc demo data", "================="]
        for role in ROLES:
            group, _ = Group.objects.get_or_create(name=role)
            user, created = User.objects.get_or_create(username=role, defaults={"email": f"{role}@example.com"})
            if created or password:
                pw = password or secrets.token_urlsafe(9)
                user.set_password(pw)
                user.is_staff = role == "admin"
                user.is_superuser = role == "admin"
                user.save()
                lines.append(f"user {role:<10} password {pw}")
            else:
                lines.append(f"user {role:<10} (exists; rerun with --password to reset)")
            user.groups.add(group)

        client = ApiClient.objects.filter(name="demo-upstream").first()
        token = ApiClient.new_token()
        if client is None:
            client = ApiClient(name="demo-upstream")
        client.set_token(token)
        client.save()
        lines.append(f"API client demo-upstream token {token}")

        # Process the demo documents in this process, through the same services as the API.
        celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
        made = {"auto_accepted": 0, "needs_review": 0, "failed": 0}
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(documents):
                truth = make_claim(5000 + i)
                if i % 3 == 2:
                    # A claim whose items do not add up to the amount claimed: it needs a person.
                    truth = replace(truth, amount_claimed="9,999.99")
                path = write_claim_pdf(truth, Path(tmp) / f"demo-claim-{i}.pdf", layout=LAYOUTS[i % len(LAYOUTS)])
                outcome = services.document_upload(
                    client=client, uploaded=SimpleUploadedFile(path.name, path.read_bytes()), doc_type="claim",
                    external_ref=f"DEMO-{i:03d}", idempotency_key=f"demo-{i}",
                )
                outcome.document.refresh_from_db()
                made[outcome.document.status] = made.get(outcome.document.status, 0) + 1
            bad = services.document_upload(client=client, uploaded=SimpleUploadedFile("broken.pdf", b"%PDF-1.7\n\x00broken"),
                                           doc_type="claim", idempotency_key="demo-broken")
            bad.document.refresh_from_db()
            made[bad.document.status] = made.get(bad.document.status, 0) + 1
        celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
        lines.append("documents: " + ", ".join(f"{k} {v}" for k, v in made.items() if v))
        lines += ["", "Sign in at http://127.0.0.1:8000/accounts/login/ ; API docs at http://127.0.0.1:8000/api/v1/docs/",
                  "Upload: curl -H 'Authorization: Bearer <token>' -F doc_type=claim -F file=@claim.pdf "
                  "http://127.0.0.1:8000/api/v1/documents/"]
        self.stdout.write("\n".join(lines))
