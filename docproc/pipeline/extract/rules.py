"""Label-anchored rules: the extractor every other extractor falls back to.

A field's value is the run of words right of its printed label on the same line (up to the
next label or a wide gap), or else the words just below the label. It reads digital forms
exactly and needs no model; on anything it does not recognise it returns no value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docproc.doctypes import DocType, FieldSpec

from ..types import Candidate, DocumentText, ExtractionOutput, Word
from ..validate import (
    ZIP,
    normalize_amount,
    normalize_checkbox,
    normalize_currency,
    normalize_date,
    normalize_email,
    normalize_phone,
)

VERSION = "1"
GAP = 0.06  # fraction of the page width that ends a value on its line
MAX_WORDS_BEFORE_DATE = 2


def _norm(token: str) -> str:
    return re.sub(r"[^a-z0-9#]", "", token.lower())


@dataclass(slots=True)
class _Line:
    page: int
    index: int
    words: list[Word]


@dataclass(slots=True)
class _Hit:
    field: str
    line: int  # index into lines
    start: int  # word index in the line
    end: int  # exclusive


def _lines(document: DocumentText) -> list[_Line]:
    lines: list[_Line] = []
    for page in document.pages:
        grouped: dict[tuple[int, int], list[Word]] = {}
        for w in page.words:
            grouped.setdefault((w.block, w.line), []).append(w)
        for key in sorted(grouped):
            lines.append(_Line(page.page, key[1], sorted(grouped[key], key=lambda w: w.bbox[0])))
    return lines


def _find_labels(lines: list[_Line], doctype: DocType) -> list[_Hit]:
    labels = sorted(
        ((f.name, lab) for f in doctype.fields for lab in f.labels),
        key=lambda item: -len(item[1]),
    )
    taken: set[tuple[int, int]] = set()
    hits: list[_Hit] = []
    for field_name, label in labels:
        # The label's letters, whatever the spacing: a text layer splits a kerned word
        # ("F actuurnummer") and prints others run together ("InvoiceNo").
        want = "".join(t for t in (_norm(x) for x in label.split()) if t)
        if not want:
            continue
        for li, line in enumerate(lines):
            toks = [_norm(w.text) for w in line.words]
            for start in range(len(toks)):
                if (li, start) in taken or not toks[start] or not want.startswith(toks[start]):
                    continue
                j, read = start, ""
                while j < len(toks) and len(read) < len(want) and (li, j) not in taken:
                    if not want.startswith(read + toks[j]):
                        break
                    read += toks[j]
                    j += 1
                if read == want and _starts_cell(line.words, start):
                    # Trailing punctuation-only tokens (":" "#") belong to the label.
                    while j < len(toks) and toks[j] == "" and (li, j) not in taken:
                        j += 1
                    for x in range(start, j):
                        taken.add((li, x))
                    hits.append(_Hit(field_name, li, start, j))
    hits.sort(key=lambda h: (h.line, h.start))
    return hits


def document_lines(document: DocumentText) -> list[_Line]:
    """The document's lines in the order ``prompts.numbered_text`` numbers them (row i is line i)."""
    return _lines(document)


def label_lines(document: DocumentText, doctype: DocType) -> dict[str, list[int]]:
    """Per field, the indexes (into ``document_lines``) of the lines that print one of its labels."""
    out: dict[str, list[int]] = {}
    for hit in _find_labels(_lines(document), doctype):
        out.setdefault(hit.field, []).append(hit.line)
    return out


def _starts_cell(words: list[Word], start: int) -> bool:
    """A label starts its cell: nothing printed just before it on the line ("Order Date" is
    not the label "Date"), unless the word before ends a label of its own with a colon."""
    if start == 0:
        return True
    prev, cur = words[start - 1], words[start]
    return cur.bbox[0] - prev.bbox[2] > 0.02 or prev.text.endswith(":")


