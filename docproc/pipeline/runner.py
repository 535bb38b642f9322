"""The pipeline end to end, as pure functions over a file on disk.

The API's workers and ``manage.py extract`` both run these functions; the workers pass a
stage cache backed by the database so that a retried task reuses finished pages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from docproc.doctypes import DocType, FieldSpec
from docproc.doctypes.schema import ItemsSum

from . import codec
from .confidence import Calibration, calibration_for, combine, field_signals
from .date_order import for_document
from .evidence import field_check, printed_totals, text_plausibility
from .extract import Extractor
from .extract.rules import RulesExtractor
from .extract.template import REPLACE_AT, TemplateExtractor, merge_template, template_fields
from .extract.template_geometry import TemplateMissing, load_template
from .forms import merge_form_widgets, read_form_widgets
from .grounding import ground
from .ingest import ingest_file
from .labels import LABEL_MESSAGE, label_text
from .layout import LayoutEngine
from .memory import (
    MemoryOptions,
    MemoryReport,
    Recall,
    SenderFingerprint,
    WorkedExample,
    memory_apply,
    sender_fingerprint,
)
from .ocr import OcrEngine
from .ocr.second_reading import SIGNAL as SECOND_READING
from .ocr.second_reading import LineReader, SecondReading, rereader, second_readings
from .prefer_reading import TAKEN, Preferred, prefer_second_reading
from .preprocess import apply_transform, prepare_page
from .reading_order import order_words, renumber
from .render import page_image
from .textlayer import MIN_INK_COVERAGE, read_text_layer, text_layer_ink_coverage, text_layer_is_usable
from .types import (
    Candidate,
    DocumentRead,
    DocumentText,
    EngineUnavailable,
    ExtractionOutput,
    FieldResult,
    IngestedFile,
    MissingModel,
    PageImage,
    PageLayout,
    PageWords,
)
from .validate import cross_check, normalize_currency, normalize_field


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int = 200
    max_image_pixels: int = 80_000_000
    ocr_dpi: int = 300
    # share of a PDF page's text-like ink its text layer must cover to be read without OCR
    min_text_coverage: float = MIN_INK_COVERAGE


class StageCache(Protocol):
    """Stored stage results keyed by (page, stage, engine, engine version)."""

    def get(self, page: int, stage: str, engine: str, version: str) -> dict[str, Any] | None: ...

    def put(self, page: int, stage: str, engine: str, version: str, payload: dict[str, Any]) -> None: ...


StageCallback = Callable[[str, int | None], None]
# Receives the upright page image that an OCR'd page's boxes refer to (for the stored preview).
ImageCallback = Callable[[PageImage], None]


class Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 6)


def timed(function: Callable[..., Any], timings: Timings, stage: str) -> Callable[..., Any]:
    """``function``, each call's time added to ``timings``' ``stage``."""
    def run(*args: Any, **kwargs: Any) -> Any:
        with timings.stage(stage):
            return function(*args, **kwargs)
    return run


@dataclass(slots=True)
class DocumentResult:
    ingested: IngestedFile
    pages: tuple[PageWords, ...]
    fields: tuple[FieldResult, ...]
    extraction: ExtractionOutput
    timings: dict[str, float]
    engines: dict[str, Any] = field(default_factory=dict)
    layouts: tuple[PageLayout, ...] = ()  # one per page when a layout engine ran
    calibration_version: str = ""  # of the confidence calibration applied ("" when none)
    memory: MemoryReport | None = None  # for a type with ``memory: sender`` fields

    @property
    def status(self) -> str:
        return "auto_accepted" if all(f.status == "auto_accepted" for f in self.fields) else "needs_review"


def read_page(
    path: Path,
    ingested: IngestedFile,
    page: int,
    *,
    ocr: Callable[[], OcrEngine],
    limits: Limits,
    timings: Timings,
    cache: StageCache | None = None,
    on_stage: StageCallback | None = None,
    on_image: ImageCallback | None = None,
    charset: str = "all",
    detector: Mapping[str, float | int] | None = None,
) -> PageWords:
    """Words of one page (``read_page_words``) with the values of its filled AcroForm widgets
    flattened in (``forms.merge_form_widgets``): over a text layer or over OCR of a scan, the
    typed value wins where it overlaps what was read of the page."""
    words = read_page_words(path, ingested, page, ocr=ocr, limits=limits, timings=timings, cache=cache,
                            on_stage=on_stage, on_image=on_image, charset=charset, detector=detector)
    if ingested.content_type != "application/pdf":
        return words
    with timings.stage("form_fields"):
        return merge_form_widgets(words, read_form_widgets(path, page))


def read_page_words(
    path: Path,
    ingested: IngestedFile,
    page: int,
    *,
    ocr: Callable[[], OcrEngine],
    limits: Limits,
    timings: Timings,
    cache: StageCache | None = None,
    on_stage: StageCallback | None = None,
    on_image: ImageCallback | None = None,
    charset: str = "all",
    detector: Mapping[str, float | int] | None = None,
) -> PageWords:
    """Words of one page: the PDF text layer when usable and covering what is visible, else
    OCR of the rendered page made upright, deskewed and sized for the engine (``preprocess``).

    ``charset`` (the document type's: ``latin``, ``ascii``; ``all`` leaves the engine as
    configured) restricts the recogniser, and ``detector`` (the type's ``ocr`` settings) sets the
    text detector, of an engine that can (``for_reading``); the engine's version says so, so
    cached readings under other settings are not reused.

    ``on_image`` receives the upright image an OCR'd page's boxes refer to; on a cache hit the
    stored correction is applied to a fresh rendering instead of detecting it again.
    """
    if ingested.content_type == "application/pdf":
        if on_stage:
            on_stage("text_layer", page)
        with timings.stage("text_layer"):
            words = read_text_layer(path, page)
            usable = text_layer_is_usable(words) and text_layer_ink_coverage(path, page, words) >= limits.min_text_coverage
        if usable:
            return words
    engine = ocr_for_reading(ocr(), charset, detector)
    if cache is not None and (hit := cache.get(page, "ocr", engine.name, engine.version)) is not None:
        if on_image is not None:
            on_image(upright_again(path, ingested, page, hit.get("transform") or {}, limits=limits))
        return codec.page_words_from_dict(hit)
    if on_stage:
        on_stage("render", page)
    with timings.stage("render"):
        image = page_image(path, ingested.content_type, page, dpi=limits.ocr_dpi, max_image_pixels=limits.max_image_pixels)
    with timings.stage("preprocess"):
        caps = engine.capabilities
        image = prepare_page(image, target_char_height=caps.target_char_height, scorer=caps.upright_score,
                             orienter=caps.orientation)
    if on_image is not None:
        on_image(image)
    if on_stage:
        on_stage("ocr", page)
    with timings.stage("ocr"):
        words = engine.read(image)
    if cache is not None:
        payload = codec.page_words_to_dict(words)
        payload["transform"] = {"rotation": image.rotation, "skew": image.skew, "dpi": image.dpi}
        cache.put(page, "ocr", engine.name, engine.version, payload)
    return words


def upright_again(path: Path, ingested: IngestedFile, page: int, transform: Mapping[str, Any], *,
                  limits: Limits) -> PageImage:
    """The upright image an OCR'd page was read on, from a fresh rendering and the correction
    its stored reading recorded (``transform``: rotation, skew and the prepared page's dpi)."""
    image = page_image(path, ingested.content_type, page, dpi=limits.ocr_dpi, max_image_pixels=limits.max_image_pixels)
    dpi = float(transform.get("dpi") or image.dpi)
    return apply_transform(image, rotation=int(transform.get("rotation", 0)), skew=float(transform.get("skew", 0.0)),
                           scale=round(dpi / image.dpi, 4) if image.dpi else 1.0)


def ocr_images(path: Path, read: DocumentRead, *, cache: StageCache, limits: Limits) -> dict[int, PageImage]:
    """The upright images of ``read``'s OCR'd pages (as ``read_document(keep_ocr_images=True)``
    keeps them), for a stage that starts from a stored reading: each rebuilt from its stored OCR
    result's correction; a page whose result is no longer stored is left out."""
    images: dict[int, PageImage] = {}
    for page in read.pages:
        if page.source != "ocr" or page.page in read.images:
            continue
        hit = cache.get(page.page, "ocr", page.engine, page.engine_version)
        if hit is not None:
            images[page.page] = upright_again(path, read.ingested, page.page, hit.get("transform") or {}, limits=limits)
    return {**read.images, **images}


def ocr_for_reading(engine: OcrEngine, charset: str = "all",
                    detector: Mapping[str, float | int] | None = None) -> OcrEngine:
    """``engine`` reading under ``charset`` and ``detector`` settings where it can take them
    (``for_reading``); else itself, as configured."""
    adjust = getattr(engine, "for_reading", None)
    if (charset == "all" and not detector) or adjust is None:
        return engine
    return adjust(charset, detector)  # type: ignore[no-any-return]


def ocr_for_type(engine: OcrEngine, doctype: DocType) -> OcrEngine:
    """``engine`` as it reads the pages of ``doctype`` (its ``charset`` and ``ocr`` settings)."""
    return ocr_for_reading(engine, doctype.charset, doctype.ocr.given())


def text_share_for_type(engine: OcrEngine, doctype: DocType) -> float:
    """The share of a word box's height the text fills on ``doctype``'s OCR'd pages (the engine's
    ``text_share`` under the type's detector settings; 1.0 for an engine that does not say), for
    cutting the second reading's line crops."""
    return float(getattr(ocr_for_type(engine, doctype), "text_share", 1.0))


def layout_page(
    path: Path,
    ingested: IngestedFile,
    words: PageWords,
    *,
    engine: LayoutEngine,
    limits: Limits,
    timings: Timings,
    image: PageImage | None = None,
    cache: StageCache | None = None,
) -> tuple[PageWords, PageLayout]:
    """Regions of one page and its words in reading order (columns one after the other).

    A digital page goes to the engine's ``analyse_pdf`` when it has one (PDF structure); an
    engine that reads pixels gets ``image`` (the upright page OCR read) or a fresh rendering.
    """
    with timings.stage("layout"):
        hit = cache.get(words.page, "layout", engine.name, engine.version) if cache is not None else None
        if hit is not None:
            result = codec.page_layout_from_dict(hit)
        else:
            analyse_pdf = engine.capabilities.analyse_pdf
            if words.source == "text-layer" and analyse_pdf is not None:
                result = analyse_pdf(path, words)
            else:
                if image is None:
                    image = page_image(path, ingested.content_type, words.page, dpi=limits.ocr_dpi,
                                       max_image_pixels=limits.max_image_pixels)
                result = engine.analyse(image, words)
            if cache is not None:
                cache.put(words.page, "layout", engine.name, engine.version, codec.page_layout_to_dict(result))
        ordered = replace(words, words=renumber(words.page, order_words(words.words)))
    return ordered, result


# A label rule's value is settled without the model when its belief says a specific label
# ("Claim Number") or the value's shape (an email, a postcode) names it; a one-word label
# ("Total", "Date") only where the field's check proves it (the largest labelled total, the
# date by its label).
SETTLED_BELIEF = 0.93
LABELLED_BELIEF = 0.85
PROVED_BY_CHECK = ("amount", "date")
ITEMS_BELIEF = 0.9


def settled_before_model(document: DocumentText, doctype: DocType, *,
                         text_layers: dict[int, PageWords] | None = None) -> dict[str, Candidate]:
    """The fields read before any model with full evidence, so that the model is not asked them:
    a typed form widget or a confident form-template box, or a label rule's value that is
    labelled (see ``SETTLED_BELIEF``), valid by the field's validators and cross-checks, not
    printed label text, and found exactly in the document's words. A list is settled when the
    rules read its rows and the type's items-sum check holds with a settled total. Each
    returned candidate says ``extra["settled"]`` (``"form"`` or ``"rules"``)."""
    found: dict[str, Candidate] = {}
    if doctype.template:
        try:
            read = TemplateExtractor().extract(document, doctype, text_layers=text_layers)
        except TemplateMissing:
            read = None
        for c in read.candidates if read else ():
            if c.value is not None and (c.extra.get("form_field")
                                        or (c.model_confidence >= REPLACE_AT and c.extra.get("valid"))):
                found[c.name] = replace(c, extra={**c.extra, "settled": "form"})
    rules = {c.name: c for c in RulesExtractor().extract(document, doctype).candidates}
    labels = label_text(doctype, document, template_labels(doctype))
    normalized: dict[str, Any] = {}
    for spec in doctype.fields:
        cand = found.get(spec.name) or rules.get(spec.name)
        if cand is None or cand.value is None:
            continue
        if spec.name not in found and not _labelled_with_evidence(doctype, spec, cand, document):
            continue
        value, messages = normalize_field(spec, cand.value, day_first=doctype.day_first)
        if value is None or blocking(messages) or (not cand.extra.get("form_field") and labels.is_label(cand.value)):
            continue
        if not cand.extra.get("form_field") and ground(cand, document).score < 1.0:
            continue
        normalized[spec.name] = value
        found.setdefault(spec.name, replace(cand, extra={**cand.extra, "source": "rules", "settled": "rules"}))
    for name in [n for n in found if n not in normalized]:
        del found[name]  # a form value that does not normalise goes to the model and to a person
    doubted = cross_check(doctype, normalized, printed_totals(document, doctype))
    for name, messages in doubted.items():
        if blocking(messages):
            found.pop(name, None)
    for check in doctype.checks:
        # Rows are proved only by their sum: without a settled total they are the model's to read.
        if isinstance(check, ItemsSum) and check.items in found and check.total not in found:
            del found[check.items]
    return found


def _labelled_with_evidence(doctype: DocType, spec: FieldSpec, cand: Candidate, document: DocumentText) -> bool:
    if spec.type == "list":
        return cand.model_confidence >= ITEMS_BELIEF and any(
            isinstance(c, ItemsSum) and c.items == spec.name for c in doctype.checks)
    if spec.type == "amount":
        # Several totals are printed (before tax, before rounding): the settled one is the
        # largest labelled total, on a line that holds only its label, a currency and itself
        # ("TOTAL EXCL. GST 28.11" is a total of something else).
        normalized, _ = normalize_field(spec, cand.value, day_first=doctype.day_first)
        return (cand.model_confidence >= LABELLED_BELIEF and _alone_with_label(spec, cand, document)
                and field_check(doctype, spec, cand.value, normalized, document) == 1.0)
    if cand.model_confidence >= SETTLED_BELIEF:
        return True
    if cand.model_confidence < LABELLED_BELIEF or spec.type not in PROVED_BY_CHECK:
        return False
    normalized, _ = normalize_field(spec, cand.value, day_first=doctype.day_first)
    return field_check(doctype, spec, cand.value, normalized, document) == 1.0


def _alone_with_label(spec: FieldSpec, cand: Candidate, document: DocumentText) -> bool:
    """The value's line holds nothing but the value, words of the field's labels and currency signs."""
    ids = set(cand.word_ids)
    page = next((p for p in document.pages if any(w.id in ids for w in p.words)), None)
    if page is None:
        return False
    first = next(w for w in page.words if w.id in ids)
    line = [w for w in page.words if (w.block, w.line) == (first.block, first.line)]
    allowed = {re.sub(r"[^a-z0-9]", "", t.lower()) for label in spec.labels for t in label.split()}
    for w in line:
        token = re.sub(r"[^a-z0-9]", "", w.text.lower())
        if w.id in ids or not token or token in allowed or normalize_currency(w.text) is not None:
            continue
        return False
    return True


def with_settled(output: ExtractionOutput, doctype: DocType, settled: dict[str, Candidate]) -> ExtractionOutput:
    """``output`` (the model's answer for the open fields) with the settled fields' candidates,
    one per field of the type in its order."""
    asked = {c.name: c for c in output.candidates}
    candidates = tuple(settled.get(spec.name) or asked.get(spec.name) or Candidate(spec.name, None, 0.0)
                       for spec in doctype.fields)
    return replace(output, candidates=candidates)


def extraction_tokens(extraction: ExtractionOutput) -> dict[str, Any]:
    """Prompt and answer tokens of a document's model calls, the answer's tokens per field, the
    fields asked and those settled before the model (for the run record and the benches)."""
    live = [c for c in extraction.calls if not c.get("cache_hit")]
    by_field: dict[str, int] = {}
    for call in live:
        for name, n in (call.get("answer_tokens_by_field") or {}).items():
            by_field[name] = by_field.get(name, 0) + int(n)
    asked = sorted({n for c in extraction.calls for n in c.get("fields", ())})
    return {
        "prompt": sum(int(c.get("tokens_in", 0)) for c in live),
        "answer": sum(int(c.get("tokens_out", 0)) for c in live),
        "cached": sum(int(c.get("cached_tokens", 0)) for c in live),
        "answer_by_field": by_field,
        "calls": len(extraction.calls),
        "asked": asked,
        "settled": [c.name for c in extraction.candidates if c.extra.get("settled")],
        "lines_sent": sum(int(c.get("lines_sent", 0)) for c in extraction.calls),
        "lines": sum(int(c.get("lines", 0)) for c in extraction.calls),
    }


def run_extractor(document: DocumentText, doctype: DocType, extractor: Extractor, *,
                  text_layers: dict[int, PageWords] | None = None,
                  examples: tuple[WorkedExample, ...] = ()) -> ExtractionOutput:
    """The configured extractor, or the rules fallback (with the reason) when it is unavailable.

    An extractor that takes ``fields`` (``asks_fields``, the LLM backends) is asked only the
    fields ``settled_before_model`` leaves open; a document whose fields are all settled makes
    no model call. The settled candidates say ``extra["settled"]``.

    A document type with a form template then has the fields the template reads confidently
    from a registered document replaced (``extra["source"] == "template"`` on those candidates);
    ``text_layers`` (page -> PDF text layer, for OCR'd PDF pages) lets a digital fill's values be
    read exactly. ``examples`` (worked examples of the same sender) go to an extractor that
    takes them (``accepts_examples``: the LLM backends); the others never see them."""
    doctype = for_document(doctype, document)
    settled: dict[str, Candidate] | None = None
    given = {"examples": examples} if examples and getattr(extractor, "accepts_examples", False) else {}
    try:
        if getattr(extractor, "asks_fields", False):
            settled = settled_before_model(document, doctype, text_layers=text_layers)
            open_fields = tuple(n for n in doctype.field_names if n not in settled)
            output = with_settled(extractor.extract(document, doctype, fields=open_fields, **given),  # type: ignore[call-arg]
                                  doctype, settled)
        elif given:
            output = extractor.extract(document, doctype, **given)  # type: ignore[call-arg]
        else:
            output = extractor.extract(document, doctype)
    except (EngineUnavailable, MissingModel) as exc:
        fallback = RulesExtractor().extract(document, doctype)
        output = ExtractionOutput(
            candidates=fallback.candidates,
            engine=fallback.engine,
            engine_version=fallback.engine_version,
            fallback_reason=f"{extractor.name}: {exc.code}: {exc.detail}",
            calls=exc.calls,
        )
    return merge_template(document, doctype, output, text_layers=text_layers)


FALLBACK_REASON = "read by the backup label rules because the extraction model was unavailable"
LOW_OCR = 0.8  # a field's weakest word below this OCR confidence is named as a reason


NOT_BY_LABEL = "not printed by any of its labels: a person checks where it was read"
POINT_UNPLACED = "read as one number where the form's box may print dollars and cents apart: a person places the point"


def blocking(messages: tuple[str, ...]) -> tuple[str, ...]:
    """The messages that stop a field being auto-accepted: all but warnings."""
    return tuple(m for m in messages if not m.startswith("warning:"))


def doubts(signals: dict[str, float]) -> tuple[str, ...]:
    """What in a value's evidence says a person must choose, whatever its confidence: the OCR
    engine doubts its words (below ``LOW_OCR``), or the field's check only half supports it (an
    amount that is one of several printed totals but not the one paid, a date that is one of
    several printed without its label). A valid value may still be doubtful; it waits for a person."""
    out = []
    if signals.get("ocr", 1.0) < LOW_OCR:
        out.append(f"low OCR confidence of its words ({signals['ocr']:.2f})")
    if signals.get("check") == 0.5:
        out.append("one of several values the document prints for this field: a person chooses")
    if signals.get(TAKEN):
        out.append("taken from a second reading where the two readings differ: a person confirms it")
    return tuple(out)


def template_labels(doctype: DocType) -> tuple[str, ...]:
    if not doctype.template:
        return ()
    try:
        return tuple(text for text, _, _ in load_template(doctype.template).labels)
    except TemplateMissing:
        return ()


def _reasons(*, cand: Candidate, confidence: float, threshold: float, messages: tuple[str, ...],
             signals: dict[str, float], fallback: bool) -> tuple[str, ...]:
    """Why a field waits for a person, each reason once, in a reviewer's words."""
    reasons: list[str] = []
    if cand.value is None:
        reasons.append("not found in the document")
    if fallback:
        reasons.append(FALLBACK_REASON)
    reasons.extend(m for m in blocking(messages) if not m.startswith("missing:"))
    if cand.value is not None and signals.get("grounding", 1.0) == 0.0:
        reasons.append("not found in the document's words")
    if cand.value is not None:
        reasons.extend(doubts(signals))
    if confidence < threshold:
        reasons.append(f"confidence {confidence:.2f} is below its threshold {threshold:.2f}")
    return tuple(dict.fromkeys(reasons))


def _second_readings_taken(document: DocumentText, doctype: DocType, by_name: dict[str, Candidate],
                           reread: Callable[[tuple[str, ...]], SecondReading | None]) -> dict[str, Preferred]:
    """The fields whose second reading is the better one (``prefer_reading``): their candidates
    in ``by_name`` are replaced by it, on the same words; the reading is the one the field's
    signal is then taken from (``reread`` reads each set of words once)."""
    taken: dict[str, Preferred] = {}
    for spec in doctype.fields:
        cand = by_name.get(spec.name)
        if cand is None or cand.value is None or isinstance(cand.value, list) or cand.extra.get("form_field"):
            continue
        grounding = ground(cand, document)
        if not grounding.word_ids:
            continue
        better = prefer_second_reading(spec, str(cand.value), reread(grounding.word_ids), document,
                                       grounding.word_ids, day_first=doctype.day_first)
        if better is not None:
            by_name[spec.name] = replace(cand, value=better.value, word_ids=grounding.word_ids,
                                         extra={**cand.extra, "first_reading": cand.value, "taken": better.reason})
            taken[spec.name] = better
    return taken


def finish_fields(document: DocumentText, doctype: DocType, extraction: ExtractionOutput,
                  calibration: Calibration | None = None, *,
                  reread: Callable[[tuple[str, ...]], SecondReading | None] | None = None) -> tuple[FieldResult, ...]:
    """Normalise, validate, ground, score and route each candidate. With a ``calibration``
    the confidence is its probability that the value is right; else the uncalibrated combination.

    With ``reread`` (``ocr.second_reading.rereader``: the value's word ids -> a second reading of
    their lines, None for words it cannot read again), each value read by OCR is read again
    before it is routed: the agreement is its signal ``second_reading`` and, where the readings
    differ, a warning names the characters in doubt. The calibration does not weigh it: as a
    feature it lifted three wrong totals over their threshold on the shared receipts (the two
    readings agree on a misread total as well as on the right one).

    A value that is printed label text (``labels``) is invalid: normalised to None, with
    ``LABEL_MESSAGE``. A field is auto-accepted only when its confidence reaches its threshold,
    no message but a warning stands, and the values do not come from the fallback extractor;
    every other field carries its ``reasons``. A type whose ``date_order`` is ``auto`` reads the
    dates the way this document writes them (``date_order.for_document``)."""
    doctype = for_document(doctype, document)
    day_first = doctype.day_first
    by_name = {c.name: c for c in extraction.candidates}
    taken = _second_readings_taken(document, doctype, by_name, reread) if reread is not None else {}
    labels = label_text(doctype, document, template_labels(doctype))
    normalized: dict[str, Any] = {}
    messages: dict[str, tuple[str, ...]] = {}
    for spec in doctype.fields:
        cand = by_name.get(spec.name)
        normalized[spec.name], messages[spec.name] = normalize_field(spec, cand.value if cand else None, day_first=day_first)
        # A typed widget value is what the person filled in, never a copy of the page's print.
        if cand is not None and not cand.extra.get("form_field") and labels.is_label(cand.value):
            normalized[spec.name] = None
            messages[spec.name] = (LABEL_MESSAGE, *messages[spec.name])
    for name, extra in cross_check(doctype, normalized, printed_totals(document, doctype)).items():
        messages[name] = messages[name] + extra
    words_by_id = {w.id: w for w in document.words()}
    results: list[FieldResult] = []
    for spec in doctype.fields:
        cand = by_name.get(spec.name) or Candidate(spec.name, None, 0.0)
        grounding = ground(cand, document)
        check = field_check(doctype, spec, cand.value, normalized[spec.name], document)
        plausible = text_plausibility(cand.value) if spec.type in ("text", "name", "address") else None
        signals = field_signals(cand, grounding, document, blocking(messages[spec.name]), check, plausible)
        if (check == 0.0 and spec.labels and cand.value is not None and spec.name not in taken
                and not cand.extra.get("form_field") and cand.extra.get("source") != "template"):
            # A labelled value printed nowhere by its label was taken from elsewhere on the page
            # (the saeco invoice's customer number for its invoice number; the cash a customer
            # handed over, on the line below the total's): a person chooses.
            messages[spec.name] = (*messages[spec.name], NOT_BY_LABEL)
        if cand.extra.get("point_unplaced") and cand.value is not None:
            messages[spec.name] = (*messages[spec.name], POINT_UNPLACED)
        reading = (reread(grounding.word_ids) if reread is not None and grounding.word_ids and cand.value is not None
                   and not isinstance(cand.value, list) and not cand.extra.get("form_field") else None)
        if reading is not None:
            signals[SECOND_READING] = reading.agreement
            if spec.name in taken:
                signals[TAKEN] = 1.0
                messages[spec.name] = (*messages[spec.name], taken[spec.name].message)
            elif reading.doubtful:
                messages[spec.name] = (*messages[spec.name], reading.message())
        # A calibration fitted to the configured extractor says nothing about a template's values.
        calibrated = (calibration.score(doctype.name, spec.name, signals)
                      if calibration and cand.value is not None and cand.extra.get("source") != "template" else None)
        confidence = combine(signals) if calibrated is None else calibrated
        threshold = (spec.review_threshold if calibrated is None or calibration is None
                     else calibration.threshold(doctype.name, spec.name, spec.review_threshold))
        if cand.value is None:
            # Nothing found: a required field is a gap for a person; an optional one is only
            # trusted absent when the extractor says so with confidence.
            confidence = 0.0 if spec.required else round(cand.model_confidence, 4)
        fallback = bool(extraction.fallback_reason)
        accepted = (not fallback and confidence >= threshold and not blocking(messages[spec.name])
                    and not (cand.value is not None and doubts(signals)))
        value = cand.value
        if isinstance(value, list):
            printed: Any = value
        else:
            printed = None if value is None else str(value)
        results.append(
            FieldResult(
                name=spec.name,
                value=printed,
                normalized=normalized[spec.name],
                confidence=confidence,
                status="auto_accepted" if accepted else "needs_review",
                page=grounding.page,
                bbox=grounding.bbox,
                source=tuple(words_by_id[i].text for i in grounding.word_ids),
                word_ids=grounding.word_ids,
                # The fallback's cause stays in the run's record (engines.extract.fallback_reason)
                # and the audit log; the field says only that the backup rules read it.
                messages=messages[spec.name],
                signals=signals,
                provenance=("fallback" if fallback else "form_field" if cand.extra.get("form_field")
                            else "template" if cand.extra.get("source") == "template" else "extractor"),
                valid=not [m for m in blocking(messages[spec.name]) if not m.startswith("missing:")],
                reasons=() if accepted else _reasons(cand=cand, confidence=confidence, threshold=threshold,
                                                     messages=messages[spec.name], signals=signals, fallback=fallback),
                threshold=threshold,
            )
        )
    return tuple(results)


def read_document(
    path: Path,
    *,
    ocr: Callable[[], OcrEngine],
    limits: Limits,
    cache: StageCache | None = None,
    on_stage: StageCallback | None = None,
    on_image: ImageCallback | None = None,
    layout: Callable[[], LayoutEngine] | None = None,
    charset: str = "all",
    detector: Mapping[str, float | int] | None = None,
    keep_ocr_images: bool = False,
) -> DocumentRead:
    """Ingest and read every page: text layer or OCR (recognising ``charset`` with ``detector``
    settings: the document type's), form widgets, layout and reading order. Raises ``PipelineError`` with a code;
    whatever ``ocr`` raises when a page needs OCR passes through (a caller that only reads text
    layers gives a getter that raises). With ``keep_ocr_images`` the upright image of each OCR'd
    page is kept in ``images``, for a second reading of the chosen values' lines."""
    timings = Timings()
    if on_stage:
        on_stage("ingest", None)
    with timings.stage("ingest"):
        ingested = ingest_file(path, max_pages=limits.max_pages, max_image_pixels=limits.max_image_pixels)
    read: list[PageWords] = []
    layouts: list[PageLayout] = []
    images: dict[int, PageImage] = {}  # page -> the upright image OCR read, for a second reading
    for n in range(1, ingested.page_count + 1):
        upright: list[PageImage] = []

        def keep(image: PageImage, upright: list[PageImage] = upright) -> None:
            upright.append(image)
            if on_image is not None:
                on_image(image)

        words = read_page(path, ingested, n, ocr=ocr, limits=limits, timings=timings, cache=cache,
                          on_stage=on_stage, on_image=keep if layout is not None or keep_ocr_images else on_image,
                          charset=charset, detector=detector)
        if keep_ocr_images and upright and words.source == "ocr":
            images[n] = upright[0]
        if layout is not None:
            if on_stage:
                on_stage("layout", n)
            words, page_layout = layout_page(path, ingested, words, engine=layout(), limits=limits, timings=timings,
                                             image=upright[0] if upright else None, cache=cache)
            layouts.append(page_layout)
        read.append(words)
    return DocumentRead(ingested, tuple(read), tuple(layouts), dict(timings.seconds), images=images)


def extract_document(
    path: Path,
    doctype: DocType,
    read: DocumentRead,
    *,
    extractor: Extractor,
    on_stage: StageCallback | None = None,
    recall: Callable[[SenderFingerprint], Recall | None] | None = None,
    memory_options: MemoryOptions | None = None,
    calibrations: Callable[[str, str, str], Calibration | None] = calibration_for,
    second_reader: Callable[[], LineReader | None] | None = None,
    text_share: float = 1.0,
) -> DocumentResult:
    """Extract, ground, score and route the fields of a document already read. ``path`` is
    opened only for a form template's text layer under OCR'd PDF pages.

    With ``second_reader`` (returning None when there is none) and the OCR'd pages' images in
    ``read.images``, the lines of each value read by OCR are read again by it
    (``ocr.second_reading``; ``text_share`` is the OCR engine's): the agreement is the field's
    signal ``second_reading``, and where the readings differ a warning names the characters in
    doubt.

    ``calibrations`` finds the calibration for (engine, engine version, prompt version): the
    shipped ones by default; the service passes one that prefers a client's applied refit.

    For a type with ``memory: sender`` fields the sender's fingerprint is taken from the read
    pages (``result.memory``); ``recall`` looks it up in the vendor memory, whose worked examples
    go to the extractor and whose remembered values this document prints replace the extracted
    ones (``memory.memory_apply``)."""
    timings = Timings()
    timings.seconds.update(read.timings)
    pages, ingested, layouts = read.pages, read.ingested, read.layouts
    reader = second_reader() if second_reader is not None and read.images else None
    document = DocumentText(pages)
    doctype = for_document(doctype, document)
    fingerprint = sender_fingerprint(document) if any(f.memory == "sender" for f in doctype.fields) else None
    recalled = recall(fingerprint) if recall is not None and fingerprint is not None else None
    if on_stage:
        on_stage("extract", None)
    with timings.stage("extract"):
        text_layers = None
        if doctype.template and ingested.content_type == "application/pdf":
            # An OCR'd PDF page may still carry a form's filled values in its text layer.
            text_layers = {p.page: read_text_layer(path, p.page) for p in pages if p.source == "ocr"}
        extraction = run_extractor(document, doctype, extractor, text_layers=text_layers,
                                   examples=recalled.examples if recalled else ())
    calibration = None if extraction.fallback_reason else calibrations(
        extraction.engine, extraction.engine_version, extraction.prompt_version)
    if calibration is not None:
        extraction = replace(extraction, calibration_version=calibration.version)
    reread = (timed(rereader(pages, read.images, reader, text_share=text_share), timings, "second_reading")
              if reader is not None else None)
    with timings.stage("postprocess"):
        fields = finish_fields(document, doctype, extraction, calibration, reread=reread)
    # The second reading ran inside the postprocessing: its seconds are counted once, as its own.
    timings.seconds["postprocess"] = round(timings.seconds["postprocess"] - timings.seconds.get("second_reading", 0.0), 6)
    with timings.stage("postprocess"):
        memory = None
        if fingerprint is not None:
            fields, outcome = memory_apply(document, doctype, fields, recalled, options=memory_options or MemoryOptions(),
                                           fallback=bool(extraction.fallback_reason))
            memory = MemoryReport(fingerprint, entry=recalled.entry if recalled else "",
                                  similarity=recalled.similarity if recalled else 0.0, fields=outcome,
                                  examples=extraction.examples)
    if reader is not None and read.images:
        if on_stage:
            on_stage("second_reading", None)
        with timings.stage("second_reading"):
            fields = second_readings(fields, pages, read.images, reader, text_share=text_share)
    engines = {
        "pages": [{"page": p.page, "source": p.source, "engine": p.engine, "version": p.engine_version} for p in pages],
        "layout": [{"page": lay.page, "engine": lay.engine, "version": lay.engine_version,
                    "regions": [r.kind for r in lay.regions]} for lay in layouts],
        "extract": {"engine": extraction.engine, "version": extraction.engine_version,
                    "prompt_version": extraction.prompt_version, "fallback_reason": extraction.fallback_reason,
                    "calibration_version": extraction.calibration_version,
                    "template_fields": list(template_fields(extraction)),
                    # how this document's dates were read: a reviewer's date is read the same way
                    "date_order": doctype.date_order,
                    "tokens": extraction_tokens(extraction),
                    **({"examples": list(extraction.examples)} if extraction.examples else {})},
    }
    if memory is not None:
        engines["memory"] = memory.to_json()
    return DocumentResult(ingested, pages, fields, extraction, timings.seconds, engines,
                          layouts=tuple(layouts), calibration_version=extraction.calibration_version, memory=memory)


def process_file(
    path: Path,
    doctype: DocType,
    *,
    ocr: Callable[[], OcrEngine],
    extractor: Extractor,
    limits: Limits,
    cache: StageCache | None = None,
    on_stage: StageCallback | None = None,
    on_image: ImageCallback | None = None,
    layout: Callable[[], LayoutEngine] | None = None,
    recall: Callable[[SenderFingerprint], Recall | None] | None = None,
    memory_options: MemoryOptions | None = None,
    calibrations: Callable[[str, str, str], Calibration | None] = calibration_for,
    second_reader: Callable[[], LineReader | None] | None = None,
) -> DocumentResult:
    """Ingest, read every page, extract and route (``read_document`` then ``extract_document``).
    Raises ``PipelineError`` with a code.

    With ``layout``, each page also gets regions and its words are put in reading order; with
    ``recall``, the vendor memory takes part, and with ``second_reader`` the OCR'd values' lines
    are read again (see ``extract_document``).
    """
    read = read_document(path, ocr=ocr, limits=limits, cache=cache, on_stage=on_stage, on_image=on_image, layout=layout,
                         charset=doctype.charset, detector=doctype.ocr.given(),
                         keep_ocr_images=second_reader is not None)
    text_share = text_share_for_type(ocr(), doctype) if read.images else 1.0
    return extract_document(path, doctype, read, extractor=extractor, on_stage=on_stage, recall=recall,
                            memory_options=memory_options, calibrations=calibrations, second_reader=second_reader,
                            text_share=text_share)
