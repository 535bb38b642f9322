"""Reads: querysets for views and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from docproc.models import ApiClient, Document


def documents_for_client(*, client: ApiClient, status=None, doc_type=None, external_ref=None,
                         created_after=None, created_before=None) -> QuerySet[Document]:
    qs = Document.objects.filter(client=client).order_by("-created_at")
    if status:
        qs = qs.filter(status__in=status.split(",") if isinstance(status, str) else status)
    if doc_type:
        qs = qs.filter(doc_type=doc_type)
    if external_ref:
        qs = qs.filter(external_ref=external_ref)
    # Parsed by the caller (the API's DocumentFilterSerializer): a value that is no date is an
    # error there, never silently dropped here.
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    return qs
