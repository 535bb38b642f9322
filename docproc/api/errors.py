"""Every API error is JSON ``{"code": ..., "detail": ...}`` with a stable code, never a trace."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    def __init__(self, code: str, detail: str, status_code: int = 400) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code


CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.Throttled: "rate_limited",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid_request",
}


# Django refuses these request bodies while parsing them; they are the caller's fault (4xx).
REQUEST_LIMITS = {
    RequestDataTooBig: (413, "The request body is larger than the server accepts outside the file field."),
    TooManyFieldsSent: (400, "The request has more form fields than the server accepts."),
    TooManyFilesSent: (400, "The request has more files than the server accepts; send one file per request."),
}


def exception_handler(exc, context):
    for kind, (status_code, detail) in REQUEST_LIMITS.items():
        if isinstance(exc, kind):
            return Response({"code": "request_too_large", "detail": detail}, status=status_code)
    response = drf_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        return Response({"code": "internal_error", "detail": "An unexpected error occurred; it was logged."},
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    # DRF answers Django's Http404 and PermissionDenied as its own NotFound and PermissionDenied.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    code = getattr(exc, "error_code", None) or next((c for t, c in CODES.items() if isinstance(exc, t)), "error")
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": code, "detail": "The request is invalid.", "errors": response.data}
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        body = {"code": code, "detail": str(detail)}
    response.data = body
    return response


def json_404(request, exception=None):
    return JsonResponse({"code": "not_found", "detail": "No such URL."}, status=404)


def json_500(request):
    return JsonResponse({"code": "internal_error", "detail": "An unexpected error occurred; it was logged."}, status=500)
