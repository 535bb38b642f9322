"""Printed lines rebuilt from word boxes, robust to skew and to lines that touch.

Grouping words by vertical overlap with a line's whole extent lets a line swallow the next
one when a receipt is skewed or densely printed (the extent grows with every word). Here a
word joins the line whose rightmost word is just left of it and at the same height, so a
line follows its own slope; lines are then ordered top to bottom. Word ids are kept, so
provenance stays valid; only ``line`` and ``block`` are rewritten and words reordered.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from .types import DocumentText, PageWords, Word


def _cy(w: Word) -> float:
    return (w.bbox[1] + w.bbox[3]) / 2


def _h(w: Word) -> float:
    return max(w.bbox[3] - w.bbox[1], 1e-6)


def relined_words(words: tuple[Word, ...] | list[Word]) -> tuple[Word, ...]:
    lines: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.bbox[0], _cy(w))):
        best, best_dy = None, None
        for line in lines:
            last = line[-1]
            if last.bbox[2] > w.bbox[0] + 0.5 * _h(w):  # overlaps it horizontally: another line
                continue
            dy = abs(_cy(last) - _cy(w))
            if dy < 0.55 * min(_h(last), _h(w)) and w.bbox[0] - last.bbox[2] < 0.5 and (best_dy is None or dy < best_dy):
                best, best_dy = line, dy
        if best is None:
            lines.append([w])
        else:
            best.append(w)
    lines.sort(key=lambda line: sum(_cy(w) for w in line) / len(line))
    return tuple(replace(w, line=i, block=0) for i, line in enumerate(lines) for w in line)


@lru_cache(maxsize=2)
def reline(document: DocumentText) -> DocumentText:
    """The document with OCR pages' lines rebuilt from geometry (text-layer pages are kept).

    Remembered for the document in hand: the extractor, the snapping of each text field and each
    field check all ask for the same document's lines (documents are immutable and hashable).
    Only two are kept: a worker reads one document at a time, and every entry holds a whole
    document's words twice (the key and the answer), so a longer memory only grew the process."""
    pages: list[PageWords] = []
    for page in document.pages:
        if page.source == "ocr":
            page = replace(page, words=relined_words(page.words))
        pages.append(page)
    return DocumentText(tuple(pages))
