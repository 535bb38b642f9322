"""API clients without a shell: ``manage.py clients`` and the Django admin, every change audited."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("clients", *args, stdout=out)
    return out.getvalue()


def token_in(text: str) -> str:
    return re.search(r"^token (dp_\S+)$", text, re.M).group(1)


def api_status(token: str) -> int:
    from rest_framework.test import APIClient

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return http.get("/api/v1/documents/").status_code


def test_a_second_client_created_and_rotated_by_command_is_in_the_audit_log(settings):
    """Given the command, a second client is created, its token works, a rotation makes the old
    token fail and the new one work, a revocation stops it; each step is an audit event."""
    from docproc.audit.models import AuditEvent
    from docproc.models import ApiClient

    token_a = token_in(run("create", "first-upstream"))
    out = run("--by", "ops-anna", "create", "crm", "--doc-types", "claim,invoice", "--rate-limit", "120")
    token = token_in(out)
    assert ApiClient.objects.count() == 2 and api_status(token) == 200 and api_status(token_a) == 200
    crm = ApiClient.objects.get(name="crm")
    assert crm.allowed_doc_types == ["claim", "invoice"] and crm.rate_limit_per_minute == 120
    assert token not in str(ApiClient.objects.filter(name="crm").values().get())  # only its hash is kept

    listed = run("list")
    assert "crm" in listed and "first-upstream" in listed and token not in listed

    new = token_in(run("rotate-token", "crm"))
    assert new != token and api_status(token) == 401 and api_status(new) == 200
    run("revoke", "crm")
    assert api_status(new) == 401 and api_status(token_a) == 200

    events = list(AuditEvent.objects.filter(object_type="api_client", object_id=str(crm.pk)).order_by("seq"))
    assert [e.action for e in events] == ["client.created", "client.token_rotated", "client.revoked"]
    assert events[0].actor == "ops-anna" and events[0].payload["after"]["allowed_doc_types"] == ["claim", "invoice"]
    assert all(token not in str(e.payload) and crm.token_hash not in str(e.payload) for e in events)


def test_set_webhook_checks_the_url_and_prints_a_secret_once(settings):
    from docproc.audit.models import AuditEvent
    from docproc.models import ApiClient

    run("create", "hooked")
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(CommandError, match="unsafe_webhook_url"):
        run("set-webhook", "hooked", "http://127.0.0.1:9/hook")
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    out = run("set-webhook", "hooked", "http://127.0.0.1:9/hook")
    secret = re.search(r"^secret (\S+)$", out, re.M).group(1)
    client = ApiClient.objects.get(name="hooked")
    assert client.webhook_url == "http://127.0.0.1:9/hook" and client.webhook_secret == secret and len(secret) > 30
    event = AuditEvent.objects.get(action="client.webhook_changed")
    assert event.payload["after"]["webhook_url"] == "http://127.0.0.1:9/hook" and secret not in str(event.payload)


def test_unknown_clients_and_duplicates_are_refused():
    run("create", "dup")
    with pytest.raises(CommandError, match="client_exists"):
        run("create", "dup")
    with pytest.raises(CommandError, match="unknown_client"):
        run("rotate-token", "nobody")
    with pytest.raises(CommandError, match="unknown_doc_type"):
        run("create", "typo", "--doc-types", "passport")


@pytest.fixture
def admin_http(client):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root-admin", "root@example.com", "Adm1n-Secret-Pass")
    client.force_login(admin)
    return client


def test_admin_creates_and_changes_clients_audited(admin_http, settings):
    from docproc.audit.models import AuditEvent
    from docproc.models import ApiClient

    form = {"name": "admin-made", "allowed_doc_types": '["receipt"]', "is_active": "on",
            "rate_limit_per_minute": "60", "retention_days": "", "webhook_url": ""}
    resp = admin_http.post("/admin/docproc/apiclient/add/", form, follow=True)
    assert resp.status_code == 200
    client = ApiClient.objects.get(name="admin-made")
    shown = re.search(r"token (dp_[A-Za-z0-9_-]+)", resp.content.decode()).group(1)
    assert api_status(shown) == 200
    form["rate_limit_per_minute"] = "30"
    admin_http.post(f"/admin/docproc/apiclient/{client.pk}/change/", form, follow=True)
    actions = list(AuditEvent.objects.filter(object_type="api_client").order_by("seq").values_list("action", "actor"))
    assert actions == [("client.created", "root-admin"), ("client.changed", "root-admin")]
    changed = AuditEvent.objects.get(action="client.changed").payload
    assert changed["before"]["rate_limit_per_minute"] == 60 and changed["after"]["rate_limit_per_minute"] == 30
    # Clients are revoked, never deleted; a private webhook URL is refused in the form.
    assert admin_http.post(f"/admin/docproc/apiclient/{client.pk}/delete/", {"post": "yes"}).status_code == 403
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = False
    form["webhook_url"] = "http://10.0.0.5/hook"
    resp = admin_http.post(f"/admin/docproc/apiclient/{client.pk}/change/", form)
    assert resp.status_code == 200 and "non-public address" in resp.content.decode()
    assert ApiClient.objects.get(pk=client.pk).webhook_url == ""


def test_admin_user_changes_are_audited(admin_http):
    from django.contrib.auth import get_user_model

    from docproc.audit.models import AuditEvent

    user = get_user_model().objects.create_user("bob", email="bob@example.com", password="Old-Password-991")
    user.email = "robert@example.com"
    user.set_password("New-Password-992")
    user.save()
    event = AuditEvent.objects.get(action="user.changed")
    assert event.payload["changed"] == ["email", "password"]
    assert event.payload["after"] == {"email": "robert@example.com"} and "pbkdf2" not in str(event.payload)
    user.delete()
    assert AuditEvent.objects.filter(action="user.deleted", payload__user="bob").exists()


def test_webhook_deliveries_are_read_only_in_the_admin(admin_http):
    assert admin_http.get("/admin/docproc/webhookdelivery/").status_code == 200
    assert admin_http.get("/admin/docproc/webhookdelivery/add/").status_code == 403
