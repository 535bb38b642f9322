"""Form-template extraction: a known form's fields read from where the form puts them.

The page is first registered to the template (``template_geometry``: anchors fitted by an
affine transform for a scan, identity for a digital fill whose text layer holds the values).
A field's value is then the words whose centres fall in its (transformed, padded) rectangles,
in reading order, label words left out; multi-box fields (a date in three boxes, an address in
four) are composed by the template's format. A document that does not register yields no
candidates at all, so the caller keeps its configured extractor's values.

Pure: no Django. Values from a digital fill's text layer are exact; the word ids given are
those of the document's own words (text layer or OCR) inside the same rectangles, for boxes.
"""

from __future__ import annotations

import re

from docproc.doctypes import DocType, FieldSpec

from ..forms import FORM_FIELD, widget_values
from ..types import Candidate, DocumentText, ExtractionOutput, PageWords, Word
from ..validate import normalize_field
from .template_build import anchor_key
from .template_geometry import (
    IDENTITY,
    LABEL_RADIUS,
    MIN_ANCHORS,
    PAD,
    Affine,
    FormTemplate,
    Registration,
    TemplateMissing,
    _centre,
    _inside,
    _invert,
    _rect,
    load_template,
    register_by_anchors,
    register_identity,
)

__all__ = ["MIN_ANCHORS", "FormTemplate", "Registration", "TemplateExtractor", "TemplateMissing", "load_template",
           "merge_template", "register_by_anchors", "register_identity", "template_fields", "tidy"]

VERSION = "1"


def reading_order(words: list[Word]) -> list[Word]:
    """Top to bottom by visual line (centres within half a word's height), left to right."""
    if not words:
        return []
    ordered = sorted(words, key=lambda w: _centre(w.bbox)[1])
    lines: list[list[Word]] = [[ordered[0]]]
    for w in ordered[1:]:
        last = lines[-1]
        height = max(1e-6, sum(x.bbox[3] - x.bbox[1] for x in last) / len(last))
        if abs(_centre(w.bbox)[1] - _centre(last[-1].bbox)[1]) <= height / 2:
            last.append(w)
        else:
            lines.append([w])
    return [w for line in lines for w in sorted(line, key=lambda x: x.bbox[0])]


def _label_words(template: FormTemplate, t: Affine, words: list[Word]) -> set[str]:
    """Ids of words that are the form's own printed labels at their registered place."""
    placed: list[tuple[str, tuple[float, float, float, float]]] = []
    for text, bbox, _ in template.labels:
        key = anchor_key(text)
        if key:
            x0, y0, x1, y1 = _rect(t, bbox, 0.0)
            # around the label's own box: a long label split in two has pieces off its centre
            placed.append((key, (x0 - LABEL_RADIUS / 2, y0 - LABEL_RADIUS / 2, x1 + LABEL_RADIUS / 2, y1 + LABEL_RADIUS / 2)))
    found: set[str] = set()
    for w in words:
        key = anchor_key(w.text)
        centre = _centre(w.bbox)
        near = [(k, box) for k, box in placed if _inside(centre, box)]
        # The same label, or a piece of one that the page's reading split differently
        # ("MENT?" of "ASSIGNMENT?"); a lone "$" or "." printed inside a box is a label too.
        if not key and w.text.strip() in {"$", ".", "|"}:
            found.add(w.id)
        elif key and any(k == key or (len(key) >= 3 and key in k) for k, _ in near):
            found.add(w.id)
    return found


def _words_in(rect: tuple[float, float, float, float], words: list[Word], skip: set[str],
              t: Affine = IDENTITY) -> list[Word]:
    """Words whose centres fall in ``rect`` (page coordinates), in the form's reading order:
    ordered where the template puts them, so that a page registered upside down reads right."""
    inside = [w for w in words if w.id not in skip and _inside(_centre(w.bbox), rect)]
    if t == IDENTITY:
        return reading_order(inside)
    back = _invert(t)
    by_id = {w.id: w for w in inside}
    upright = [Word(w.id, w.text, _rect(back, w.bbox, 0.0), w.confidence) for w in inside]
    return [by_id[w.id] for w in reading_order(upright)]


