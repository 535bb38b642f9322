"""Vendor memory, the pure part: who sent a document (its sender fingerprint), how alike two
senders' fingerprints are, and how values a reviewer verified on that sender's earlier documents
become this document's fields, grounded to this document's own words.

The domain (``docproc/memory.py``) stores and finds the entries; everything here takes plain data
and knows nothing of Django.

A remembered value is used only where this document prints it: it is searched in the document's
words like any extracted value, and a value found nowhere, or only with more character slips
than OCR explains, is left out. A value that is used takes its page, box and words from that
grounding, so the reviewer and the upstream system see where this document prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from docproc.doctypes import DocType, FieldSpec

from .grounding import Grounding, ground
from .ocr.second_reading import SIGNAL as SECOND_READING
from .types import Candidate, DocumentText, FieldResult, PageWords
from .validate import fold_accents, normalize_field

# The head of the first page names the sender: a letterhead, a shop's name, address and
# registration lines. Six lines hold them on the shared receipts and invoices; further lines
# (cashier, table number, date) change from one document to the next.
HEADER_LINES = 6
# Words that introduce a printed registration, tax or provider number anywhere on the first page
# (a CMS-1500 prints its billing NPI and tax id at the foot of the form, not in the header).
NUMBER_LABELS = re.compile(
    r"\b(?:gst|sst|vat|tax|tin|ein|npi|abn|roc|reg|regn|registration|company\s+no|co\.?\s*no|siret|ust)\b",
    re.IGNORECASE)
# A number-like token: digits with dashes or spaces, maybe a letter suffix ("123456-X", "12-3456789").
NUMBER = re.compile(r"(?<![\w.])\(?([A-Z]{0,3}\d[\d -]{3,}\d(?:-?[A-Z])?)\)?(?![\w.])", re.IGNORECASE)
# A company registration number with its check letter ("81109-A"): shorter than six digits, but
# no postcode or amount looks like it.
REGISTRATION = re.compile(r"\d{4,}-?\s?[A-Z]$", re.IGNORECASE)
DATE_LIKE = re.compile(r"^\d{1,4}[-/ ]\d{1,2}[-/ ]\d{1,4}$")
MIN_NUMBER_DIGITS = 6


@dataclass(frozen=True, slots=True)
class SenderFingerprint:
    """``header``: the first lines of page 1, normalised (lower case, letters and digits in
    words); ``numbers``: registration, tax or provider numbers printed (letters and digits only)."""

    header: tuple[str, ...]
    numbers: tuple[str, ...] = ()

    def tokens(self) -> frozenset[str]:
        return frozenset(t for line in self.header for t in line.split() if len(t) > 1)

    def to_json(self) -> dict[str, Any]:
        return {"header": list(self.header), "numbers": list(self.numbers)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SenderFingerprint | None:
        if not data or not isinstance(data.get("header"), list):
            return None
        return cls(tuple(str(x) for x in data["header"]), tuple(str(x) for x in data.get("numbers") or ()))


@dataclass(frozen=True, slots=True)
class RememberedValue:
    """A value of a ``memory: sender`` field that reviewers verified on ``documents`` documents."""

    field: str
    value: Any
    documents: int


@dataclass(frozen=True, slots=True)
class WorkedExample:
    """An earlier verified document of the same sender, for a model's prompt: its numbered lines
    (as the model reads documents) and the values a reviewer verified."""

    document: str
    text: str
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Recall:
    """What the memory knows of a document's sender: the matching entry, how alike the two
    fingerprints are, the remembered values and worked examples."""

    entry: str
    similarity: float
    values: tuple[RememberedValue, ...] = ()
    examples: tuple[WorkedExample, ...] = ()


@dataclass(frozen=True, slots=True)
class MemoryOptions:
    """``min_similarity``: the token-set similarity of two headers from which they are one sender;
    ``max_slip_ratio``: character slips allowed (per character of the value) when a remembered
    text is searched in a new document; ``min_documents``: verified documents before a remembered
    value may lift a field past its threshold."""

    min_similarity: float = 0.5
    max_slip_ratio: float = 0.1
    min_documents: int = 1


def _norm_line(text: str) -> str:
    return " ".join(re.findall(r"[0-9a-z]+", fold_accents(text).casefold()))


def page_lines(page: PageWords) -> list[str]:
    """The page's printed lines in reading order."""
    return [line for line in page.text.split("\n") if line.strip()]


