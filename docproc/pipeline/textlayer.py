"""Words and exact boxes from a PDF's text layer (pdfplumber)."""

from __future__ import annotations

import re
from pathlib import Path

from .reading_order import assign_lines, renumber
from .types import PageWords, Word

ENGINE = "pdfplumber"

_CID = re.compile(r"\(cid:\d+\)")


def pdfplumber_version() -> str:
    import pdfplumber

    return getattr(pdfplumber, "__version__", "unknown")


def read_text_layer(path: Path, page: int) -> PageWords:
    """All words of ``page`` (1-based) with boxes normalised to the page (see types.BBox)."""
    import pdfplumber

    try:
        with pdfplumber.open(str(path)) as pdf:
            pdf_page = pdf.pages[page - 1]
            width, height = float(pdf_page.width), float(pdf_page.height)
            x_off, y_off = float(pdf_page.bbox[0]), float(pdf_page.bbox[1])
            raw = pdf_page.extract_words(keep_blank_chars=False, use_text_flow=False, x_tolerance=1.5)
    except MemoryError:
        raise
    except Exception:
        # PDFium repaired a file that pdfminer cannot walk (broken cross-reference table, odd
        # page tree): no usable text layer, so the page is rendered and read by OCR instead.
        return PageWords(page=page, width=0.0, height=0.0, words=(), source="text-layer",
                         engine=ENGINE, engine_version=pdfplumber_version())
    if width <= 0 or height <= 0:
        return PageWords(page=page, width=0.0, height=0.0, words=(), source="text-layer",
                         engine=ENGINE, engine_version=pdfplumber_version())
    words: list[Word] = []
    for item in raw:
        text = str(item["text"]).strip()
        if not text:
            continue
        x0 = _clamp((float(item["x0"]) - x_off) / width)
        x1 = _clamp((float(item["x1"]) - x_off) / width)
        y0 = _clamp((float(item["top"]) - y_off) / height)
        y1 = _clamp((float(item["bottom"]) - y_off) / height)
        words.append(Word(id="", text=text, bbox=(x0, y0, x1, y1), confidence=1.0))
    ordered = renumber(page, assign_lines(words))
    return PageWords(
        page=page, width=width, height=height, words=ordered, source="text-layer",
        engine=ENGINE, engine_version=pdfplumber_version(),
    )


def text_layer_is_usable(words: PageWords, *, min_words: int = 3) -> bool:
    """A text layer is usable when it has real words, not glyph ids or private-use garbage.

    A page whose layer is empty, tiny or mostly unmapped glyphs is sent to OCR instead.
    """
    if len(words.words) < min_words:
        return False
    text = " ".join(w.text for w in words.words)
    cid_chars = sum(len(m) for m in _CID.findall(text))
    cleaned = _CID.sub("", text)
    good = sum(1 for ch in cleaned if ch.isalnum() and ord(ch) < 0xE000)
    visible = sum(1 for ch in text if not ch.isspace())
    if visible == 0:
        return False
    return cid_chars / visible < 0.2 and good / visible > 0.5


def _clamp(value: float) -> float:
    return 0.0 if value < 0 else 1.0 if value > 1 else value


# Below this share of the page's text-like ink inside text-layer words, the page is OCR'd.
MIN_INK_COVERAGE = 0.7
COVERAGE_DPI = 50


def text_layer_ink_coverage(path: Path, page: int, words: PageWords, *, dpi: int = COVERAGE_DPI) -> float:
    """The share of the rendered page's text-like ink that lies inside the text layer's words.

    A scanned page with a few digital words stamped on it (a header, a Bates number, an OCR
    layer of one paragraph) has a usable-looking text layer that covers little of what a
    person sees. Rendering at ``dpi`` and removing ruling lines and large pictures' edges
    keeps this cheap (a few milliseconds) and blind to form boxes.
    """
    import cv2
    import numpy as np
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        gray = np.asarray(pdf[page - 1].render(scale=dpi / 72.0, grayscale=True).to_pil().convert("L"))
    finally:
        pdf.close()
    ink = (gray < 160).astype(np.uint8)
    h, w = ink.shape
    lines = cv2.bitwise_or(
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(w // 12, 8), 1))),
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(h // 12, 8)))),
    )
    ink = cv2.bitwise_and(ink, cv2.bitwise_not(lines) & 1)
    total = int(ink.sum())
    if total < 20:
        return 1.0  # nothing visible beyond the text layer
    covered = np.zeros_like(ink)
    pad = 2  # pixels: glyphs overhang pdfplumber's boxes a little
    for word in words.words:
        x0, y0, x1, y1 = word.bbox
        covered[max(0, int(y0 * h) - pad): int(y1 * h) + pad + 1, max(0, int(x0 * w) - pad): int(x1 * w) + pad + 1] = 1
    return float((ink & covered).sum()) / total
