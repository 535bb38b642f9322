"""Request id: taken from ``X-Request-ID`` when the caller sends a sane one, else generated."""

from __future__ import annotations

import re
import time
import uuid

from docproc.logging import request_id_var

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


# Scripts only from our own static files; inline style attributes are allowed (the templates use
# them for layout), inline scripts and plugins are not; no page may be framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """Security headers on every answer, whatever the view (Django's own settings cover HSTS and
    the redirect to HTTPS)."""

    HEADERS = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in self.HEADERS.items():
            if name not in response:
                response[name] = value
        return response


class SessionIdleTimeoutMiddleware:
    """Signs a person out after DOCPROC_SESSION_IDLE_SECONDS without a request (the session's
    absolute age is SESSION_COOKIE_AGE). The last-seen time is written at most every tenth of the
    idle time, so an active page does not save its session on every request."""

    KEY = "_docproc_seen"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.contrib.auth import logout

        idle = settings.DOCPROC_SESSION_IDLE_SECONDS
        user = getattr(request, "user", None)
        if idle > 0 and user is not None and user.is_authenticated:
            now = int(time.time())
            seen = request.session.get(self.KEY)
            if seen is not None and now - int(seen) > idle:
                request.session_idle_expired = True
                logout(request)
            elif seen is None or now - int(seen) >= max(1, idle // 10):
                request.session[self.KEY] = now
        return self.get_response(request)
