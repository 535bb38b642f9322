"""Group words into visual lines and number them in the order a person reads them."""

from __future__ import annotations

from dataclasses import replace

from .types import Word


def assign_lines(words: list[Word] | tuple[Word, ...]) -> tuple[Word, ...]:
    """Words sorted top-to-bottom then left-to-right, each given the index of its visual line.

    Two words share a line when their vertical extents overlap by more than half of the
    smaller height: robust to mixed font sizes and small skew.
    """
    ordered = sorted(words, key=lambda w: ((w.bbox[1] + w.bbox[3]) / 2, w.bbox[0]))
    lines: list[list[Word]] = []
    for word in ordered:
        placed = False
        for line in reversed(lines[-3:]):
            ref_top = min(w.bbox[1] for w in line)
            ref_bottom = max(w.bbox[3] for w in line)
            overlap = min(ref_bottom, word.bbox[3]) - max(ref_top, word.bbox[1])
            smaller = min(ref_bottom - ref_top, word.bbox[3] - word.bbox[1]) or 1e-9
            if overlap / smaller > 0.5:
                line.append(word)
                placed = True
                break
        if not placed:
            lines.append([word])
    lines.sort(key=lambda line: min(w.bbox[1] for w in line))
    result: list[Word] = []
    for index, line in enumerate(lines):
        for word in sorted(line, key=lambda w: w.bbox[0]):
            result.append(replace(word, line=index))
    return tuple(result)


def renumber(page: int, words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Stable word ids ``p{page}-w{index}`` in reading order."""
    return tuple(replace(w, id=f"p{page}-w{i}") for i, w in enumerate(words))
