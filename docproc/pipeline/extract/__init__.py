"""Field extractors: document text in, one candidate per field of the document type out."""

from __future__ import annotations

from typing import Protocol

from docproc.doctypes import DocType

from ..types import DocumentText, ExtractionOutput


class Extractor(Protocol):
    name: str
    version: str

    def extract(self, document: DocumentText, doctype: DocType) -> ExtractionOutput:
        """MUST return one candidate per field of ``doctype`` (value None when absent).

        An extractor with ``asks_fields = True`` also takes ``fields=`` (the names still open
        after the label rules and the form template) and returns candidates of those only.

        Raises ``EngineUnavailable`` when the backend is down or too slow: the caller falls
        back to the rules extractor and routes every field to review.
        """
        ...
