"""Helpers shared by OCR engines: polygons to page boxes, line boxes split into words."""

from __future__ import annotations

from collections.abc import Sequence

from ..reading_order import assign_lines, renumber
from ..types import BBox, PageImage, PageWords, Word, WordSource

Point = Sequence[float]


def clamp01(value: float) -> float:
    return 0.0 if value < 0 else 1.0 if value > 1 else float(value)


def polygon_bbox(points: Sequence[Point], width: float, height: float) -> BBox:
    """The axis-aligned box of a polygon in pixels, as fractions of the page (see types.BBox)."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (clamp01(min(xs) / width), clamp01(min(ys) / height), clamp01(max(xs) / width), clamp01(max(ys) / height))


def split_line(text: str, quad: Sequence[Point], score: float, width: float, height: float,
               line: int = 0) -> list[Word]:
    """Words of a recognised line, each boxed by its share of the line's characters, each with
    ``line`` (the engine's index of the line, see ``page_words``).

    ``quad`` is the line's four corners (top-left, top-right, bottom-right, bottom-left) in
    pixels; a word's box is the part of the quadrilateral between its first and last character,
    so a slanted line still gives tight word boxes.
    """
    tokens = text.split()
    if not tokens:
        return []
    total = len(text)
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = [(float(p[0]), float(p[1])) for p in quad[:4]]

    def at(t: float) -> tuple[tuple[float, float], tuple[float, float]]:
        top = (tlx + (trx - tlx) * t, tly + (try_ - tly) * t)
        bottom = (blx + (brx - blx) * t, bly + (bry - bly) * t)
        return top, bottom

    words: list[Word] = []
    cursor = 0
    for token in tokens:
        start = text.index(token, cursor)
        end = start + len(token)
        cursor = end
        t0, t1 = start / total, end / total
        (a, b), (c, d) = at(t0), at(t1)
        words.append(Word(id="", text=token, bbox=polygon_bbox([a, b, c, d], width, height), confidence=clamp01(score), line=line))
    return words


def page_words(page: PageImage, words: list[Word], *, engine: str, version: str,
               source: WordSource = "ocr") -> PageWords:
    """Words in reading order with line numbers and stable ids, sized in the image's pixels.

    ``words[i].line`` MUST be the index of the line the engine read the word in: an engine's line
    stays one line, whole, in the engine's order (joined only with lines beside it on the same
    baseline), so the assembled text holds what the engine read."""
    ordered = renumber(page.page, assign_lines(words, keep_lines=True))
    return PageWords(page=page.page, width=float(page.width), height=float(page.height), words=ordered,
                     source=source, engine=engine, engine_version=version)