def printed_numbers(lines: list[str]) -> tuple[str, ...]:
    """Registration-, tax- or provider-like numbers in ``lines`` (letters and digits only, upper
    case); dates are not numbers of a sender."""
    out: list[str] = []
    for line in lines:
        for m in NUMBER.finditer(line):
            raw = m.group(1).strip()
            if DATE_LIKE.match(raw):
                continue
            key = re.sub(r"[^0-9A-Z]", "", raw.upper())
            if (sum(c.isdigit() for c in key) >= MIN_NUMBER_DIGITS or REGISTRATION.search(raw)) and key not in out:
                out.append(key)
    return tuple(out)


def sender_fingerprint(document: DocumentText, *, lines: int = HEADER_LINES) -> SenderFingerprint:
    """The sender's fingerprint of ``document``: its first ``lines`` printed lines and the
    numbers printed in them or on a labelled registration/tax/NPI line of the first page."""
    if not document.pages:
        return SenderFingerprint(())
    first = page_lines(document.pages[0])
    header = [_norm_line(t) for t in first[:lines]]
    labelled = [t for t in first[lines:] if NUMBER_LABELS.search(t)]
    return SenderFingerprint(tuple(h for h in header if h), printed_numbers(first[:lines] + labelled))


def fingerprint_similarity(a: SenderFingerprint, b: SenderFingerprint) -> float:
    """1.0 when both print the same registration/tax/provider number; else the Jaccard
    similarity of their header words (a few OCR slips change a few words, not the set)."""
    if set(a.numbers) & set(b.numbers):
        return 1.0
    ta, tb = a.tokens(), b.tokens()
    if not ta or not tb:
        return 0.0
    return round(len(ta & tb) / len(ta | tb), 4)


# --- grounding a remembered value in this document ------------------------------------------------

def value_key(text: str) -> str:
    """A value as matched against what a document prints: letters and digits, accents folded, lower case."""
    return re.sub(r"[^0-9a-z]", "", fold_accents(str(text)).lower())


def _tokens(text: Any) -> list[str]:
    # Accents are kept: an OCR that reads "ÁLAM" for "ALAM" slipped on a letter.
    return re.findall(r"[^\W_]+", str(text).casefold())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def allowed_slips(spec: FieldSpec, value: str, ratio: float) -> int:
    """How many characters OCR may have slipped on in ``value``. Codes and amounts none: one
    digit off is another number."""
    if spec.type not in ("text", "name", "address"):
        return 0
    return max(1, int(len(value_key(value)) * ratio))


def ground_remembered(spec: FieldSpec, value: Any, document: DocumentText, *,
                      max_slip_ratio: float) -> tuple[Grounding, int] | None:
    """Where ``document`` prints the remembered ``value``: the grounding and its character
    slips, or None when it is printed nowhere within ``allowed_slips`` (on OCR'd pages; a text
    layer must print it exactly, spacing, case and punctuation aside)."""
    if value is None or isinstance(value, (list, dict)) or not value_key(value):
        return None
    grounding = ground(Candidate(spec.name, str(value), 1.0), document)
    if not grounding.word_ids:
        return None
    by_id = {w.id: w for w in document.words()}
    printed = value_key(" ".join(by_id[i].text for i in grounding.word_ids))
    slips = edit_distance(printed, value_key(value))
    # A PDF's text layer has no OCR slips: there a difference is another value.
    read = {p.page: p.source for p in document.pages}
    exact = all(read.get(document.page_of(i)) == "text-layer" for i in grounding.word_ids)
    if slips > (0 if exact else allowed_slips(spec, str(value), max_slip_ratio)):
        return None
    return grounding, slips


