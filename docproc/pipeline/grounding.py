"""Align each extracted value to the words it came from: page, box and word ids.

A value that cannot be found in the document's words gets a low grounding score: it may be
a model's invention, and the confidence built on it sends the field to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from .types import BBox, Candidate, DocumentText, Word, union_bbox


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
