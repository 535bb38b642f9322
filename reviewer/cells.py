"""Boxes for the cells of a table field (line items), so the review screen can highlight each
cell on the page. The pipeline stores one box per field; the words of the page are read again
here: the text layer of a digital PDF page (the same reader and word ids as the pipeline), or the
OCR words the pipeline cached for a scanned page. A cell whose words are not found has no box."""

from __future__ import annotations

import re
from typing import Any

from docproc.models import Document, Field, Page, StageResult
from docproc.pipeline.codec import page_words_from_dict
from docproc.pipeline.textlayer import read_text_layer
from docproc.pipeline.types import BBox, PageWords, Word, union_bbox
from docproc.storage import file_exists, local_copy

Box = dict[str, float]


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def page_words(doc: Document, page: Page) -> PageWords | None:
    """The words of one page as the pipeline read them, or None when they cannot be had."""
    if page.source == "text-layer" and doc.content_type == "application/pdf" and doc.file:
        if not file_exists(doc.file.name):
            return None
        with local_copy(doc.file) as path:  # the original may be in a bucket: read a local copy
            return read_text_layer(path, page.number)
    row = (StageResult.objects.filter(document_id=doc.pk, page=page.number, stage="ocr")
           .order_by("-id").values("payload").first())
    if row is None:
        return None
    return page_words_from_dict(row["payload"])


def _inside(w: Word, box: BBox, margin: float = 0.01) -> bool:
    cx, cy = (w.bbox[0] + w.bbox[2]) / 2, (w.bbox[1] + w.bbox[3]) / 2
    return box[0] - margin <= cx <= box[2] + margin and box[1] - margin <= cy <= box[3] + margin


def _find(target: str, words: list[Word], start: int) -> tuple[int, int] | None:
    """The first run of consecutive words from ``start`` whose letters and digits spell ``target``."""
    for i in range(start, len(words)):
        built = ""
        for j in range(i, min(len(words), i + 12)):
            built += _key(words[j].text)
            if built == target:
                return i, j + 1
            if not target.startswith(built):
                break
    return None


def cell_boxes(field: Field, words: PageWords | None) -> list[dict[str, BBox | None]]:
    """One dict per row of ``field.value``: column name -> the cell's box (page fractions) or None.
    Rows are matched top to bottom, so a repeated text is taken from the row's own line."""
    rows = field.value if isinstance(field.value, list) else []
    if words is None or not field.bbox:
        return [{k: None for k in (r or {})} for r in rows]
    ids = set(field.word_ids or ())
    region = tuple(float(v) for v in field.bbox)
    table = [w for w in words.words if (w.id in ids) or _inside(w, region)]  # type: ignore[arg-type]
    table.sort(key=lambda w: (w.line, w.bbox[0]))
    out: list[dict[str, BBox | None]] = []
    cursor = 0
    for row in rows:
        boxes: dict[str, BBox | None] = {}
        row_end = None
        for name, value in (row or {}).items():
            target = _key("" if value is None else str(value))
            hit = _find(target, table, cursor) if target else None
            if hit is None:
                boxes[name] = None
                continue
            boxes[name] = union_bbox([w.bbox for w in table[hit[0]:hit[1]]])
            row_end = hit[1] if row_end is None else max(row_end, hit[1])
        if row_end is not None:
            cursor = row_end
        out.append(boxes)
    return out


def as_percent(box: BBox | None) -> Box | None:
    """A page-fraction box as CSS percentages (the review screen's overlay units)."""
    if not box:
        return None
    x0, y0, x1, y1 = (max(0.0, min(1.0, float(v))) for v in box)
    return {"left": x0 * 100, "top": y0 * 100, "width": max(0.3, (x1 - x0) * 100), "height": max(0.3, (y1 - y0) * 100)}


def table_cells(doc: Document, field: Field, pages: dict[int, Page]) -> list[dict[str, Any]]:
    """The rows of a table field with a CSS box per cell, for the table editor."""
    page = pages.get(field.page or 0)
    words = page_words(doc, page) if page is not None else None
    boxes = cell_boxes(field, words)
    return [{name: as_percent(b) for name, b in row.items()} for row in boxes]
