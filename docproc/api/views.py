"""REST API v1: upload, status, result, list, retry, reprocess."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from docproc import selectors, services
from docproc.audit.service import Actor
from docproc.models import RESULT_READY_STATUSES, Document
from docproc.netaddr import client_ip

from .errors import ApiError
from .serializers import (
    MAX_PAGE_LIMIT,
    DocumentFilterSerializer,
    DocumentSerializer,
    ErrorSerializer,
    ReprocessSerializer,
    UploadSerializer,
)

# Room for the multipart boundaries and the other form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


ERROR_CODES = {
    400: "invalid_request, missing_file, unknown_doc_type, invalid_idempotency_key, empty_file, malformed_request",
    401: "not_authenticated, invalid_token",
    403: "permission_denied, doc_type_not_allowed",
    404: "not_found",
    409: "idempotency_key_reused: the Idempotency-Key was used for another file, doc_type or external_ref",
    413: "file_too_large, request_too_large",
    415: "unsupported_type, unsupported_media_type",
    429: "rate_limited, quota_exceeded (with Retry-After)",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation for the OpenAPI schema: JSON ``{code, detail}``."""
    return {s: OpenApiResponse(ErrorSerializer, description=ERROR_CODES[s]) for s in statuses}


class BoundedPagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_LIMIT


class DocumentListCreate(generics.ListAPIView):
    serializer_class = DocumentSerializer
    pagination_class = BoundedPagination
    parser_classes = [MultiPartParser]

    @extend_schema(parameters=[
        OpenApiParameter("status", str), OpenApiParameter("doc_type", str), OpenApiParameter("external_ref", str),
        OpenApiParameter("created_after", OpenApiTypes.DATETIME), OpenApiParameter("created_before", OpenApiTypes.DATETIME),
    ], responses={200: DocumentSerializer(many=True), **errors(400, 401, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        ser = DocumentFilterSerializer(data=self.request.query_params)
        if not ser.is_valid():
            name, errors = next(iter(ser.errors.items()))
            raise ApiError("invalid_filter", f"{name}: {' '.join(str(e) for e in errors)}")
        p = ser.validated_data
        return selectors.documents_for_client(
            client=self.request.auth, status=p.get("status"), doc_type=p.get("doc_type"),
            external_ref=p.get("external_ref"), created_after=p.get("created_after"),
            created_before=p.get("created_before"),
        )

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={201: DocumentSerializer, 200: DocumentSerializer,
                   **errors(400, 401, 403, 409, 413, 415, 429)},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                     description="Bound to the request (file SHA-256, doc_type, external_ref): the "
                                                 "same key with another request answers 409 idempotency_key_reused.")],
    )
    def post(self, request, *args, **kwargs):
        def refuse(code: str, detail: str, status_code: int = 400, *, body_read: bool = True) -> ApiError:
            # The file's name only once the body was parsed: an oversized body is never read.
            file_name = getattr(request.FILES.get("file"), "name", "") if body_read else ""
            services.upload_refusal_record(client=request.auth, code=code, detail=detail, client_ip=client_ip(request),
                                           file_name=file_name)
            return ApiError(code, detail, status_code)

        # Refuse an oversized body from its declared length, before Django spools it to disk.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.DOCPROC_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD
        if declared.isdigit() and int(declared) > limit:
            raise refuse("file_too_large", f"The request has {declared} bytes; files may have at most "
                         f"{settings.DOCPROC_MAX_UPLOAD_BYTES} (DOCPROC_MAX_UPLOAD_BYTES).", 413, body_read=False)
        if "file" not in request.FILES:
            raise refuse("missing_file", "Send the document as the multipart field 'file'.")
        ser = UploadSerializer(data=request.data)
        if not ser.is_valid():
            if "doc_type" in ser.errors:
                raise refuse("unknown_doc_type", f"doc_type must be one of: {', '.join(ser.fields['doc_type'].choices)}.")
            raise refuse("invalid_request", str(ser.errors))
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 200:
            raise refuse("invalid_idempotency_key", "Idempotency-Key is at most 200 characters.")
        try:
            outcome = services.document_upload(
                client=request.auth, uploaded=ser.validated_data["file"], doc_type=ser.validated_data["doc_type"],
                external_ref=ser.validated_data.get("external_ref", ""), idempotency_key=key,
                client_ip=client_ip(request),
            )
        except services.UploadRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        body = DocumentSerializer(outcome.document).data
        body["duplicate"] = not outcome.created
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK)


