"""The client's address of a request, behind DOCPROC_TRUSTED_PROXIES reverse proxies.

Each proxy appends the address it received the request from to ``X-Forwarded-For``; the last
proxy is ``REMOTE_ADDR``. With N trusted proxies the client is the N-th entry from the right:
anything further left was written by the client itself and proves nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The address audit events, throttles and the sign-in lockout attribute ``request`` to."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = int(getattr(settings, "DOCPROC_TRUSTED_PROXIES", 0) or 0)
    if trusted <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if not hops:
        return remote
    # Fewer entries than proxies: every entry was written by a trusted proxy, the first is the client.
    candidate = hops[-trusted] if len(hops) >= trusted else hops[0]
    return _valid(candidate) or remote
