"""What a document type is: the typed objects its YAML file is loaded into.

A document type is the one home of type knowledge: date order, labels, prompt hints,
validators, thresholds, vendor memory and cross-field checks are read from here, never from a
type's or a field's name. The vocabularies below (field types, validators, checks) are what a
YAML file may name; ``docproc.pipeline`` implements them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["text", "name", "address", "date", "amount", "phone", "email", "code", "checkbox", "currency",
                    "list"]
FIELD_TYPES: tuple[str, ...] = ("text", "name", "address", "date", "amount", "phone", "email", "code", "checkbox",
                                "currency", "list")
# Named validity checks of one value, implemented in docproc.pipeline.validate.VALIDATORS.
VALIDATOR_NAMES: tuple[str, ...] = ("npi", "icd10", "zip", "phone", "email", "ein_or_ssn", "currency", "claim_number")
# "auto": each document decides, by its unambiguous dates, else its language (pipeline.date_order).
DateOrder = Literal["day_first", "month_first", "auto"]
Charset = Literal["latin", "ascii", "all"]
Memory = Literal["sender", "none"]
Position = Literal["any", "top"]
Answer = Literal["text", "lines"]
Snap = Literal["lines", "words"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType = "text"
    required: bool = True
    # Named checks from docproc.pipeline.validate (e.g. "npi", "icd10", "zip", "ein_or_ssn").
    validators: tuple[str, ...] = ()
    # Confidence at or above which the field is accepted without a person.
    review_threshold: float = 0.9
    # Printed labels that anchor the field on a form (rules extractor, grounding hints).
    labels: tuple[str, ...] = ()
    description: str = ""
    # What the LLM is told to copy, in place of the description and the labels.
    prompt_hint: str = ""
    # "sender": the value names who sent the document (vendor memory keys on it).
    memory: Memory = "none"
    # "top": printed without a label at the head of the first page, like a letterhead's company
    # name: an unlabelled guess takes the first line, the evidence looks in the first lines, and
    # a model's value snaps to whole lines the way a company name is printed.
    position: Position = "any"
    # "lines": the model answers with the numbers of the lines that hold the value ("L3" or
    # "L3-L5"), constrained to lines it was shown, and the value is those lines' words as read:
    # for values printed as whole lines (a sender's name and address), a few tokens instead of a
    # copy that the model may misspell. "text": the model writes the value.
    answer: Answer = "text"
    # How an unlabelled text value the model copied is tied to the page: "lines" widens it to the
    # whole OCR lines it covers most of (a receipt's company and address are printed as lines of
    # their own); "words" keeps the words it matches (an invoice's issuer shares its line with
    # "Invoice", an address or a legal notice).
    snap: Snap = "lines"
    # For "list" fields: the item's sub-fields.
    item_fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemsSum:
    """The ``item`` amounts of the list field ``items`` add up to the amount field ``total``."""

    items: str
    item: str
    total: str
    kind: Literal["items_sum"] = "items_sum"


@dataclass(frozen=True, slots=True)
class NotAfter:
    """The date field ``earlier`` is not after the date field ``later`` (a birth before a loss)."""

    earlier: str
    later: str
    kind: Literal["not_after"] = "not_after"


Check = ItemsSum | NotAfter
CHECK_KINDS: dict[str, tuple[str, ...]] = {"items_sum": ("items", "item", "total"), "not_after": ("earlier", "later")}


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Words of the printed language the snapping of unlabelled names and addresses relies on.
    The defaults are common English ones; a type measured on one country's documents lists
    that country's (the receipt type: Malaysian legal suffixes and states)."""

    # Words that end a company's legal name ("Ltd", "GmbH") and, with name_suffixes, those
    # that may also close a trading name ("& Co").
    legal_suffixes: tuple[str, ...] = ("ltd", "limited", "plc", "inc", "llc", "gmbh")
    name_suffixes: tuple[str, ...] = ("co", "&", "company", "corp", "corporation")
    # A line of only these words continues an address (its state or country).
    regions: tuple[str, ...] = ()
    # Words of a header line that is neither a name nor an address.
    header_words: tuple[str, ...] = ("tel", "fax", "phone", "date", "no")
    # With header_words, words that no name or address line runs on over (a line ending in
    # "SDN BHD" is a name of its own, not the start of the next one).
    stop_words: tuple[str, ...] = ()
    # An address ends before one of these (a phone or tax number after it).
    contact_words: tuple[str, ...] = ("tel", "phone", "telephone", "fax", "email", "e-mail")


@dataclass(frozen=True, slots=True)
class OcrSettings:
    """Text-detector settings a type's scanned pages are read with, where the configured engine
    has such a detector (rapidocr); None keeps the engine's configured value. Receipts' long,
    tightly set lines lose their first and last characters to a tight detector; a form's taller
    boxes pull a neighbouring label into a value, so the choice is the type's, measured with
    ``manage.py bench_ocr --coverage``."""

    # How far a detected text kernel is grown into its box (> 0).
    unclip_ratio: float | None = None
    # The mean text probability a box needs to be kept, in (0, 1).
    box_thresh: float | None = None
    # The probability a pixel needs to count as text, in (0, 1).
    thresh: float | None = None
    # The longest side a page is shrunk to before detection; 0 keeps it as the preprocessing sized it.
    max_side_len: int | None = None

    def given(self) -> dict[str, float | int]:
        """The settings the type sets, by name."""
        return {name: value for name in ("unclip_ratio", "box_thresh", "thresh", "max_side_len")
                if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class DocType:
    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    description: str = ""
    date_order: DateOrder = "month_first"
    # Letters the documents are printed in (for OCR): "latin", "ascii" or "all".
    charset: Charset = "all"
    ocr: OcrSettings = field(default_factory=OcrSettings)
    # Cross-field checks, from docproc.pipeline.validate.cross_check.
    checks: tuple[Check, ...] = ()
    # Name of a form template (docproc/doctypes/templates/NAME.json) read before the extractor:
    # a document that registers to it takes those fields from where the form prints them.
    template: str = ""
    # Raised when this type's prompt text changes, so that cached answers and calibrations made
    # with the old text are not reused; "" follows the prompts' own version.
    prompt_version: str = ""
    words: Vocabulary = field(default_factory=Vocabulary)
    # The file it was loaded from ("" for one built in code).
    source: str = ""

    @property
    def day_first(self) -> bool:
        return self.date_order == "day_first"

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def by_line(self) -> tuple[str, ...]:
        """The fields the model answers by line (``answer: lines``)."""
        return tuple(f.name for f in self.fields if f.answer == "lines")
