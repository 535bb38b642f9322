"""Evidence about a value from the document it was read from: is it printed by its label, on
a total line, among the first lines; does it look like printed text.

These are not validity rules (``validate`` has those): a receipt's total that is not on its
TOTAL line may still be right, so what is found here feeds the confidence (signal ``check``)
and never invalidates the value.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from docproc.doctypes import DocType, FieldSpec, ItemsSum

from .validate import PrintedTotals, normalize_amount, normalize_date
from .visual_lines import reline

_ZIP_OR_POSTCODE = re.compile(r"\b\d{5}(?:-\d{4})?\b")
_NOT_TOTAL = re.compile(r"sub\s*-?\s*total|total\s*(?:qty|quantity|items?|gst|tax|sr|zr|discount|savings?|\d+%\s*supplies)|"
                        r"excl|before|incl\.?\s*gst\s*\d", re.IGNORECASE)


def _document_lines(document: Any) -> list[str]:
    lines: list[str] = []
    for page in reline(document).pages:
        grouped: dict[tuple[int, int], list[Any]] = {}
        for w in page.words:
            grouped.setdefault((w.block, w.line), []).append(w)
        lines.extend(" ".join(w.text for w in sorted(ws, key=lambda w: w.bbox[0])) for _, ws in sorted(grouped.items()))
    return lines


def labelled_amounts(document: Any, labels: tuple[str, ...]) -> list[Decimal]:
    """Amounts printed on the lines that carry one of ``labels`` (in reading order), and on the
    line just below a label printed alone; 'sub total', 'total qty' and similar are skipped."""
    lines = _document_lines(document)
    words = {w.lower() for label in labels for w in label.split()}
    found: list[Decimal] = []
    for i, line in enumerate(lines):
        low = line.lower()
        if not any(re.search(rf"\b{re.escape(w)}\b", low) for w in words) or _NOT_TOTAL.search(low):
            continue
        amounts = [a for t in re.findall(r"-?\d[\d,.]*\.\d{2}\b", line) if (a := normalize_amount(t)) is not None]
        if not amounts and i + 1 < len(lines):
            amounts = [a for t in re.findall(r"-?\d[\d,.]*\.\d{2}\b", lines[i + 1]) if (a := normalize_amount(t)) is not None]
        found.extend(amounts)
    return found


def field_check(doctype: DocType, spec: FieldSpec, value: Any, normalized: Any, document: Any) -> float | None:
    """1.0 when a field-specific check supports the value, 0.0 when it does not, None when no
    check applies: the amount is on a labelled total line, an address has a postcode, a
    field printed at the top (``position: top``, a company name) is one of the first lines."""
    if value is None or isinstance(value, list) or document is None:
        return None
    text = str(value)
    if spec.type == "amount" and spec.labels:
        # The total is printed on a total line; when several are (before and after rounding,
        # tax included or not), the largest is the one paid.
        amounts = [abs(a) for a in labelled_amounts(document, spec.labels)]
        if not amounts or normalized is None or abs(normalized) not in amounts:
            return 0.0
        return 1.0 if abs(normalized) == max(amounts) else 0.5
    if spec.type == "date":
        # A date is supported when it is printed by its label, or, on a document that does not
        # print the label at all, when it is the only date printed; one of several unlabelled
        # dates is a guess between them. Where the label is printed, a date found elsewhere (a
        # note, a planted instruction) is not supported.
        found = document_dates(document, day_first=doctype.day_first)
        if normalized is None or normalized not in found:
            return 0.0
        if spec.labels and _near_label(document, spec.labels, text):
            return 1.0
        if not (spec.labels and _label_printed(document, spec.labels)) and len(set(found)) == 1:
            return 1.0
        return 0.5
    if spec.labels:
        # Provenance: a labelled field's value is printed on its label's line or just below it.
        # A value copied from elsewhere (a note, an instruction planted in the document) is not.
        return 1.0 if _near_label(document, spec.labels, text) else 0.0
    if spec.type == "address" and not spec.labels:
        return 1.0 if _ZIP_OR_POSTCODE.search(text) else 0.0
    if spec.position == "top" and not spec.labels:
        head = " ".join(_document_lines(document)[:6]).lower()
        letters = sum(ch.isalpha() for ch in text)
        return 1.0 if text.lower() in head and letters >= 0.5 * len(text.replace(" ", "")) else 0.0
    return None


_DATE_TEXT = re.compile(
    r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b"
    r"|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"
    r"|\b\d{1,2}[- ]?[A-Za-z]{3,9}[-., ]{0,2}\d{2,4}\b"
    r"|\b[A-Za-z]{3,9}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}\b")


def date_texts(text: str, *, day_first: bool) -> list[str]:
    """The real dates ``text`` prints, as printed ("4/02/2017" of "Print Date: 4/02/2017 03:30")."""
    return [m.group(0) for m in _DATE_TEXT.finditer(text) if normalize_date(m.group(0), day_first=day_first) is not None]


def holds_date(text: str, *, day_first: bool) -> bool:
    """Whether ``text`` (one line) prints a real date."""
    return bool(date_texts(text, day_first=day_first))


def document_dates(document: Any, *, day_first: bool) -> list[str]:
    """Every real date printed in the document (ISO, in reading order, repeats kept)."""
    found: list[str] = []
    for line in _document_lines(document):
        for match in _DATE_TEXT.finditer(line):
            if (iso := normalize_date(match.group(0), day_first=day_first)) is not None:
                found.append(iso)
    return found


# Tokens that OCR got wrong more often than they are printed so: a capital inside a lowercase
# word ("WorId"), a digit inside a word ("SELAN6OR", "5ELANGOR"), letters run together.
_SUSPECT_TOKEN = re.compile(r"[a-z][A-Z]|[A-Za-z]{2,}[0-9][A-Za-z]{2,}|^[0-9][A-Za-z]{4,}$|[A-Za-z]{17,}")


def text_plausibility(value: Any) -> float | None:
    """1.0 when every word of a text value looks like printed text, 0.0 when one looks like an
    OCR slip; None for values that are not text."""
    if value is None or isinstance(value, list):
        return None
    tokens = [t.strip(".,:;()[]") for t in str(value).split()]
    return 0.0 if any(_SUSPECT_TOKEN.search(t) for t in tokens if t) else 1.0


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _label_printed(document: Any, labels: tuple[str, ...]) -> bool:
    keys = [_squash(label) for label in labels if _squash(label)]
    return any(k in _squash(line) for line in _document_lines(document) for k in keys)


def _near_label(document: Any, labels: tuple[str, ...], value: str) -> bool:
    lines = _document_lines(document)
    want = _squash(value)
    if not want:
        return False
    label_keys = [_squash(label) for label in labels if _squash(label)]
    for i, line in enumerate(lines):
        key = _squash(line)
        if not any(k in key for k in label_keys):
            continue
        below = _squash(lines[i + 1]) if i + 1 < len(lines) else ""
        if want in key or want in below:
            return True
    return False


# Printed lines between the items and the total, and which way each moves it.
_SUBTRACT = re.compile(r"\b(?:discount|deductible|excess|co-?pay(?:ment)?|less|rebate|already paid)\b", re.I)
_ADD = re.compile(r"\b(?:tax|vat|gst|sst|hst|shipping|delivery|freight|handling|surcharge|service charge|fee)\b", re.I)
_ROUNDING = re.compile(r"\bround(?:ing|ed)?\b", re.I)
_SUBTOTAL = re.compile(r"\bsub\s*-?\s*total\b", re.I)
_PRINTED_AMOUNT = re.compile(r"\(?-?\d[\d,.]*\.\d{2}\)?")


def _line_amount(line: str) -> Decimal | None:
    found = [a for t in _PRINTED_AMOUNT.findall(line) if (a := normalize_amount(t)) is not None]
    return found[-1] if found else None


def printed_totals(document: Any, doctype: DocType) -> dict[str, PrintedTotals]:
    """For each total of the type's items-sum checks: the subtotal, adjustment lines and total
    lines ``document`` prints, for the cross-field arithmetic (``validate.cross_check``)."""
    return {check.total: _printed_total(document, doctype, check.total)
            for check in doctype.checks if isinstance(check, ItemsSum)}


def _printed_total(document: Any, doctype: DocType, total_field: str) -> PrintedTotals:
    """Lines carrying the total's labels are the total itself, not an adjustment."""
    spec = next((f for f in doctype.fields if f.name == total_field), None)
    labels = spec.labels if spec is not None else ()
    total_keys = [_squash(label) for label in labels if _squash(label)]
    subtotal: Decimal | None = None
    net = Decimal("0")
    for line in _document_lines(document):
        amount = _line_amount(line)
        if amount is None or any(k in _squash(line) for k in total_keys):
            continue
        if _SUBTOTAL.search(line):
            subtotal = amount
        elif _SUBTRACT.search(line):
            net -= abs(amount)
        elif _ROUNDING.search(line):
            net += amount
        elif _ADD.search(line) and not re.search(r"\b(?:incl|included|inclusive)\b", line, re.I):
            net += abs(amount)
    totals = tuple(labelled_amounts(document, labels)) if labels else ()
    return PrintedTotals(subtotal=subtotal, net=net, totals=totals)
