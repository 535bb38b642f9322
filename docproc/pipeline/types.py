"""Typed hand-offs between pipeline stages.

Coordinate system (both routes, every box in the product): ``BBox = (x0, y0, x1, y1)`` as
fractions of the page's width and height, origin at the top-left corner of the page as a
person sees it (after rotation is corrected), x to the right, y down, all in ``[0, 1]``.
A PDF text-layer word and an OCR word of the same page therefore have comparable boxes, and
the reviewer UI scales them onto whatever size it shows the page image at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

BBox = tuple[float, float, float, float]
WordSource = Literal["text-layer", "ocr"]
FieldStatus = Literal["auto_accepted", "needs_review"]


class PipelineError(Exception):
    """A document cannot be processed. ``code`` is stable and shown to API clients."""

    code = "processing_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        # The model calls made before the error (an extractor fills this in), so that a fallback
        # still records what the failed backend cost.
        self.calls: tuple[dict[str, Any], ...] = ()


class MissingModel(PipelineError):
    """An engine's model or package is not installed; the message names the setting to set."""

    code = "missing_model"


class EngineUnavailable(PipelineError):
    """An engine is down, busy or too slow; callers fall back."""

    code = "engine_unavailable"


def union_bbox(boxes: list[BBox] | tuple[BBox, ...]) -> BBox:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


@dataclass(frozen=True, slots=True)
class IngestedFile:
    """A file whose content type was sniffed and whose pages were counted."""

    content_type: Literal["application/pdf", "image/png", "image/jpeg", "image/tiff"]
    page_count: int
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class PageImage:
    """One page as pixels, upright. ``dpi`` is nominal for photos without a resolution."""

    page: int  # 1-based
    image: Any  # PIL.Image.Image in RGB or L
    dpi: float
    rotation: int = 0  # degrees applied to make the page upright
    skew: float = 0.0  # degrees of skew corrected

    @property
    def width(self) -> int:
        return int(self.image.width)

    @property
    def height(self) -> int:
        return int(self.image.height)


@dataclass(frozen=True, slots=True)
class Word:
    """A word with its box. Engines MUST give a box and a confidence in [0, 1] for every word."""

    id: str  # stable within a document: "p{page}-w{index}"
    text: str
    bbox: BBox
    confidence: float
    line: int = 0  # index of the visual line on its page (reading order)
    block: int = 0  # index of the region / block on its page
    # "" for a word of the page's own reading (its ``PageWords.source``); "form_field" for the
    # value of an AcroForm widget, whose box is the widget's rectangle (``pipeline.forms``).
    source: str = ""
    widget: str = ""  # the widget's full field name, for a form-field word


@dataclass(frozen=True, slots=True)
class PageWords:
    page: int
    width: float  # page size in points (1/72 inch) for PDFs, pixels for images
    height: float
    words: tuple[Word, ...]
    source: WordSource
    engine: str
    engine_version: str

    @property
    def text(self) -> str:
        return page_text(self)


def page_text(page: PageWords) -> str:
    """The page's words in reading order, one visual line per text line."""
    lines: dict[tuple[int, int], list[str]] = {}
    for w in page.words:
        lines.setdefault((w.block, w.line), []).append(w.text)
    return "\n".join(" ".join(ws) for _, ws in sorted(lines.items()))


@dataclass(frozen=True, slots=True)
class Region:
    kind: Literal["text", "title", "table", "figure", "key-value", "list", "other"]
    bbox: BBox
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class PageLayout:
    page: int
    regions: tuple[Region, ...]
    engine: str
    engine_version: str
    # Horizontal and vertical ruling lines as boxes (thin), when the engine sees them.
    rulings: tuple[BBox, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentRead:
    """What reading a document hands to extraction: its pages' words (in reading order when a
    layout engine ran), one layout per page (or none), and the seconds each reading stage took.
    It is a stage of its own so that OCR and layout run in one task and the model call in
    another (the services run them as separate tasks)."""

    ingested: IngestedFile
    pages: tuple[PageWords, ...]
    layouts: tuple[PageLayout, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    # The upright images of the OCR'd pages, when the reader was asked to keep them (for a second
    # reading in the same process); never stored with the reading.
    images: dict[int, PageImage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DocumentText:
    """All pages' words in reading order: what an extractor reads."""

    pages: tuple[PageWords, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(f"--- page {p.page} ---\n{p.text}" for p in self.pages)

    def words(self) -> list[Word]:
        return [w for p in self.pages for w in p.words]

    def page_of(self, word_id: str) -> int:
        return int(word_id.split("-", 1)[0][1:])


@dataclass(frozen=True, slots=True)
class Candidate:
    """What an extractor proposes for one field, before grounding and confidence."""

    name: str
    value: str | None  # as printed
    model_confidence: float  # the extractor's own belief in [0, 1]
    word_ids: tuple[str, ...] = ()  # words the extractor says it read it from, if it knows
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExtractionOutput:
    candidates: tuple[Candidate, ...]
    engine: str
    engine_version: str
    prompt_version: str = ""
    fallback_reason: str = ""  # set when a fallback extractor ran instead of the configured one
    calls: tuple[dict[str, Any], ...] = ()  # model-call records (tokens, latency, cache hit ...)
    calibration_version: str = ""  # of the confidence calibration applied to these candidates
    # The earlier verified documents given to the model as worked examples (vendor memory).
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldResult:
    """One field, final: value, normalised value, confidence and provenance."""

    name: str
    value: str | None
    normalized: str | Decimal | list[Any] | None
    confidence: float
    status: FieldStatus
    page: int | None
    bbox: BBox | None
    source: tuple[str, ...]  # the words it came from (texts)
    word_ids: tuple[str, ...]
    messages: tuple[str, ...] = ()  # what is wrong with the value (checks); "warning: ..." does not block
    signals: dict[str, float] = field(default_factory=dict)
    # Why a field waits for a person, in a reviewer's words (empty when auto-accepted): below its
    # threshold (both numbers), a failed check, a label for a value, not found, the fallback
    # extractor, low OCR confidence of its words.
    reasons: tuple[str, ...] = ()
    # Who gave the value: "extractor", "template" (a registered form's box), "form_field" (an
    # AcroForm widget), "fallback" (the backup rules after a backend failure), "memory" (a value
    # reviewers verified on this sender's earlier documents); "reviewer" later.
    provenance: str = "extractor"
    valid: bool = True  # no check failed (warnings aside)
    # Why the value is believed beyond the extractor's word, in a reviewer's words ("verified by a
    # reviewer on 3 documents from this sender"): vendor memory's evidence.
    evidence: tuple[str, ...] = ()
    # The review threshold the field was routed by (its type's, or its calibration's); None: unknown.
    threshold: float | None = None
