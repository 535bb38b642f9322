"""Align each extracted value to the words it came from: page, box and word ids.

A value that cannot be found in the document's words gets a low grounding score: it may be
a model's invention, and the confidence built on it sends the field to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

from docproc.doctypes import FieldSpec, Vocabulary

from .types import BBox, Candidate, DocumentText, Word, union_bbox
from .validate import fold_accents
from .visual_lines import reline


@dataclass(frozen=True, slots=True)
class Grounding:
    word_ids: tuple[str, ...]
    page: int | None
    bbox: BBox | None
    score: float  # 1.0 exact, lower for fuzzy, 0.0 not found


NOT_FOUND = Grounding((), None, None, 0.0)


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _flatten(value: object) -> str:
    if isinstance(value, list):
        return " ".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_flatten(v) for v in value.values() if v is not None)
    return "" if value is None else str(value)


def ground(candidate: Candidate, document: DocumentText) -> Grounding:
    if candidate.value is None:
        return NOT_FOUND
    by_id = {w.id: w for w in document.words()}
    target = _key(_flatten(candidate.value))
    if not target:
        return NOT_FOUND
    if candidate.word_ids and all(i in by_id for i in candidate.word_ids):
        words = [by_id[i] for i in candidate.word_ids]
        score = SequenceMatcher(None, _key(" ".join(w.text for w in words)), target).ratio()
        if score >= 0.8:
            return _grounding(words, score)
    return _search(target, document)


def _grounding(words: list[Word], score: float) -> Grounding:
    # The box is on the page holding most of the words; provenance lists every word.
    pages: dict[int, list[Word]] = {}
    for w in words:
        pages.setdefault(int(w.id.split("-", 1)[0][1:]), []).append(w)
    page, on_page = max(pages.items(), key=lambda kv: len(kv[1]))
    return Grounding(tuple(w.id for w in words), page, union_bbox([w.bbox for w in on_page]), round(score, 4))


def _search(target: str, document: DocumentText) -> Grounding:
    best: tuple[float, list[Word]] = (0.0, [])
    for page in document.pages:
        words = list(page.words)
        keys = [_key(w.text) for w in words]
        for start in range(len(words)):
            if not keys[start] or not (target.startswith(keys[start][:2]) or keys[start][:2] in target):
                continue
            acc = ""
            for end in range(start, min(len(words), start + 40)):
                acc += keys[end]
                if len(acc) > len(target) * 1.5 + 2:
                    break
                score = SequenceMatcher(None, acc, target).ratio() if acc != target else 1.0
                if score > best[0]:
                    best = (score, words[start:end + 1])
                if score == 1.0:
                    return _grounding(best[1], 1.0)
    if best[0] < 0.6:
        return NOT_FOUND
    return _grounding(best[1], best[0])


# --- snapping a model's value to what is printed ------------------------------------------------

POSTCODE = re.compile(r"\b\d{5}(?:-\d{4})?\b")
LineKey = tuple[int, int, int]  # (page, block, line)
REG_NUMBER = re.compile(r"^\(?[A-Z]{0,3}\d{4,}-?[A-Z]?\)?$", re.IGNORECASE)
# A registration number printed after a company's name, even run into it: "BHD'(126926-H)",
# "Sdn Bhd(82256-V)", "SDN BHD (139386 X)".
TRAILING_REG_NUMBER = re.compile(r"\s*['`]?\s*\((?=[^()]*\d{4})[A-Z0-9 .:/-]{4,}\)$", re.IGNORECASE)
LEADING_REG_NUMBER = re.compile(r"^\(?[A-Z]{0,3}\d{4,}-[A-Z]\)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Words:
    """A document type's vocabulary, ready to match (see ``docproc.doctypes.Vocabulary``)."""

    legal_suffixes: frozenset[str]
    suffixes: frozenset[str]
    regions: frozenset[str]
    not_a_name: re.Pattern[str]
    stop_words: re.Pattern[str]
    contact_word: re.Pattern[str]


def _any_word(words: tuple[str, ...], *, at_start: bool = False) -> re.Pattern[str]:
    if not words:
        return re.compile(r"(?!)")  # matches nothing
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"^(?:{alternatives})\b" if at_start else rf"\b(?:{alternatives})\b", re.IGNORECASE)


DEFAULT_VOCABULARY = Vocabulary()


@lru_cache(maxsize=64)
def _compiled(words: Vocabulary) -> _Words:
    legal = frozenset(words.legal_suffixes)
    return _Words(
        legal_suffixes=legal,
        suffixes=legal | frozenset(words.name_suffixes),
        regions=frozenset(words.regions),
        not_a_name=_any_word(words.header_words),
        stop_words=_any_word((*words.header_words, *words.stop_words)),
        contact_word=_any_word(words.contact_words, at_start=True),
    )