def _compose(fmt: str, parts: dict[str, str]) -> str | None:
    if not any(parts.values()):
        return None
    text = fmt.format(**parts)
    # A missing part leaves its separators behind: drop them rather than invent structure.
    text = re.sub(r"\s*,\s*(?=,|$)", "", text)
    text = re.sub(r"^\s*[,/]\s*|\s*[/]\s*$", "", text)
    text = re.sub(r"//+", "/", text)
    return re.sub(r"\s+", " ", text).strip(" ,") or None


_PATTERNS = {
    "icd10": re.compile(r"(?<![A-Z0-9])[A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?(?![A-Z0-9])"),
    "npi": re.compile(r"(?<!\d)\d{10}(?!\d)"),
    "ein_or_ssn": re.compile(r"(?<!\d)(?:\d{2}-?\d{7}|\d{3}-?\d{2}-?\d{4})(?!\d)"),
}


def tidy(spec: FieldSpec, value: str) -> tuple[str, bool]:
    """(value, trimmed): an amount's dollars and cents boxes joined ("1070 77" -> "1070.77",
    a printed "$" dropped); a coded value cut to the one part of it that has the code's shape
    ("A.E11.9" -> "E11.9", the box's printed item letter read with it)."""
    if spec.type == "amount":
        tokens = [t for t in re.findall(r"[\d.,]+", value) if re.search(r"\d", t)]
        if len(tokens) == 2 and "." not in tokens[0] and re.fullmatch(r"\.?\d{2}", tokens[1]):
            joined = f"{tokens[0]}.{tokens[1].lstrip('.')}"
            return joined, joined != value
        if len(tokens) == 1:
            return tokens[0], tokens[0] != value
        return value, False
    for name in spec.validators:
        pattern = _PATTERNS.get(name)
        if pattern is None:
            continue
        hits = pattern.findall(value.upper())
        if len(hits) == 1 and hits[0] != value.strip().upper():
            return hits[0], True
    return value, False


def _passes(spec: FieldSpec, value: str) -> bool:
    _, messages = normalize_field(spec, value, day_first=False)
    return not messages


