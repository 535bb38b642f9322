"""API token authentication: ``Authorization: Bearer <token>`` (or ``Token <token>``)."""

from __future__ import annotations

import hmac

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from docproc.audit.service import Actor, record
from docproc.models import ApiClient
from docproc.netaddr import client_ip

from . import throttling


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        """The client of a valid token. Requests without a valid token are counted per address:
        past DOCPROC_ANON_RATE_PER_MINUTE a minute they get 429 without the token being looked at."""
        header = authentication.get_authorization_header(request).decode("latin-1")
        ip = client_ip(request)
        wait = throttling.unauthenticated_over_limit(ip)
        if wait is not None and not self._known_token(header):
            throttling.auth_failure_seen(ip, reason="throttled", path=request.path, throttled=True)
            raise throttling.UnauthenticatedThrottled(wait)
        if not header:
            throttling.unauthenticated_seen(ip)
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() not in self.keywords:
            self._fail(request, "malformed authorization header")
        token = parts[1]
        digest = ApiClient.hash_token(token)
        client = ApiClient.objects.filter(token_prefix=token[:12], is_active=True).only(
            "id", "name", "token_hash", "allowed_doc_types", "webhook_url", "rate_limit_per_minute").first()
        if client is None or not hmac.compare_digest(client.token_hash, digest):
            self._fail(request, "unknown or revoked token")
        return (None, client)

    def authenticate_header(self, request):
        return 'Bearer realm="docproc"'

    @staticmethod
    def _known_token(header: str) -> bool:
        """Whether ``header`` carries a valid token: a throttled address still lets its real
        clients through (a client behind the same NAT as a scanner keeps working)."""
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() not in ApiTokenAuthentication.keywords:
            return False
        client = ApiClient.objects.filter(token_prefix=parts[1][:12], is_active=True).only("token_hash").first()
        return client is not None and hmac.compare_digest(client.token_hash, ApiClient.hash_token(parts[1]))

    @staticmethod
    def _fail(request, why: str):
        ip = client_ip(request)
        throttling.unauthenticated_seen(ip)
        if not throttling.auth_failure_seen(ip, reason=why, path=request.path):
            record(actor=Actor("anonymous", "api"), action="api.auth_failed",
                   client_ip=ip, payload={"count": 1, "reason": why, "path": request.path})
        raise exceptions.AuthenticationFailed("Invalid API token.", code="invalid_token")


class IsApiClient(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, ApiClient)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Names the bearer token in the OpenAPI schema."""

    target_class = "docproc.api.auth.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API client's token: `Authorization: Bearer dp_...`"}
