"""Layout engines: typed regions and ruling lines for a page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..types import PageImage, PageLayout, PageWords


@dataclass(frozen=True, slots=True)
class LayoutCapabilities:
    """What an engine offers beyond ``analyse``. ``analyse_pdf(path, words)``: the layout of a
    digital page read from the PDF itself (exact tables and boxes), used instead of ``analyse``
    for pages whose words come from the text layer."""

    analyse_pdf: Callable[[Path, PageWords], PageLayout] | None = None


class LayoutEngine(Protocol):
    name: str
    version: str
    capabilities: LayoutCapabilities

    def analyse(self, page: PageImage | None, words: PageWords) -> PageLayout: ...
