"""Does an extracted value match the truth? Case never matters, nor whitespace (in free text
none at all, elsewhere its runs); dates, amounts and phone numbers compare by value; tables
compare row by row."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from docproc.doctypes import DocType, FieldSpec
from docproc.pipeline.validate import normalize_amount, normalize_date, normalize_phone

FREE_TEXT = ("text", "name", "address")


def _text(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().casefold()


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, (int, float, Decimal)):
        try:
            return Decimal(str(value)).quantize(Decimal("0.01"))
        except InvalidOperation:
            return None
    return normalize_amount(str(value)) if value is not None else None


def reads_day_first(doctype: DocType, date_order: str = "") -> bool:
    """Whether a document's dates are compared day first: its type's order, or, for a type whose
    order is ``auto``, the order its run read it by (``engines["extract"]["date_order"]``)."""
    if doctype.date_order == "auto" and date_order in ("day_first", "month_first"):
        return date_order == "day_first"
    return doctype.day_first


def values_match(spec: FieldSpec, predicted: Any, truth: Any, *, day_first: bool) -> bool:
    if truth is None or truth == "":
        return predicted in (None, "", [])
    if predicted is None:
        return False
    if spec.type == "date":
        p = normalize_date(str(predicted), day_first=day_first)
        t = normalize_date(str(truth), day_first=day_first)
        return p is not None and p == t
    if spec.type == "amount":
        p, t = _amount(predicted), _amount(truth)
        return p is not None and p == t
    if spec.type == "list":
        if not isinstance(predicted, list) or not isinstance(truth, list) or len(predicted) != len(truth):
            return False
        return all(
            all(values_match(sub, (p or {}).get(sub.name), (t or {}).get(sub.name), day_first=day_first)
                for sub in spec.item_fields)
            for p, t in zip(predicted, truth, strict=True)
        )
    if spec.type == "phone":
        p, t = normalize_phone(str(predicted)), normalize_phone(str(truth))
        return p is not None and p == t
    if spec.type == "currency":
        return _text(predicted).upper() == _text(truth).upper() or _text(predicted) == _text(truth)
    if spec.type in FREE_TEXT:
        # Whitespace aside, as the OCR coverage ceiling is measured (bench_ocr --coverage): a
        # space after a comma ("NO: 28,JALAN" / "No: 28, JALAN") is how the print was spaced
        # or read, not another address.
        return re.sub(r"\s+", "", _text(predicted)) == re.sub(r"\s+", "", _text(truth))
    if spec.type == "code":
        # "# 42" and "42" are one number: the number sign is the label's, printed or not.
        return _text(predicted).lstrip("#").strip() == _text(truth).lstrip("#").strip()
    return _text(predicted) == _text(truth)
