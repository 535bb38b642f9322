"""Pure value normalisers (dates to ISO, amounts to decimals, ...), validators by name and the
cross-field checks over normalised values. Nothing here reads the document: the evidence a
document gives about a value is in ``evidence``.

An invalid value is never dropped: it is kept as printed, its normalised value is None and a
message says why, so the field goes to review.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from docproc.doctypes import DocType, FieldSpec, ItemsSum, NotAfter

MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
# Month names of the invoices' other languages (German, Dutch, French, Spanish, Italian,
# Portuguese, Malay), accents folded, with their usual abbreviations.
MONTH_NAMES = {name: number for number, names in enumerate([
    "januar januari janvier enero gennaio janeiro",
    "februar februari fevrier febrero febbraio fevereiro februari",
    "marz maerz maart mars marzo marco mac",
    "april avril abril aprile",
    "mai mei mayo maggio maio",
    "juni juin junio giugno junho jun",
    "juli juillet julio luglio julho julai",
    "august augustus aout agosto ogos",
    "september septembre septiembre settembre setembro",
    "oktober octobre octubre ottobre outubro okt",
    "november novembre noviembre novembro",
    "dezember december decembre diciembre dicembre dezembro dez disember dis",
], start=1) for name in names.split()}


def fold_accents(text: str) -> str:
    """Accents off Latin letters ("HARDWÀRE" -> "HARDWARE", "février" -> "fevrier"). Text with
    letters outside Latin is left as it is."""
    if text.isascii():
        return text
    stripped = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return stripped if stripped.isascii() else text


def _month(word: str) -> int | None:
    word = fold_accents(word).strip(".")
    return MONTH_NAMES.get(word) or MONTHS.get(word[:3])


def normalize_date(text: str, *, day_first: bool) -> str | None:
    """ISO date from common printed forms; None when it is not a real date."""
    t = re.sub(r"\s+", " ", text.strip().lower().replace(",", " "))
    if m := re.search(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b", t):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        return _iso(y, mo, d)
    if m := re.search(r"\b(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{2,4})\b", t):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        y = _year(y)
        if a > 12 >= b:
            return _iso(y, b, a)
        if b > 12 >= a:
            return _iso(y, a, b)
        return _iso(y, b, a) if day_first else _iso(y, a, b)
    for m in re.finditer(r"\b(\d{1,2})(?:\.|er|º)?[- ]?(?:de )?([^\W\d_]{3,})\.?[-. ]?(?:de )?(\d{2,4})\b", t):
        if (month := _month(m[2])) is not None:
            return _iso(_year(int(m[3])), month, int(m[1]))
    for m in re.finditer(r"\b([^\W\d_]{3,})\.? (\d{1,2})(?:st|nd|rd|th)? (\d{4})\b", t):
        if (month := _month(m[1])) is not None:
            return _iso(int(m[3]), month, int(m[2]))
    if m := re.fullmatch(r"(\d{2})(\d{2})(\d{4})", re.sub(r"\s", "", t)):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        return _iso(y, b, a) if day_first else _iso(y, a, b)
    return None


def _year(y: int) -> int:
    if y < 100:
        return 2000 + y if y < 70 else 1900 + y
    return y


def _iso(y: int, mo: int, d: int) -> str | None:
    try:
        return date(y, mo, d).isoformat()
    except ValueError:
        return None


_AMOUNT = re.compile(r"-?\d[\d,.' ]*\d|-?\d")


def normalize_amount(text: str) -> Decimal | None:
    """Decimal from a printed amount: currency signs, thousands separators, '1.234,56'."""
    t = text.strip().replace("\u00a0", " ")
    negative = t.startswith("-") or (t.startswith("(") and t.endswith(")"))
    matches = _AMOUNT.findall(t)
    if not matches:
        return None
    raw = max(matches, key=len).replace(" ", "").replace("'", "").lstrip("-")
    if "," in raw and "." in raw:
        if raw.rfind(",") > raw.rfind("."):
            raw = raw.replace(".", "").replace(",", ".")
        else:
            raw = raw.replace(",", "")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = f"{head.replace(',', '')}.{tail}" if len(tail) == 2 else raw.replace(",", "")
    elif raw.count(".") > 1:
        head, _, tail = raw.rpartition(".")
        raw = f"{head.replace('.', '')}.{tail}"
    if len(raw.replace(".", "")) > 15:  # no printed amount has more digits; a model's runaway answer does
        return None
    try:
        value = Decimal(raw).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return -value if negative else value


def normalize_phone(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+"):
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return digits if 7 <= len(digits) <= 15 else None


_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def normalize_email(text: str) -> str | None:
    t = text.strip().strip(".,;")
    return t.lower() if _EMAIL.match(t) else None


_TICKED = {"x", "[x]", "(x)", "☒", "☑", "✓", "✔", "yes", "y", "true", "1", "on", "checked"}
_UNTICKED = {"☐", "[ ]", "()", "no", "n", "false", "0", "off", "unchecked"}


def normalize_checkbox(text: str) -> bool | None:
    """True for a printed tick or yes, False for an empty box or no, None for anything else."""
    t = re.sub(r"\s+", " ", text.strip().lower())
    if t in _TICKED:
        return True
    if t in _UNTICKED:
        return False
    return None


def normalize_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


CURRENCIES = {"USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "MYR", "SGD", "INR", "CNY", "SEK", "NOK",
              "DKK", "PLN", "CZK", "HUF", "NZD", "ZAR", "BRL", "MXN", "HKD", "KRW", "TRY", "AED", "SAR"}
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "RM": "MYR", "₹": "INR", "Fr.": "CHF"}


def normalize_currency(text: str) -> str | None:
    t = text.strip()
    if t.upper() in CURRENCIES:
        return t.upper()
    for symbol, code in CURRENCY_SYMBOLS.items():
        if symbol in t:
            return code
    for token in re.findall(r"[A-Za-z]{3}", t):
        if token.upper() in CURRENCIES:
            return token.upper()
    return None


# --- validators ----------------------------------------------------------------------------

def npi_check_digit(first_nine: str) -> int:
    """The NPI check digit: Luhn over the 80840 prefix and the first nine digits."""
    total = 24  # the constant contribution of the 80840 prefix
    for i, ch in enumerate(reversed(first_nine)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return (10 - total % 10) % 10


def npi_is_valid(value: str) -> bool:
    """NPI: 10 digits, the last one the check digit of the first nine."""
    digits = re.sub(r"\D", "", value)
    return len(digits) == 10 and npi_check_digit(digits[:9]) == int(digits[9])


ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")
ZIP = re.compile(r"\b\d{5}(?:-\d{4})?\b")
EIN_OR_SSN = re.compile(r"^(?:\d{2}-?\d{7}|\d{3}-?\d{2}-?\d{4})$")


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "npi": npi_is_valid,
    "icd10": lambda v: bool(ICD10.match(v.strip().upper())),
    "zip": lambda v: bool(ZIP.search(v)),
    "phone": lambda v: normalize_phone(v) is not None,
    "email": lambda v: normalize_email(v) is not None,
    "ein_or_ssn": lambda v: bool(EIN_OR_SSN.match(v.strip())),
    "currency": lambda v: normalize_currency(v) is not None,
    "claim_number": lambda v: bool(re.fullmatch(r"(?=.*\d)[A-Z0-9][A-Z0-9-]{3,24}", v.strip().upper())),
}


def normalize_field(spec: FieldSpec, value: Any, *, day_first: bool) -> tuple[Any, tuple[str, ...]]:
    """(normalised value or None, messages). Messages are empty when the value is valid."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (("missing: required field not found",) if spec.required else ())
    if spec.type == "list":
        return _normalize_items(spec, value, day_first=day_first)
    text = str(value)
    messages: list[str] = []
    normalized: Any
    if spec.type == "date":
        normalized = normalize_date(text, day_first=day_first)
        if normalized is None:
            messages.append("invalid: not a date")
    elif spec.type == "amount":
        normalized = normalize_amount(text)
        if normalized is None:
            messages.append("invalid: not an amount")
    elif spec.type == "phone":
        normalized = normalize_phone(text)
        if normalized is None:
            messages.append("invalid: not a phone number")
    elif spec.type == "email":
        normalized = normalize_email(text)
        if normalized is None:
            messages.append("invalid: not an email address")
    elif spec.type == "currency":
        normalized = normalize_currency(text)
        if normalized is None:
            messages.append("invalid: not a currency")
    elif spec.type == "checkbox":
        normalized = normalize_checkbox(text)
        if normalized is None:
            messages.append("invalid: not a ticked or empty box")
    else:
        normalized = normalize_text(text)
    for name in spec.validators:
        check = VALIDATORS[name]
        if not check(text):
            messages.append(f"invalid: fails the {name} check")
    return normalized, tuple(dict.fromkeys(messages))