class TemplateExtractor:
    """Reads a document type's fields from its form template. ``extract`` returns candidates
    only for a registered document (none otherwise); ``extra`` on each candidate records
    ``source="template"``, the registration and, for a digital fill, ``text_layer=True``."""

    name = "template"
    version = VERSION

    def __init__(self, template: FormTemplate | None = None) -> None:
        self.template = template

    def _template(self, doctype: DocType) -> FormTemplate:
        if self.template is not None:
            return self.template
        return load_template(getattr(doctype, "template", "") or doctype.name)

    def register(self, document: DocumentText, doctype: DocType,
                 text_layers: dict[int, PageWords] | None = None) -> Registration | None:
        """The best registered page: anchors on any page, else a text layer that fits the form."""
        template = self._template(doctype)
        best: Registration | None = None
        for page in document.pages:
            reg = register_by_anchors(template, page)
            if reg is not None and (best is None or best.kind != "anchors" or reg.anchors > best.anchors):
                best = reg
        if best is not None:
            return best
        for page in document.pages:
            layer = (text_layers or {}).get(page.page, page)
            reg = register_identity(template, layer)
            if reg is not None:
                return reg
        return None

    def extract(self, document: DocumentText, doctype: DocType, *,
                text_layers: dict[int, PageWords] | None = None) -> ExtractionOutput:
        """Candidates for the template's fields of a registered document; none otherwise.

        ``text_layers`` (page -> the PDF's own text layer) lets a digital fill whose pages were
        OCR'd (its labels are drawn, not text) take its values exactly from the text layer,
        when that layer fits the form where the page registered.
        """
        template = self._template(doctype)
        engine_version = f"{VERSION}/{template.name}-{template.version}"
        typed = self.from_widgets(document, doctype, template)
        reg = self.register(document, doctype, text_layers)
        if reg is None:
            return ExtractionOutput(candidates=typed, engine=self.name, engine_version=engine_version)
        page = next(p for p in document.pages if p.page == reg.page)
        layer = (text_layers or {}).get(reg.page)
        value_layer: PageWords | None = None
        if reg.kind == "identity":
            value_layer = layer or page
        elif layer is not None and register_identity(template, layer) is not None:
            value_layer = layer
        page_words = list(page.words)
        labels = _label_words(template, reg.transform, page_words)
        candidates = []
        for spec in doctype.fields:
            entry = template.fields.get(spec.name)
            if entry is None:
                continue
            parts: dict[str, str] = {}
            ids: list[str] = []
            confidences: list[float] = []
            for part in entry["parts"]:
                rect = _rect(reg.transform, part["rect"], PAD)
                own = _words_in(rect, page_words, labels, reg.transform)
                ids += [w.id for w in own]
                if value_layer is not None and value_layer is not page:
                    exact = _words_in(_rect(IDENTITY, part["rect"], PAD), list(value_layer.words), set())
                    parts[part["widget"]] = " ".join(w.text for w in exact)
                else:
                    parts[part["widget"]] = " ".join(w.text for w in own)
                    confidences += [w.confidence for w in own]
            value = _compose(entry["format"], parts)
            if value is None:
                continue
            value, trimmed = tidy(spec, value)
            # Belief rests on the words the value kept (not on a stray piece a tidy dropped).
            kept = anchor_key(value)
            confidences = [w.confidence for w in page_words if w.id in ids and anchor_key(w.text)
                           and anchor_key(w.text) in kept] if confidences else []
            digital = value_layer is not None
            valid = _passes(spec, value)
            if digital:
                belief = 0.99 if valid and not trimmed else 0.6
            else:
                belief = reg.quality * (min(confidences) if confidences else 0.5)
                belief = belief * (1.0 if valid else 0.6) * (0.97 if trimmed else 1.0)
                if reg.loose and not (valid and spec.validators):
                    belief *= 0.8  # only a check digit or code shape vouches for a value then
                belief = round(belief, 4)
            extra = {"source": "template", "template": template.name, "registration": reg.kind,
                     "anchors": reg.anchors, "matched": reg.matched, "fit_residual": reg.residual, "text_layer": digital,
                     "valid": valid, "trimmed": trimmed}
            if not digital and spec.type == "amount" and re.fullmatch(r"\d{3,}", value):
                # A scanned box's dollars and cents read as one number ("2351|83" as "235183"):
                # where the point goes is a guess, and a person's to make.
                extra["point_unplaced"] = True
            candidates.append(Candidate(spec.name, value, belief, tuple(ids), extra=extra))
        # A field typed into its widget is the value itself; the box read of the page only fills
        # the fields nobody typed.
        by_widget = {c.name: c for c in typed}
        merged = [by_widget.pop(c.name, c) for c in candidates]
        return ExtractionOutput(candidates=(*merged, *by_widget.values()), engine=self.name,
                                engine_version=engine_version)

    def from_widgets(self, document: DocumentText, doctype: DocType, template: FormTemplate) -> tuple[Candidate, ...]:
        """Candidates from the document's filled AcroForm widgets (``source="form_field"``
        words): a template part takes the widget of its name, or else, on a page of the form's
        shape, the form-field word whose box centre lies in the part's rectangle. The value is
        what was typed, so its belief is full (1.0); checks still apply downstream."""
        candidates: list[Candidate] = []
        pages = [p for p in document.pages if any(w.source == FORM_FIELD for w in p.words)]
        if not pages:
            return ()
        for spec in doctype.fields:
            entry = template.fields.get(spec.name)
            if entry is None:
                continue
            for page in pages:
                named = widget_values(page)
                same_shape = abs(page.width / page.height - template.page_size[0] / template.page_size[1]) <= 0.01
                typed_words = [w for w in page.words if w.source == FORM_FIELD]
                parts: dict[str, str] = {}
                ids: list[str] = []
                for part in entry["parts"]:
                    word = named.get(part["widget"])
                    if word is None and same_shape:
                        rect = _rect(IDENTITY, part["rect"], PAD)
                        inside = [w for w in typed_words if _inside(_centre(w.bbox), rect)]
                        word = inside[0] if len(inside) == 1 else None
                    if word is not None:
                        parts[part["widget"]] = word.text
                        ids.append(word.id)
                    else:
                        parts[part["widget"]] = ""
                value = _compose(entry["format"], parts)
                if value is None:
                    continue
                value, trimmed = tidy(spec, value)
                candidates.append(Candidate(
                    spec.name, value, 1.0, tuple(ids),
                    extra={"source": "template", "template": template.name, "registration": "form_field",
                           "anchors": 0, "matched": 0, "fit_residual": 0.0, "text_layer": False, "form_field": True,
                           "valid": _passes(spec, value), "trimmed": trimmed},
                ))
                break
        return tuple(candidates)


