"""An OCR engine that finds no words: used only where the configured engine is not installed."""

from __future__ import annotations

from docproc.pipeline.types import PageImage, PageWords


class BlankOcrEngine:
    name = "blank"
    version = "1"

    def __init__(self, **_options) -> None:
        pass

    def read(self, page: PageImage) -> PageWords:
        image = page.image
        if image.width <= 0 or image.height <= 0:
            raise ValueError("empty image")
        return PageWords(page=page.page, width=float(image.width), height=float(image.height), words=(),
                         source="ocr", engine=self.name, engine_version=self.version)