def _normalize_items(spec: FieldSpec, items: Any, *, day_first: bool) -> tuple[Any, tuple[str, ...]]:
    if not isinstance(items, list):
        return None, ("invalid: not a list",)
    out: list[dict[str, Any]] = []
    messages: list[str] = []
    for index, item in enumerate(items):
        row: dict[str, Any] = {}
        for sub in spec.item_fields:
            norm, msgs = normalize_field(sub, (item or {}).get(sub.name), day_first=day_first)
            row[sub.name] = str(norm) if norm is not None else None
            messages.extend(f"item {index + 1} {sub.name}: {m}" for m in msgs)
        out.append(row)
    return out, tuple(messages)


@dataclass(frozen=True, slots=True)
class PrintedTotals:
    """What a document prints between its items and a total (``evidence.printed_totals``):
    the subtotal line's amount, the net of its adjustment lines (discounts, deductibles and
    payments negative; tax, fees, shipping positive; rounding signed), and the amounts on the
    total's own lines."""

    subtotal: Decimal | None = None
    net: Decimal = Decimal("0")
    totals: tuple[Decimal, ...] = ()


def cross_check(doctype: DocType, normalized: dict[str, Any],
                printed: dict[str, PrintedTotals] | None = None) -> dict[str, tuple[str, ...]]:
    """Messages per field from the document type's cross-field checks (``checks`` in its YAML).

    ``printed`` (total field -> what the document prints around it) lets an items sum apply the
    printed subtotal and adjustment lines; see ``_items_sum``."""
    found: dict[str, tuple[str, ...]] = {}
    for check in doctype.checks:
        if isinstance(check, ItemsSum):
            messages = _items_sum(check, normalized, (printed or {}).get(check.total))
        else:
            messages = _not_after(check, normalized)
        for name, msg in messages.items():
            found[name] = (*found.get(name, ()), msg)
    return found


