"""Which lines of a document the model is shown: only those that can hold the fields it is
still asked for.

A field printed at the top (``position: top``: the sender) can be in the first lines of the
first page, and so can an address no label names (the sender's, printed under its name); a labelled field is on the line of its printed label or just around it (the value
right of the label or below it; a totals block is its labels' lines); a date no label names
is on a line that prints a date. A field that could be
anywhere (no label printed, a table) or an amount (see ``focus_rows``) makes the whole text
go, as before. The lines kept keep
their numbers in the whole document, so an answer's line is the document's line.
"""

from __future__ import annotations

from docproc.doctypes import DocType

from ..evidence import holds_date
from ..types import DocumentText, PageWords
from .rules import document_lines, label_lines

TOP_LINES = 12  # of the first page, for a sender's name and address
BEFORE, AFTER = 1, 2  # lines kept around a printed label


def focus_rows(pages: tuple[PageWords, ...], doctype: DocType, names: tuple[str, ...], *,
               budget_chars: int) -> set[int] | None:
    """Row indexes (0-based, in ``prompts.numbered_text``'s order) that can hold the fields
    ``names``, at most ``budget_chars`` of text (the lines a label or the top names first, then
    their neighbours); None when one of the fields could be on any line."""
    document = DocumentText(pages)
    lines = document_lines(document)
    if not lines:
        return None
    labelled = label_lines(document, doctype)
    ranked: dict[int, int] = {}  # row -> 0 (holds a label or is a top line) or 1 (a neighbour)

    def keep(row: int, rank: int) -> None:
        if 0 <= row < len(lines):
            ranked[row] = min(rank, ranked.get(row, rank))

    for name in names:
        spec = doctype.field(name)
        found = False
        if spec.type in ("list", "amount"):
            # A table, or a total the rules could not settle: several totals are printed
            # (before tax, rounded, paid, change) and the small model tells them apart only
            # with the whole receipt (shown only its totals lines, it took the amount paid).
            return None
        if spec.position == "top" or (spec.type == "address" and not spec.labels):
            first = lines[0].page
            for row in [i for i, line in enumerate(lines) if line.page == first][:TOP_LINES]:
                keep(row, 0)
            found = True
        for row in labelled.get(name, ()):
            keep(row, 0)
            for near in range(row - BEFORE, row + AFTER + 1):
                keep(near, 1)
            found = True
        if not found and spec.type == "date":
            # A date whose label is not printed is one of the lines that print a date.
            for row, line in enumerate(lines):
                if holds_date(" ".join(w.text for w in line.words), day_first=doctype.day_first):
                    keep(row, 0)
                    found = True
        if not found:
            return None
    size = 0
    chosen: set[int] = set()
    for row in sorted(ranked, key=lambda r: (ranked[r], r)):
        length = sum(len(w.text) + 1 for w in lines[row].words) + 6  # with its 'L12|' number
        if chosen and size + length > budget_chars:
            continue
        chosen.add(row)
        size += length
    return chosen
