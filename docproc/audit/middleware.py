"""Makes the current request known to audit events written far from the view (signal receivers
for sign-ins and for group changes made in the admin): who acts, and from which address."""

from __future__ import annotations

from docproc.netaddr import client_ip

from .service import current_client_ip, current_request


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        req_token = current_request.set(request)
        ip_token = current_client_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            current_request.reset(req_token)
            current_client_ip.reset(ip_token)
