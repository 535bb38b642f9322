"""Layout engines: typed regions and ruling lines for a page."""

from __future__ import annotations

from typing import Protocol

from ..types import PageImage, PageLayout, PageWords


class LayoutEngine(Protocol):
    name: str
    version: str

    def analyse(self, page: PageImage | None, words: PageWords) -> PageLayout: ...
