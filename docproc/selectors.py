"""Reads: querysets for views and the API."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from docproc.models import ApiClient, Document


def documents_for_client(*, client: ApiClient, status=None, doc_type=None, external_ref=None,
                         created_after=None, created_before=None) -> QuerySet[Document]:
    qs = Document.objects.filter(client=client).order_by("-created_at")
    if status:
        qs = qs.filter(status__in=status.split(","))
    if doc_type:
        qs = qs.filter(doc_type=doc_type)
    if external_ref:
        qs = qs.filter(external_ref=external_ref)
    if created_after and (dt := parse_datetime(created_after)):
        qs = qs.filter(created_at__gte=dt)
    if created_before and (dt := parse_datetime(created_before)):
        qs = qs.filter(created_at__lt=dt)
    return qs