REPLACE_AT = 0.8  # a template value at least this believed replaces the configured extractor's
DISAGREE_CAP = 0.5  # the configured extractor's belief where a registered form's box reads otherwise


def merge_template(document: DocumentText, doctype: DocType, output: ExtractionOutput, *,
                   text_layers: dict[int, PageWords] | None = None,
                   extractor: TemplateExtractor | None = None) -> ExtractionOutput:
    """``output`` with the fields a registered form template reads confidently in place of the
    configured extractor's. Each replaced candidate's ``extra`` says ``source="template"``, the
    template engine and version, and the value it replaced; the output's engine stays the
    configured one (its calibration is not applied to template values). Where the template reads
    a field's box but not confidently, a configured value that differs keeps its value with its
    belief capped at ``DISAGREE_CAP`` and ``extra["template_value"]``. Unchanged when the
    document type has no template, the template file is missing or the document does not register."""
    if not doctype.template:
        return output
    try:
        found = (extractor or TemplateExtractor()).extract(document, doctype, text_layers=text_layers)
    except TemplateMissing:
        return output
    # A typed widget value replaces the extractor's whatever its checks say: it is what the
    # document holds, and a failed check sends it to review downstream.
    confident = {c.name: c for c in found.candidates
                 if c.value is not None and (c.extra.get("form_field")
                                             or (c.model_confidence >= REPLACE_AT and c.extra.get("valid")))}
    doubtful = {c.name: c for c in found.candidates if c.name not in confident and c.value is not None}
    if not confident and not doubtful:
        return output
    previous = {c.name: c for c in output.candidates}
    merged = []
    for c in output.candidates:
        if c.name in confident:
            t = confident[c.name]
            merged.append(Candidate(t.name, t.value, t.model_confidence, t.word_ids, extra={
                **t.extra, "engine": found.engine, "engine_version": found.engine_version,
                "replaced_value": c.value}))
        elif c.name in doubtful and c.value is not None and anchor_key(str(c.value)) != anchor_key(doubtful[c.name].value or ""):
            # The document is the form, and what its box holds reads otherwise: two readers
            # disagree, so the configured extractor's value goes to a person.
            merged.append(Candidate(c.name, c.value, min(c.model_confidence, DISAGREE_CAP), c.word_ids, extra={
                **c.extra, "template_value": doubtful[c.name].value}))
        else:
            merged.append(c)
    for name, t in confident.items():
        if name not in previous:
            merged.append(Candidate(t.name, t.value, t.model_confidence, t.word_ids, extra={
                **t.extra, "engine": found.engine, "engine_version": found.engine_version, "replaced_value": None}))
    return ExtractionOutput(
        candidates=tuple(merged),
        engine=output.engine,
        engine_version=output.engine_version,
        prompt_version=output.prompt_version,
        fallback_reason=output.fallback_reason,
        calls=output.calls,
        calibration_version=output.calibration_version,
    )


def template_fields(output: ExtractionOutput) -> tuple[str, ...]:
    """The fields of ``output`` whose values came from a form template."""
    return tuple(c.name for c in output.candidates if c.extra.get("source") == "template")