# A printed money amount has cents: "15.90", "1,234.56", "9,34"; a bare "3" is a count.
_STRICT_AMOUNT = re.compile(r"^[-(]?(?:[$€£¥]|RM|USD|EUR|GBP)?\s?\d[\d,.' ]*[.,]\d{2}\)?$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _shape(spec: FieldSpec, words: list[Word], *, day_first: bool) -> list[Word]:
    """Keep the words that make a value of the field's type; none when nothing fits."""
    words = [w for w in words if w.text.strip("#:")]
    if not words:
        return []
    if spec.type == "amount":
        # Totals are right-aligned: the last amount on the line is the one the label names.
        amounts = [w for w in words if _STRICT_AMOUNT.match(w.text) and normalize_amount(w.text) is not None]
        return amounts[-1:]
    if spec.type == "date":
        # Within two words of its label ("Date & Time : 22/12/2017"); one further on is another
        # date the label's line names ("Date limite de paiement le 05 Juillet 2015": a due date).
        for size in (1, 2, 3, 4):
            for i in range(min(len(words) - size + 1, MAX_WORDS_BEFORE_DATE + 1)):
                chunk = words[i:i + size]
                if normalize_date(" ".join(w.text for w in chunk), day_first=day_first):
                    return chunk
        return []
    if spec.type == "code":
        first = words[0]
        return [first] if any(ch.isdigit() for ch in first.text) else []
    if spec.type == "email":
        return next(([w] for w in words if _EMAIL.match(w.text.strip(".,;"))), [])
    if spec.type == "checkbox":
        return next(([w] for w in words if normalize_checkbox(w.text) is not None), [])
    return words


def _label_confidence(spec: FieldSpec, hit: _Hit, lines: list[_Line], value: str) -> float:
    """How much a label match is worth. A specific label ("Date of Loss", "Claim Number") names
    one thing on a form; a one-word label ("Total", "Date") often names several (subtotal,
    order date), so its value is only trusted when its shape proves it (an email, a phone
    number, an address with a postcode) and otherwise goes to a person."""
    label_tokens = sum(1 for w in lines[hit.line].words[hit.start:hit.end] if _norm(w.text).strip("#"))
    if label_tokens >= 2:
        return 0.97
    strong_shape = (
        (spec.type == "email" and normalize_email(value) is not None)
        or (spec.type == "phone" and normalize_phone(value) is not None)
        or (spec.type == "address" and ZIP.search(value) is not None)
    )
    return 0.93 if strong_shape else 0.85


def _clean(words: list[Word]) -> str:
    return " ".join(w.text for w in words).strip(" :").lstrip("#").strip()


class RulesExtractor:
    name = "rules"
    version = VERSION

    def __init__(self, **_: object) -> None:
        pass

    def extract(self, document: DocumentText, doctype: DocType) -> ExtractionOutput:
        lines = _lines(document)
        hits = _find_labels(lines, doctype)
        label_cells = {(h.line, i) for h in hits for i in range(h.start, h.end)}
        candidates: list[Candidate] = []
        for spec in doctype.fields:
            candidates.append(self._field(spec, lines, hits, label_cells, doctype))
        return ExtractionOutput(candidates=tuple(candidates), engine=self.name, engine_version=self.version)

    # -- per field ---------------------------------------------------------------------------
    def _field(self, spec: FieldSpec, lines: list[_Line], hits: list[_Hit], label_cells: set, doctype: DocType) -> Candidate:
        if spec.type == "list":
            return self._items(spec, lines, label_cells)
        day_first = doctype.day_first
        printed: Candidate | None = None
        for hit in (h for h in hits if h.field == spec.name):
            right = self._right_of(hit, lines, label_cells)
            words = _shape(spec, right, day_first=day_first) or _shape(spec, self._below(hit, lines, label_cells), day_first=day_first)
            if words:
                value = _clean(words)
                if value:
                    return Candidate(spec.name, value, _label_confidence(spec, hit, lines, value), tuple(w.id for w in words))
            if right and printed is None and _clean(right):
                # The label is there but what is printed beside it is not a valid value of the
                # field's type (an impossible date, say): keep it as printed, with low confidence,
                # so validation flags it for a person, rather than guessing from elsewhere.
                printed = Candidate(spec.name, _clean(right), 0.4, tuple(w.id for w in right))
        return printed or self._unlabelled(spec, lines, label_cells, doctype)

    def _right_of(self, hit: _Hit, lines: list[_Line], label_cells: set) -> list[Word]:
        line = lines[hit.line]
        out: list[Word] = []
        prev = line.words[hit.end - 1]
        for i in range(hit.end, len(line.words)):
            if (hit.line, i) in label_cells:
                break
            w = line.words[i]
            if w.bbox[0] - prev.bbox[2] > GAP * (2 if not out else 1) and out:
                break
            out.append(w)
            prev = w
        return out

    def _below(self, hit: _Hit, lines: list[_Line], label_cells: set) -> list[Word]:
        line = lines[hit.line]
        x0 = line.words[hit.start].bbox[0]
        if hit.line + 1 >= len(lines) or lines[hit.line + 1].page != line.page:
            return []
        nxt_index = hit.line + 1
        nxt = lines[nxt_index]
        # Stop at the next label to the right on the label's own line (column boundary).
        right = next((line.words[i].bbox[0] for i in range(hit.end, len(line.words)) if (hit.line, i) in label_cells), 1.0)
        out = [w for i, w in enumerate(nxt.words)
               if x0 - 0.01 <= w.bbox[0] < right and (nxt_index, i) not in label_cells]
        if nxt.words and nxt.words[0].bbox[1] - line.words[hit.start].bbox[3] > 0.05:
            return []
        return out

    def _items(self, spec: FieldSpec, lines: list[_Line], label_cells: set) -> Candidate:
        """A table's rows under its header line: the header names every item field (by one of
        its labels, or its name); a row is text ending in an amount, the amount going to the
        item's amount field and the text before it to its first other field."""
        heads = [{_norm(x) for x in (sub.labels or (sub.name,))} for sub in spec.item_fields]
        amount_field = next((sub.name for sub in spec.item_fields if sub.type == "amount"), None)
        text_field = next((sub.name for sub in spec.item_fields if sub.type != "amount"), None)
        if amount_field is None or text_field is None:
            return Candidate(spec.name, None, 0.0)
        header = None
        for li, line in enumerate(lines):
            toks = {_norm(w.text) for w in line.words}
            if all(head & toks for head in heads):
                header = li
                break
        if header is None:
            return Candidate(spec.name, None, 0.5)
        items: list[dict[str, str | None]] = []
        ids: list[str] = []
        for li in range(header + 1, len(lines)):
            line = lines[li]
            if any((li, i) in label_cells for i in range(len(line.words))):
                break
            if line.words and _norm(line.words[0].text).startswith("total"):
                break
            amount_word = line.words[-1] if line.words else None
            if amount_word is None or normalize_amount(amount_word.text) is None or len(line.words) < 2:
                break
            desc_words = line.words[:-1]
            row: dict[str, str | None] = {sub.name: None for sub in spec.item_fields}
            row[text_field] = " ".join(w.text for w in desc_words)
            row[amount_field] = amount_word.text
            items.append(row)
            ids.extend(w.id for w in line.words)
        if not items:
            return Candidate(spec.name, None, 0.5)
        return Candidate(spec.name, items, 0.9, tuple(ids))  # type: ignore[arg-type]

    def _unlabelled(self, spec: FieldSpec, lines: list[_Line], label_cells: set, doctype: DocType) -> Candidate:
        """Weak guesses for fields that have no label: low confidence, so they go to review."""
        free = [(li, line) for li, line in enumerate(lines) if line.words]
        if not free:
            return Candidate(spec.name, None, 0.0)
        if spec.position == "top":
            _, line = free[0]
            return Candidate(spec.name, " ".join(w.text for w in line.words), 0.5, tuple(w.id for w in line.words))
        if spec.type == "date":
            for _, line in free:
                for w in line.words:
                    if normalize_date(w.text, day_first=doctype.day_first):
                        return Candidate(spec.name, w.text, 0.5, (w.id,))
        if spec.type == "currency":
            for _, line in free:
                for w in line.words:
                    if len(w.text) <= 3 and normalize_currency(w.text):
                        return Candidate(spec.name, w.text, 0.5, (w.id,))
        if spec.type == "address" and len(free) > 2:
            picked = [free[1][1], free[2][1]]
            words = [w for line in picked for w in line.words]
            return Candidate(spec.name, " ".join(w.text for w in words), 0.3, tuple(w.id for w in words))
        return Candidate(spec.name, None, 0.0)
