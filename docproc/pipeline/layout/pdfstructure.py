"""Layout of a digital PDF page from its own structure: pdfplumber's tables, rectangles and lines.

``analyse_pdf`` reads the PDF; ``analyse`` (the Protocol) works from words and, when it has one,
the page image, for callers that only hold those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..types import BBox, PageImage, PageLayout, PageWords, Region
from . import LayoutCapabilities
from .common import blocks_from_words, is_key_value, rulings_from_image, words_inside

VERSION = "pdfstructure-1"


def _version() -> str:
    from importlib.metadata import version

    return f"{VERSION}/pdfplumber{version('pdfplumber')}"


class PdfStructureLayout:
    name = "pdf-structure"

    def __init__(self, **_: Any) -> None:
        self.version = _version()
        self.capabilities = LayoutCapabilities(analyse_pdf=self.analyse_pdf)

    def analyse(self, page: PageImage | None, words: PageWords) -> PageLayout:
        rulings = rulings_from_image(page) if page is not None else ()
        return PageLayout(page=words.page, regions=blocks_from_words(words.words), engine=self.name,
                          engine_version=self.version, rulings=rulings)

    def analyse_pdf(self, path: Path, words: PageWords) -> PageLayout:
        """Tables (pdfplumber's finder), labelled boxes (key-value cells), the rest as text blocks."""
        import pdfplumber

        with pdfplumber.open(str(path)) as pdf:
            p = pdf.pages[words.page - 1]
            width, height = float(p.width), float(p.height)
            x_off, y_off = float(p.bbox[0]), float(p.bbox[1])

            def frac(x0: float, top: float, x1: float, bottom: float) -> BBox:
                return ((x0 - x_off) / width, (top - y_off) / height, (x1 - x_off) / width, (bottom - y_off) / height)

            tables = [frac(*t.bbox) for t in p.find_tables()]
            rects = [frac(r["x0"], r["top"], r["x1"], r["bottom"]) for r in p.rects]
            rulings = [frac(e["x0"], e["top"], e["x1"], e["bottom"]) for e in p.edges]
        regions: list[Region] = []
        used: set[str] = set()
        for box in tables:
            inside = words_inside(words.words, box)
            if not inside:
                continue
            # a table of "label | value" rows is a key-value block to a reader
            kind = "key-value" if _two_column_labels(inside, box) else "table"
            regions.append(Region(kind=kind, bbox=box))
            used.update(w.id for w in inside)
        for box in rects:
            inside = [w for w in words_inside(words.words, box) if w.id not in used]
            if not inside or (box[2] - box[0]) > 0.95:
                continue
            regions.append(Region(kind="key-value" if _labelled_cell(inside) or is_key_value(inside) else "text", bbox=box))
            used.update(w.id for w in inside)
        rest = [w for w in words.words if w.id not in used]
        regions.extend(blocks_from_words(rest))
        regions.sort(key=lambda r: (r.bbox[1], r.bbox[0]))
        return PageLayout(page=words.page, regions=tuple(regions), engine=self.name, engine_version=self.version,
                          rulings=tuple(sorted(rulings, key=lambda b: (round(b[1], 4), b[0]))))


def _labelled_cell(words: list) -> bool:
    """A form cell: a small upper-case caption line above a value."""
    lines: dict[int, list] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    if len(lines) != 2:
        return False
    first = sorted(lines)[0]
    caption = " ".join(w.text for w in lines[first])
    return caption.isupper() and any(ch.isalpha() for ch in caption)


def _two_column_labels(words: list, box: BBox) -> bool:
    """Rows whose first cell holds a label: what pdfplumber calls a table, a reader calls a form."""
    mid = box[0] + (box[2] - box[0]) * 0.35
    rows: dict[int, list] = {}
    for w in words:
        rows.setdefault(w.line, []).append(w)
    labelled = sum(1 for ws in rows.values() if any(w.bbox[2] <= mid for w in ws) and any(w.bbox[0] > mid for w in ws))
    return bool(rows) and labelled / len(rows) >= 0.8
