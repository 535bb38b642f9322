"""Group words into visual lines and number them in the order a person reads them."""

from __future__ import annotations

from dataclasses import replace

from .types import Word


def assign_lines(words: list[Word] | tuple[Word, ...], *, keep_lines: bool = False) -> tuple[Word, ...]:
    """Words sorted top-to-bottom then left-to-right, each given the index of its visual line.

    Two words share a line when their vertical extents overlap by more than half of the
    smaller height: robust to mixed font sizes and small skew.

    With ``keep_lines``, words that already share a ``(block, line)`` (an OCR engine's own line,
    or a line found before) stay one line, whole and in their order, and are only joined with
    others side by side on the same baseline (see ``_join_lines``). Comparing a word with a
    line's whole vertical extent would let a sloping line swallow the lines under it, their
    words interleaved (SROIE receipt X51005303661's four header lines read as one).
    """
    if keep_lines:
        return _join_lines(words)
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


def _cy(w: Word) -> float:
    return (w.bbox[1] + w.bbox[3]) / 2


def _height(w: Word) -> float:
    return max(w.bbox[3] - w.bbox[1], 1e-6)


def _join_lines(words: list[Word] | tuple[Word, ...]) -> tuple[Word, ...]:
    """Given lines kept whole; a line joins the one to its left when that one ends before it
    starts (they sit side by side, not one above the other) and their facing words are at the
    same height (centres less than 0.4 of a word's height apart: OCR boxes are about twice as
    high as the text, and the next line is often closer than that), so a joined line follows its
    own slope. Lines are then ordered by the mean height of their words."""
    given: dict[tuple[int, int], list[Word]] = {}
    for word in words:
        given.setdefault((word.block, word.line), []).append(word)
    units = sorted((sorted(ws, key=lambda w: w.bbox[0]) for ws in given.values()), key=lambda ws: ws[0].bbox[0])
    lines: list[list[Word]] = []
    for unit in units:
        first = unit[0]
        best, best_dy = None, None
        for line in lines:
            last = line[-1]
            if last.bbox[2] > first.bbox[0] + 0.5 * _height(first):
                continue  # overlaps it horizontally: one above the other
            dy = abs(_cy(last) - _cy(first))
            if dy < 0.4 * min(_height(last), _height(first)) and (best_dy is None or dy < best_dy):
                best, best_dy = line, dy
        if best is None:
            lines.append(list(unit))
        else:
            best.extend(unit)
    lines.sort(key=lambda line: (sum(_cy(w) for w in line) / len(line), line[0].bbox[0]))
    return tuple(replace(w, line=index) for index, line in enumerate(lines) for w in line)


def renumber(page: int, words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Stable word ids ``p{page}-w{index}`` in reading order."""
    return tuple(replace(w, id=f"p{page}-w{i}") for i, w in enumerate(words))


# A gutter between text columns is at least this wide (fraction of the page width).
MIN_GUTTER = 0.03


def order_words(words: list[Word] | tuple[Word, ...]) -> tuple[Word, ...]:
    """Words in the order a person reads the page: columns one after the other.

    Recursive XY-cut on the word boxes: a band is split at a vertical gutter when both sides
    read as text columns (see ``_is_column_split``), else at wide horizontal gaps (section
    breaks), and each leaf is read line by line. A form whose labels and values sit in two
    aligned columns stays one block, so "Label: value" lines are kept together. Each leaf
    becomes a ``block``; ``line`` numbers run on across blocks.
    """
    if not words:
        return ()
    heights = sorted(w.bbox[3] - w.bbox[1] for w in words)
    line_height = heights[len(heights) // 2] or 0.01
    leaves = _xy_cut(list(words), line_height)
    result: list[Word] = []
    line_offset = 0
    for block, leaf in enumerate(leaves):
        lined = assign_lines(leaf, keep_lines=True)
        for w in lined:
            result.append(replace(w, block=block, line=w.line + line_offset))
        line_offset += (max(w.line for w in lined) + 1) if lined else 0
    return tuple(result)


def _xy_cut(words: list[Word], line_height: float) -> list[list[Word]]:
    columns = _split(words, axis=0, min_gap=MIN_GUTTER)
    if len(columns) > 1 and _is_column_split(columns):
        return [leaf for col in columns for leaf in _xy_cut(col, line_height)]
    bands = _split(words, axis=1, min_gap=1.5 * line_height)
    if len(bands) > 1:
        return [leaf for band in bands for leaf in _xy_cut(band, line_height)]
    return [words]


def _split(words: list[Word], *, axis: int, min_gap: float) -> list[list[Word]]:
    """Groups separated by empty stripes at least ``min_gap`` wide along x (axis 0) or y (axis 1)."""
    ordered = sorted(words, key=lambda w: w.bbox[axis])
    groups: list[list[Word]] = [[ordered[0]]]
    reach = ordered[0].bbox[axis + 2]
    for w in ordered[1:]:
        if w.bbox[axis] - reach >= min_gap:
            groups.append([w])
        else:
            groups[-1].append(w)
        reach = max(reach, w.bbox[axis + 2])
    return groups


def _is_column_split(columns: list[list[Word]]) -> bool:
    """Side-by-side groups are text columns, not a form's label and value columns.

    Columns of running text have several lines that fill their column's width; a form's label
    column pairs each label with a value on the same baseline, and its values are ragged.
    """
    lined = [assign_lines(col) for col in columns]
    if any(len({w.line for w in col}) < 3 for col in lined):
        return False
    fills = []
    for col in lined:
        left = min(w.bbox[0] for w in col)
        width = max(w.bbox[2] for w in col) - left or 1e-9
        by_line: dict[int, list[Word]] = {}
        for w in col:
            by_line.setdefault(w.line, []).append(w)
        fills.append(sum((max(x.bbox[2] for x in ws) - min(x.bbox[0] for x in ws)) / width for ws in by_line.values())
                     / len(by_line))
    if all(f >= 0.75 for f in fills):
        return True
    # otherwise only when the sides' lines do not pair up on shared baselines
    left_lines = _line_centres(lined[0])
    right_lines = _line_centres(lined[1])
    paired = sum(1 for c, h in left_lines if any(abs(c - c2) < 0.5 * max(h, h2) for c2, h2 in right_lines))
    return paired / len(left_lines) < 0.5


def _line_centres(words: tuple[Word, ...]) -> list[tuple[float, float]]:
    by_line: dict[int, list[Word]] = {}
    for w in words:
        by_line.setdefault(w.line, []).append(w)
    out = []
    for ws in by_line.values():
        top, bottom = min(w.bbox[1] for w in ws), max(w.bbox[3] for w in ws)
        out.append(((top + bottom) / 2, bottom - top))
    return out