def _lines_of(document: DocumentText) -> tuple[dict[str, LineKey], dict[LineKey, list[Word]], list[LineKey]]:
    line_of: dict[str, LineKey] = {}
    lines: dict[LineKey, list[Word]] = {}
    for page in document.pages:
        for w in page.words:
            key = (page.page, w.block, w.line)
            line_of[w.id] = key
            lines.setdefault(key, []).append(w)
    order = sorted(lines)
    for key in order:
        lines[key].sort(key=lambda w: w.bbox[0])
    return line_of, lines, order


def _name_tokens(words: list[Word]) -> list[str]:
    """Lower-case tokens of a name line, "SDN.BHD" split in two and brackets dropped."""
    return [t for w in words for t in w.text.lower().strip(".,()").split(".") if t]


def _extend_down(words: list[Word], line_of: dict[str, LineKey], lines: dict[LineKey, list[Word]],
                 order: list[LineKey], continues: Any) -> int:
    """Appends to ``words`` up to two following lines of the same page, while each is short (four
    words at most), has no digit, and ``continues(line_words, text)`` says it goes on. Returns
    how many were added."""
    last = order.index(line_of[words[-1].id])
    added = 0
    while added < 2 and last + 1 < len(order) and order[last + 1][0] == order[last][0]:
        below = lines[order[last + 1]]
        text = " ".join(w.text for w in below)
        if len(below) > 4 or any(ch.isdigit() for ch in text) or not continues(below, text):
            break
        words.extend(below)
        added += 1
        last += 1
    return added


# Look-alikes OCR reads in a short word's first letters: "Te1", "TEI", "Fax" as "F4x" is rarer.
_LOOK_ALIKES = str.maketrans({"1": "l", "|": "l", "I": "l", "0": "o"})
# A line that names who registered the business, not where it is: "Reg No: 1203194-W", "(CO. NO. JM0195368-D)".
_REGISTRATION = re.compile(r"\b(?:co\.?\s*reg|reg(?:istration)?\.?\s*no|roc\s*no|company\s*(?:reg|no)|co\.?\s*no)\b",
                           re.IGNORECASE)


def _unslipped_start(text: str) -> str:
    return text[:3].translate(_LOOK_ALIKES) + text[3:]


def _without_header_lines(words: list[Word], line_of: dict[str, LineKey], lines: dict[LineKey, list[Word]],
                          v: _Words) -> tuple[list[Word], int]:
    """An address without the header lines a model copied in front of it: the company's name (a
    line with a legal suffix or ending in its registration number, judged on the whole printed
    line, even where the model took only its end), its registration number, or a shop's or
    branch's name (a line with no digit before the first line that has one: a street line carries
    its number; only where two lines stay). A line above the company's name goes with it ("Ampang
    210" / "First City Parking Sdn Bhd"). Only while what stays holds the postcode; returns the
    words and how many lines were dropped."""
    keys = list(dict.fromkeys(line_of[w.id] for w in words))
    by_line = {key: [w for w in words if line_of[w.id] == key] for key in keys}

    def rest_after(i: int) -> str:
        return " ".join(w.text for key in keys[i + 1:] for w in by_line[key])

    def named(i: int) -> bool:
        line = by_line[keys[i]]
        printed = " ".join(w.text for w in lines.get(keys[i], line))
        tokens = set(_name_tokens(line)) | set(_name_tokens(lines.get(keys[i], line)))
        return (bool(tokens & v.legal_suffixes) or bool(_REGISTRATION.search(printed))
                or bool(TRAILING_REG_NUMBER.search(printed)) or all(REG_NUMBER.match(w.text.strip(".,")) for w in line))

    # the company's name is where the header ends: everything above it goes too
    dropped = next((i + 1 for i in range(len(keys) - 2, -1, -1) if named(i) and POSTCODE.search(rest_after(i))), 0)
    while len(keys) - dropped >= 2:
        text = " ".join(w.text for w in by_line[keys[dropped]])
        # a line without a digit goes only when two lines stay ("JALAN KAPAR" / "42100 KLANG" is one address)
        unnumbered = not any(ch.isdigit() for ch in text) and len(keys) - dropped >= 3
        if not (named(dropped) or unnumbered) or not POSTCODE.search(rest_after(dropped)):
            break
        dropped += 1
    if not dropped:
        return words, 0
    kept = set(keys[dropped:])
    return [w for w in words if line_of[w.id] in kept], dropped


