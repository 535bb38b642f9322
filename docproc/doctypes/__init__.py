"""Registry of document types. Field names are part of the API and of the benchmarks."""

from __future__ import annotations

from .base import DocType, FieldSpec
from .claim import CLAIM
from .cms1500 import CMS1500
from .invoice import INVOICE
from .receipt import RECEIPT

DOC_TYPES: dict[str, DocType] = {t.name: t for t in (CLAIM, RECEIPT, INVOICE, CMS1500)}


class UnknownDocType(KeyError):
    pass


def get_doctype(name: str) -> DocType:
    try:
        return DOC_TYPES[name]
    except KeyError:
        raise UnknownDocType(f"unknown document type {name!r}; known: {', '.join(sorted(DOC_TYPES))}") from None


__all__ = ["DOC_TYPES", "DocType", "FieldSpec", "UnknownDocType", "get_doctype"]
