"""Pieces every layout engine shares: ruling lines from pixels, blocks from words, region kinds."""

from __future__ import annotations

import re

import numpy as np

from ..reading_order import order_words
from ..types import BBox, PageImage, Region, Word, union_bbox

_LABEL = re.compile(r"[A-Za-z][A-Za-z ./#()-]{0,40}:$")


def rulings_from_image(page: PageImage) -> tuple[BBox, ...]:
    """Long horizontal and vertical lines (form boxes, table rules) as thin boxes, from the pixels."""
    import cv2

    gray = np.asarray(page.image.convert("L"), dtype=np.uint8)
    h, w = gray.shape
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    found: list[BBox] = []
    for kernel in ((max(w // 15, 40), 1), (1, max(h // 15, 40))):
        lines = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        contours, _ = cv2.findContours(lines, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, cw, ch = cv2.boundingRect(c)
            found.append((x / w, y / h, (x + cw) / w, (y + ch) / h))
    return tuple(sorted(found, key=lambda b: (round(b[1], 3), b[0])))


def is_key_value(words: list[Word] | tuple[Word, ...]) -> bool:
    """Most lines start with a label ending in a colon, or the block is a labelled form cell."""
    lines: dict[int, list[Word]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    if not lines:
        return False
    labelled = 0
    for ws in lines.values():
        text = ""
        for w in sorted(ws, key=lambda w: w.bbox[0]):
            text = f"{text} {w.text}".strip()
            if _LABEL.fullmatch(text):
                labelled += 1
                break
    return labelled / len(lines) >= 0.5


def blocks_from_words(words: list[Word] | tuple[Word, ...]) -> tuple[Region, ...]:
    """Regions from the reading-order blocks of the words: key-value when labelled, else text."""
    ordered = order_words(words)
    blocks: dict[int, list[Word]] = {}
    for w in ordered:
        blocks.setdefault(w.block, []).append(w)
    regions = []
    for ws in blocks.values():
        kind = "key-value" if is_key_value(ws) else "text"
        regions.append(Region(kind=kind, bbox=union_bbox([w.bbox for w in ws]), confidence=1.0))
    return tuple(regions)


def words_inside(words: tuple[Word, ...], box: BBox) -> list[Word]:
    x0, y0, x1, y1 = box
    return [w for w in words if x0 <= (w.bbox[0] + w.bbox[2]) / 2 <= x1 and y0 <= (w.bbox[1] + w.bbox[3]) / 2 <= y1]