class DocumentDetail(APIView):
    @extend_schema(responses={200: DocumentSerializer, **errors(401, 404, 429)})
    def get(self, request, document_id):
        doc = get_object_or_404(Document, pk=document_id, client=request.auth)
        return Response(DocumentSerializer(doc).data)


class DocumentResult(APIView):
    @extend_schema(responses={200: dict, **errors(401, 404, 429),
                              409: OpenApiResponse(ErrorSerializer, description="not_ready (still processing), "
                                                   "document_failed or document_rejected")})
    def get(self, request, document_id):
        doc = get_object_or_404(Document, pk=document_id, client=request.auth)
        if doc.status not in RESULT_READY_STATUSES:
            if doc.status in ("failed", "rejected"):
                return Response({"code": f"document_{doc.status}", "detail": doc.error_detail or f"The document was {doc.status}.",
                                 "error": {"code": doc.error_code, "detail": doc.error_detail},
                                 "document": selectors.document_result(doc)["document"]}, status=409)
            return Response({"code": "not_ready", "detail": f"The document is {doc.status}" + (f" ({doc.stage})" if doc.stage else "") + ".",
                             "status": doc.status, "stage": doc.stage}, status=409)
        return Response(selectors.document_result(doc))


class DocumentRetry(APIView):
    """Send one of the client's failed documents through processing again (from the start)."""

    @extend_schema(request=None, responses={202: DocumentSerializer, **errors(401, 404, 429),
                                            409: OpenApiResponse(ErrorSerializer, description="not_failed (the document "
                                                                 "is not failed) or not_retryable (its file was purged "
                                                                 "or is itself bad: send a corrected file)")})
    def post(self, request, document_id):
        doc = get_object_or_404(Document, pk=document_id, client=request.auth)
        try:
            doc = services.document_retry(document=doc, actor=Actor.client(request.auth))
        except services.RetryRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response(DocumentSerializer(doc).data, status=status.HTTP_202_ACCEPTED)


class DocumentReprocess(APIView):
    """Make a new extraction run of one of the client's processed documents, beside its current
    run (never over it): the result keeps the current values until a supervisor adopts the new
    ones in the review UI. Body (optional): ``engine``, ``model``."""

    @extend_schema(request=ReprocessSerializer,
                   responses={202: dict, **errors(401, 404, 429),
                              400: OpenApiResponse(ErrorSerializer, description="unknown_engine, invalid_request"),
                              409: OpenApiResponse(ErrorSerializer, description="not_reprocessable (not processed yet, "
                                                   "failed, rejected or purged) or reprocess_in_progress")})
    def post(self, request, document_id):
        doc = get_object_or_404(Document, pk=document_id, client=request.auth)
        ser = ReprocessSerializer(data=request.data)
        if not ser.is_valid():
            raise ApiError("invalid_request", str(ser.errors))
        try:
            run = services.document_reprocess_request(document=doc, actor=Actor.client(request.auth),
                                                      engine=ser.validated_data.get("engine", ""),
                                                      model=ser.validated_data.get("model", ""))
        except services.ReprocessRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response({"document": DocumentSerializer(doc).data, "run": run.pk, "state": run.rerun_state,
                         "current_run": run.reprocess_of_id}, status=status.HTTP_202_ACCEPTED)