def evidence_text(documents: int) -> str:
    return f"verified by a reviewer on {documents} document{'s' if documents != 1 else ''} from this sender"


def memory_apply(document: DocumentText, doctype: DocType, fields: tuple[FieldResult, ...], recall: Recall | None,
                 *, options: MemoryOptions, fallback: bool = False) -> tuple[tuple[FieldResult, ...], dict[str, str]]:
    """The fields with the remembered values of ``recall`` that ``document`` prints put in,
    and what became of each remembered value (``used``, ``same`` as the extractor's, or
    ``not_found``).

    A used value replaces the extractor's, with its grounding in this document as provenance
    (page, box, words), source ``memory`` and its evidence. Reviewers' agreement on
    ``min_documents`` documents is full confidence (a person's value, checked against this
    page): it is auto-accepted unless one of its checks fails or the backup rules read the
    document (nothing is auto-accepted then)."""
    if recall is None or not recall.values:
        return fields, {}
    remembered = {r.field: r for r in recall.values}
    outcome: dict[str, str] = {}
    out: list[FieldResult] = []
    for f in fields:
        r = remembered.get(f.name)
        try:
            spec = doctype.field(f.name)
        except KeyError:
            spec = None
        if r is None or spec is None or spec.memory != "sender" or spec.type == "list":
            out.append(f)
            continue
        found = ground_remembered(spec, r.value, document, max_slip_ratio=options.max_slip_ratio)
        if found is None:
            outcome[f.name] = "not_found"
            out.append(f)
            continue
        grounding, slips = found
        by_id = {w.id: w for w in document.words()}
        printed = " ".join(by_id[i].text for i in grounding.word_ids)
        # Where this document prints the same words with other punctuation or case, its own print
        # is the value (a shop's receipts differ in a comma); where OCR slipped on a letter, a
        # digit or a space, the value reviewers verified corrects it.
        value = printed if _tokens(printed) == _tokens(r.value) else str(r.value)
        normalized, messages = normalize_field(spec, value, day_first=doctype.day_first)
        blocking = tuple(m for m in messages if not m.startswith("warning:"))
        confidence = 1.0 if r.documents >= options.min_documents else max(f.confidence, 0.0)
        accepted = not fallback and not blocking and confidence >= spec.review_threshold
        same = f.value is not None and value_key(f.value) == value_key(r.value)
        outcome[f.name] = "same" if same else "used"
        reasons: tuple[str, ...] = ()
        if not accepted:
            reasons = tuple(dict.fromkeys([
                *(m for m in blocking),
                *(["read by the backup label rules because the extraction model was unavailable"] if fallback else []),
                *([f"confidence {confidence:.2f} is below its threshold {spec.review_threshold:.2f}"]
                  if confidence < spec.review_threshold else []),
            ]))
        out.append(replace(
            f, value=value, normalized=normalized, confidence=confidence,
            status="auto_accepted" if accepted else "needs_review",
            page=grounding.page, bbox=grounding.bbox, word_ids=grounding.word_ids,
            source=tuple(by_id[i].text for i in grounding.word_ids), messages=messages,
            # The second reading was of the extracted value's words, not of these: read again later.
            signals={**{k: v for k, v in f.signals.items() if k != SECOND_READING},
                     "memory_documents": float(r.documents), "memory_similarity": recall.similarity,
                     "memory_slips": float(slips)},
            provenance="memory", valid=not blocking, reasons=reasons,
            evidence=(evidence_text(r.documents),),
        ))
    return tuple(out), outcome


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """What the memory did for one document, stored with the run (``engines["memory"]``)."""

    fingerprint: SenderFingerprint
    entry: str = ""
    similarity: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint.to_json(), "entry": self.entry, "similarity": self.similarity,
                "fields": dict(self.fields), "examples": list(self.examples)}