def _items_sum(check: ItemsSum, normalized: dict[str, Any], printed: PrintedTotals | None) -> dict[str, str]:
    """The items' sum, with the printed subtotal and adjustment lines applied, must give the
    total; when nothing printed explains the difference it is an error that holds both fields for
    review, saying so when the total is the one printed on its line."""
    items, total = normalized.get(check.items), normalized.get(check.total)
    if not items or total is None:
        return {}
    try:
        summed = sum((Decimal(i[check.item]) for i in items if i.get(check.item)), Decimal("0"))
    except (InvalidOperation, TypeError):
        return {}
    total = Decimal(str(total))
    if summed == total:
        return {}
    printed = printed or PrintedTotals()
    base = printed.subtotal if printed.subtotal is not None and printed.subtotal == summed else summed
    if abs(base + printed.net - total) <= Decimal("0.01"):
        return {}
    what = check.items.replace("_", " ")
    explained = f" (adjustments printed: {printed.net:+})" if printed.net else ""
    msg = f"cross-check: {what} add up to {summed}{explained}, not {total}"
    if total in [abs(a) for a in printed.totals]:
        # The total is the printed one, but nothing printed explains the items: one of them may be
        # misread, so a person looks (a wrong item nobody checks is worse than a review).
        msg += f"; the printed total line reads {total}"
    return {check.items: msg, check.total: msg}


def _not_after(check: NotAfter, normalized: dict[str, Any]) -> dict[str, str]:
    earlier, later = normalized.get(check.earlier), normalized.get(check.later)
    if not earlier or not later or earlier <= later:  # ISO dates compare as text
        return {}
    msg = f"cross-check: {check.earlier} {earlier} is after {check.later} {later}"
    return {check.earlier: msg, check.later: msg}
