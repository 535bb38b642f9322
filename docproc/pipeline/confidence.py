"""One confidence per field from the extractor's belief, grounding, OCR confidence and checks.

The combination is a documented, monotone score; calibration to an observed accuracy per
document type and field is applied on top of it where a calibration table exists.
"""

from __future__ import annotations

from .grounding import Grounding
from .types import Candidate, DocumentText


def field_signals(candidate: Candidate, grounding: Grounding, document: DocumentText, messages: tuple[str, ...]) -> dict[str, float]:
    by_id = {w.id: w for w in document.words()}
    ocr = [by_id[i].confidence for i in grounding.word_ids if i in by_id]
    return {
        "model": float(candidate.model_confidence),
        "grounding": float(grounding.score),
        "ocr": min(ocr) if ocr else (1.0 if candidate.value is None else 0.0),
        "valid": 0.0 if messages else 1.0,
    }


def combine(signals: dict[str, float]) -> float:
    """Product of the extractor's belief and penalties; never above the weakest evidence."""
    score = signals["model"]
    score *= 0.4 + 0.6 * signals["grounding"]
    score *= 0.5 + 0.5 * signals["ocr"]
    score *= 1.0 if signals["valid"] >= 1.0 else 0.6
    return round(max(0.0, min(1.0, score)), 4)