def snap_candidate(candidate: Candidate, spec: FieldSpec, document: DocumentText, *,
                   vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> Candidate:
    """The candidate tied to the printed words that best match it.

    Small models shorten, re-space or slightly misspell what they copy. For free-text fields
    without a printed label (a receipt's company or address) the value becomes the whole OCR
    line(s) it was read from, when it covers most of each line; an address that stops just
    before its postcode line is extended to it. Other fields keep the model's value and only
    gain the word ids. ``vocabulary`` is the document type's (legal suffixes, regions,
    header words) that names and addresses are continued or cut by. ``extra`` records what was
    done (``snap``) and the original value.
    """
    if candidate.value is None or isinstance(candidate.value, list):
        return candidate
    target = _key(str(candidate.value))
    if not target:
        return candidate
    found = _search(target, document)
    extra = {**candidate.extra, "model_value": candidate.extra.get("model_value", candidate.value),
             "snap_score": found.score}
    if not found.word_ids:
        return replace(candidate, extra={**extra, "snap": "none"})
    if spec.type not in ("text", "name", "address") or spec.labels or spec.snap == "words":
        return replace(candidate, word_ids=found.word_ids, extra={**extra, "snap": "words"})
    top = spec.position == "top"
    if top and REG_NUMBER.match(str(candidate.value).strip().replace(" ", "")):
        # A registration number is not a name: snapping it to its line ("Company No: ...")
        # would make it look like one.
        return replace(candidate, word_ids=found.word_ids, extra={**extra, "snap": "words"})
    v = _compiled(vocabulary)
    line_of, lines, order = _lines_of(reline(document))
    matched = set(found.word_ids)
    # A company name is a line of its own: a model that copies part of it gets the whole line.
    whole_line_share = 0.25 if top else 0.5
    touched = list(dict.fromkeys(line_of[i] for i in found.word_ids))
    words: list[Word] = []
    whole = 0
    for key in touched:
        line_words = lines[key]
        inside = [w for w in line_words if w.id in matched]
        line_chars = len(_key(" ".join(w.text for w in line_words))) or 1
        if len(_key(" ".join(w.text for w in inside))) / line_chars >= whole_line_share:
            words.extend(line_words)
            whole += 1
        else:
            words.extend(inside)
    extended = 0
    if spec.type == "address" and not POSTCODE.search(" ".join(w.text for w in words)):
        last = order.index(touched[-1])
        for step in (1, 2):
            if last + step >= len(order) or order[last + step][0] != touched[-1][0]:
                break
            nxt = lines[order[last + step]]
            if POSTCODE.search(" ".join(w.text for w in nxt)):
                for k in range(1, step + 1):
                    words.extend(lines[order[last + k]])
                extended = step
                break
    if top and words:
        # "POPULAR BOOK" / "CO. (M) SDN BHD": a line of legal suffixes continues the line above;
        # a registration number in brackets after the name is not part of it.
        first = order.index(line_of[words[0].id])
        head = _name_tokens(lines[order[first]])
        if first > 0 and order[first - 1][0] == order[first][0] and sum(t in v.suffixes and t != "&" for t in head) * 2 > len(head):
            above = lines[order[first - 1]]
            text = " ".join(w.text for w in above)
            if len(above) <= 6 and not any(ch.isdigit() for ch in text) and not v.stop_words.search(text):
                words = list(above) + words
                extended += 1
        # "AIK HUAT HARDWARE" / "ENTERPRISE (SETIA" / "ALAM) SDN BHD": short lines of legal
        # suffixes, or closing a bracket the name opened, continue it downwards.
        def continues_name(below: list[Word], text: str) -> bool:
            tokens = _name_tokens(below)
            so_far = " ".join(w.text for w in words)
            open_bracket = so_far.count("(") > so_far.count(")")
            return not v.not_a_name.search(text) and (open_bracket or any(t in v.legal_suffixes for t in tokens))

        extended += _extend_down(words, line_of, lines, order, continues_name)
        while len(words) > 1 and REG_NUMBER.match(words[-1].text):
            words.pop()
    if spec.type == "address" and POSTCODE.search(" ".join(w.text for w in words)):
        # "40170 SHAH ALAM," goes on to its state on the next line: a trailing comma continues.
        # A line that names only the state or country ("SELANGOR DARUL EHSAN") continues it too.
        def continues_address(below: list[Word], text: str) -> bool:
            region = all(t in v.regions for t in re.split(r"[\s,.]+", text.lower()) if t)
            return (words[-1].text.endswith(",") or region) and not v.stop_words.search(text)

        extended += _extend_down(words, line_of, lines, order, continues_address)
    if spec.type == "address":
        # Not the address: a registration number printed before it, a phone or tax number after it
        # (its word read with a look-alike: "Te1:03-7710 0302").
        while len(words) > 1 and LEADING_REG_NUMBER.match(words[0].text):
            words.pop(0)
        for i, w in enumerate(words[1:], start=1):
            if v.contact_word.match(_unslipped_start(w.text)) and i >= 2:
                words = words[:i]
                break
        words, dropped = _without_header_lines(words, line_of, lines, v)
        if dropped:
            extra["header_lines_dropped"] = dropped
    value = " ".join(w.text for w in words)
    if top:
        value = TRAILING_REG_NUMBER.sub("", value) or value
    model_value = str(candidate.value).strip()
    if re.sub(r"\s+", "", model_value) == re.sub(r"\s+", "", value):
        # The same characters, spaced otherwise: OCR splits and joins words ("F IVE STAR"),
        # the model reads them whole; its spacing is kept.
        value = model_value
    value = fold_accents(value)
    snap = "lines" if whole == len(touched) else ("partial-lines" if whole else "words")
    return replace(candidate, value=value, word_ids=tuple(w.id for w in words),
                   extra={**extra, "snap": snap, "extended_lines": extended})
