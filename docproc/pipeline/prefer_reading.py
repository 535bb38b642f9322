"""When the second reading of a value's lines is the better reading, and why.

The first OCR engine's slips carry its full confidence; the second recogniser (see
``ocr.second_reading``) rarely makes the same one. Where the two differ, the second is preferred
only on evidence outside both engines:

- a pattern: the field's type or validators reject the first reading and accept the second (a
  date read "2O/12/2017" by one engine and "20/12/2017" by the other);
- the rest of the document: the second reading of an unlabelled name or address is printed
  elsewhere in the document, word for word, and the first is not (a shop's name in its header
  and again in its footer).

The sender's own dictionary, the values reviewers confirmed on its earlier documents, already
corrects a slip of the first reading (``memory.memory_apply`` grounds a remembered value with
slips allowed), so it is not repeated here.

A value taken from the second reading says so (``message``) and waits for a person (the
signal ``TAKEN`` is one of ``runner.doubts``): two machine readings that disagree are not
proof, only a better suggestion for the reviewer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docproc.doctypes import FieldSpec

from .evidence import date_texts
from .memory import value_key
from .ocr.second_reading import MESSAGE_PREFIX, SecondReading
from .types import DocumentText
from .validate import normalize_field

TAKEN = "second_reading_taken"
PATTERN_TYPES = ("date", "amount", "phone", "email", "currency")
# The two readings must be of the same value, not of two different things the crop held.
MIN_AGREEMENT = 0.5
MIN_CHARS_ELSEWHERE = 6  # shorter values are printed "elsewhere" by chance
AMOUNT_TEXT = re.compile(r"-?\d[\d,.]*[.,]\d{2}\b")


@dataclass(frozen=True, slots=True)
class Preferred:
    value: str
    reason: str  # "pattern" or "document"
    message: str


def _invalid(spec: FieldSpec, value: str, *, day_first: bool) -> bool:
    normalized, messages = normalize_field(spec, value, day_first=day_first)
    return normalized is None or any(not m.startswith("warning:") for m in messages)


def prefer_second_reading(spec: FieldSpec, value: str, reading: SecondReading | None, document: DocumentText,
                          word_ids: tuple[str, ...], *, day_first: bool) -> Preferred | None:
    """The second reading of ``value`` (read from the words ``word_ids``) where it is the better
    reading (see the module), else None."""
    if reading is None or not reading.doubtful or reading.agreement < MIN_AGREEMENT:
        return None
    second = " ".join(reading.second.split())
    if not second or value_key(second) == value_key(reading.first):
        return None
    if spec.type in PATTERN_TYPES or spec.validators:
        # what the pattern finds in the second reading, not the rest of what the crop held
        found = (date_texts(second, day_first=day_first) if spec.type == "date"
                 else AMOUNT_TEXT.findall(second) if spec.type == "amount" else [second])
        if len(found) != 1:
            return None
        second = found[0]
        if _invalid(spec, value, day_first=day_first) and not _invalid(spec, second, day_first=day_first):
            what = f"a valid {spec.type}" if spec.type in PATTERN_TYPES else "a value its checks accept"
            return Preferred(second, "pattern", f"warning: {MESSAGE_PREFIX} ({reading.engine}) reads {second!r}, "
                                                f"{what} where the first reading {reading.first!r} is not; taken")
        return None
    if spec.type not in ("text", "name", "address") or spec.labels or len(value_key(second)) < MIN_CHARS_ELSEWHERE:
        return None
    own = set(word_ids)
    elsewhere = value_key(" ".join(w.text for w in document.words() if w.id not in own))
    if value_key(second) in elsewhere and value_key(reading.first) not in elsewhere:
        return Preferred(second, "document", f"warning: {MESSAGE_PREFIX} ({reading.engine}) reads {second!r}, "
                                             f"which the document prints elsewhere, where the first reading "
                                             f"{reading.first!r} is printed nowhere else; taken")
    return None
