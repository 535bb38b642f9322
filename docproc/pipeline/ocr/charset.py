"""Character sets a recogniser may be restricted to: ``ascii``, ``latin`` or ``all``.

A document type printed in one script loses nothing by forbidding the others, and a CTC
recogniser trained on Chinese and Latin together otherwise reads a smudged zero as the
ideographic zero (U+3007) or a colon as a full-width colon (U+FF1A). The restriction zeroes
the forbidden classes of the recogniser's output before decoding, so the best allowed
character wins at each step.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal, get_args

Charset = Literal["all", "latin", "ascii"]
CHARSETS: tuple[str, ...] = get_args(Charset)


def check_charset(value: str) -> Charset:
    """``value`` as a ``Charset``, or ``ValueError`` naming the known ones."""
    if value not in CHARSETS:
        raise ValueError(f"unknown OCR character set {value!r}; known: {', '.join(CHARSETS)}")
    return value  # type: ignore[return-value]


def allows(charset: Charset, char: str) -> bool:
    """Whether ``char`` (one character) may be read under ``charset``."""
    if charset == "all":
        return True
    if " " <= char <= "~":
        return True
    if charset == "ascii":
        return False
    # latin: the printable Latin-1 supplement (accents, currency, punctuation), every other
    # letter of the Latin script, the euro sign and typographic quotes and dashes
    if "\u00a0" <= char <= "\u00ff" or char in "\u20ac\u2018\u2019\u201c\u201d\u2013\u2014\u2026":
        return True
    return unicodedata.name(char, "").startswith("LATIN ")


def class_mask(charset: Charset, classes: Sequence[str]) -> list[bool]:
    """For each class of a CTC recogniser (index 0 the blank), whether it may be emitted."""
    return [index == 0 or (len(label) == 1 and allows(charset, label)) or (len(label) > 1 and charset == "all")
            for index, label in enumerate(classes)]
