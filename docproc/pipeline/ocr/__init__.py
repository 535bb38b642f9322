"""OCR engines. Each is a class with ``name``, ``version`` and ``read(page) -> PageWords``.

Guarantees every engine gives: every word has a box in the page coordinate system of
``types.BBox`` and a confidence in [0, 1]; words come in reading order with line numbers;
no engine downloads weights at run time (a missing model raises ``MissingModel`` naming
the setting to set).
"""

from __future__ import annotations

from typing import Protocol

from ..types import PageImage, PageWords


class OcrEngine(Protocol):
    name: str
    version: str

    def read(self, page: PageImage) -> PageWords: ...
