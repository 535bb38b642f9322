"""API clients: create, list, rotate a token, revoke, set the webhook. Each change writes its audit
event in the same transaction; a token or webhook secret is returned once and stored only hashed
(the token) or never shown again (the secret)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from docproc.audit.service import Actor, acting, record
from docproc.doctypes import DOC_TYPES
from docproc.models import ApiClient
from docproc.webhooks import UnsafeWebhookUrl, check_webhook_url

# What an audit event may say about a client: never its token hash or webhook secret.
AUDITED_FIELDS = ("name", "allowed_doc_types", "webhook_url", "is_active", "rate_limit_per_minute", "retention_days")


class ClientRefused(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True, slots=True)
class IssuedClient:
    client: ApiClient
    token: str


def client_state(client: ApiClient) -> dict[str, Any]:
    return {name: getattr(client, name) for name in AUDITED_FIELDS} | {"has_webhook_secret": bool(client.webhook_secret)}


def _audit(action: str, client: ApiClient, actor: Actor | None, **payload: Any) -> None:
    record(actor=actor or acting(), action=action, object_type="api_client", object_id=client.pk,
           payload={"client": client.name, **payload})


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_doc_types(doc_types: list[str]) -> list[str]:
    unknown = sorted(set(doc_types) - set(DOC_TYPES))
    if unknown:
        raise ClientRefused("unknown_doc_type", f"unknown document type {', '.join(unknown)}; known: {', '.join(sorted(DOC_TYPES))}")
    return sorted(set(doc_types))


def _check_url(url: str) -> str:
    try:
        check_webhook_url(url)
    except UnsafeWebhookUrl as exc:
        raise ClientRefused("unsafe_webhook_url", str(exc)) from None
    return url


def clients_list() -> QuerySet[ApiClient]:
    return ApiClient.objects.order_by("name")


def api_client_create(*, name: str, doc_types: list[str] | None = None, rate_limit_per_minute: int | None = None,
                      retention_days: int | None = None, actor: Actor | None = None) -> IssuedClient:
    name = name.strip()
    if not name:
        raise ClientRefused("invalid_name", "A client needs a name.")
    with transaction.atomic():
        if ApiClient.objects.filter(name=name).exists():
            raise ClientRefused("client_exists", f"An API client named {name!r} exists; rotate its token instead.")
        token = ApiClient.new_token()
        client = ApiClient(name=name, allowed_doc_types=check_doc_types(doc_types or []), retention_days=retention_days)
        if rate_limit_per_minute is not None:
            client.rate_limit_per_minute = rate_limit_per_minute
        client.set_token(token)
        client.save()
        _audit("client.created", client, actor, after=client_state(client))
    return IssuedClient(client, token)


def _locked(name: str) -> ApiClient:
    client = ApiClient.objects.select_for_update().filter(name=name).first()
    if client is None:
        raise ClientRefused("unknown_client", f"No API client is named {name!r}.")
    return client


def api_client_rotate_token(*, name: str, actor: Actor | None = None) -> IssuedClient:
    """A new token; the old one stops working at once."""
    with transaction.atomic():
        client = _locked(name)
        token = ApiClient.new_token()
        old_prefix = client.token_prefix
        client.set_token(token)
        client.save(update_fields=["token_prefix", "token_hash"])
        _audit("client.token_rotated", client, actor, before={"token_prefix": old_prefix},
               after={"token_prefix": client.token_prefix})
    return IssuedClient(client, token)


def api_client_revoke(*, name: str, actor: Actor | None = None) -> ApiClient:
    with transaction.atomic():
        client = _locked(name)
        if not client.is_active:
            return client
        client.is_active = False
        client.save(update_fields=["is_active"])
        _audit("client.revoked", client, actor, before={"is_active": True}, after={"is_active": False})
    return client


def api_client_set_webhook(*, name: str, url: str, secret: str | None = None,
                           actor: Actor | None = None) -> tuple[ApiClient, str]:
    """Set (or with ``url=""`` remove) the webhook. Without ``secret`` a random one is made;
    returns the client and the secret, to be handed to the receiver once."""
    url = url.strip()
    with transaction.atomic():
        client = _locked(name)
        before = client_state(client)
        if url:
            _check_url(url)
            secret = secret or new_webhook_secret()
        else:
            secret = ""
        client.webhook_url, client.webhook_secret = url, secret
        client.save(update_fields=["webhook_url", "webhook_secret"])
        _audit("client.webhook_changed", client, actor, before=before, after=client_state(client))
    return client, secret


def api_client_changed(*, client: ApiClient, before: dict[str, Any] | None, actor: Actor | None = None) -> None:
    """Record an edit made elsewhere (the Django admin): before and after of the audited fields."""
    after = client_state(client)
    if before is None:
        _audit("client.created", client, actor, after=after, via="admin")
    elif before != after:
        _audit("client.changed", client, actor, before=before, after=after, via="admin")
