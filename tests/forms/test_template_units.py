"""The form-template extractor on synthetic pages built from the committed template: it needs
neither the blank form nor an OCR engine (those run in test_cms1500_template.py)."""

from __future__ import annotations

import math
import random

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.template import (
    MIN_ANCHORS,
    TemplateExtractor,
    load_template,
    merge_template,
    register_by_anchors,
    tidy,
)
from docproc.pipeline.types import Candidate, DocumentText, ExtractionOutput, PageWords, Word

CMS = get_doctype("cms1500")
VALUES = {  # widget -> printed value
    "insurance_id": "XK200780963", "pt_name": "DUBOIS, AIKO", "birth_mm": "08", "birth_dd": "25",
    "birth_yy": "1997", "ins_name": "DUBOIS, AIKO", "pt_street": "4180 MAPLE AVENUE", "pt_city": "SPRINGFIELD",
    "pt_state": "IL", "pt_zip": "62704", "ins_policy": "GRP73944", "diagnosis1": "E11.9",
    "t_charge": "1974 83", "pin": "1623192527", "tax_id": "65-1035333",
}


def _affine(scale_x: float, scale_y: float, degrees: float, dx: float, dy: float):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return (scale_x * c, -scale_y * s, dx, scale_x * s, scale_y * c, dy)


def _map(t, box):
    pts = [(t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]) for x in (box[0], box[2]) for y in (box[1], box[3])]
    return (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))


def _scan_page(t, *, keep_anchors: float = 1.0, labels: bool = True, seed: int = 0) -> PageWords:
    """An OCR'd scan of a filled form seen through ``t``: labels (some missed, a few misplaced),
    and each value word in the middle of its widget."""
    rng = random.Random(seed)
    template = load_template("cms1500")
    texts: list[tuple[str, tuple[float, float, float, float]]] = []
    if labels:
        for text, bbox, _ in template.labels:
            if rng.random() <= keep_anchors:
                texts.append((text, _map(t, bbox)))
        for text, _bbox, anchor in template.labels[:12]:  # misread places: outliers for the fit
            if anchor:
                texts.append((text, (0.9, 0.02, 0.95, 0.03)))
    for spec in template.fields.values():
        for part in spec["parts"]:
            x0, y0, x1, y1 = part["rect"]
            value = VALUES[part["widget"]]
            tokens = value.split()
            width = (x1 - x0) * 0.9 / max(1, len(value))
            x = x0 + 0.01 * (x1 - x0)
            for tok in tokens:
                box = (x, y0 + 0.2 * (y1 - y0), x + width * len(tok), y1 - 0.2 * (y1 - y0))
                texts.append((tok, _map(t, box)))
                x += width * (len(tok) + 1)
    # the printed "$" of box 28 sits inside the charge's widget
    charge = template.fields["total_charge"]["parts"][0]["rect"]
    texts.append(("$", _map(t, (charge[0] + 0.001, charge[1] + 0.002, charge[0] + 0.006, charge[3] - 0.002))))
    words = tuple(Word(f"p1-w{i}", text, box, 0.97, line=i) for i, (text, box) in enumerate(texts))
    return PageWords(1, 1700, 2200, words, "ocr", "synthetic", "0")


def test_committed_template_covers_every_field_inside_the_page():
    template = load_template("cms1500")
    assert set(template.fields) == set(CMS.field_names)
    for spec in template.fields.values():
        for part in spec["parts"]:
            x0, y0, x1, y1 = part["rect"]
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert sum(1 for *_, anchor in template.labels if anchor) >= 3 * MIN_ANCHORS


def test_a_skewed_scaled_scan_registers_and_gives_every_value():
    """Given a scan seen through a known affine (skew 1.5 degrees, margins, 20% of the labels
    missed and misplaced copies of others), when registered, the fit recovers the transform and
    each field reads its own words only, labels (the "$") left out."""
    t = _affine(0.93, 0.95, 1.5, 0.03, 0.02)
    doc = DocumentText((_scan_page(t, keep_anchors=0.8),))
    reg = TemplateExtractor().register(doc, CMS)
    assert reg is not None and reg.kind == "anchors" and reg.anchors >= MIN_ANCHORS
    assert all(abs(a - b) < 2e-3 for a, b in zip(reg.transform, t, strict=True)), reg.transform

    out = TemplateExtractor().extract(doc, CMS)
    got = {c.name: c.value for c in out.candidates}
    assert got == {
        "insured_id": "XK200780963", "patient_name": "DUBOIS, AIKO", "patient_dob": "08/25/1997",
        "insured_name": "DUBOIS, AIKO", "patient_address": "4180 MAPLE AVENUE, SPRINGFIELD, IL 62704",
        "policy_number": "GRP73944", "diagnosis_code_1": "E11.9", "total_charge": "1974.83",
        "billing_npi": "1623192527", "tax_id": "65-1035333",
    }
    for c in out.candidates:
        assert c.extra["source"] == "template" and c.extra["registration"] == "anchors"
        assert c.extra["text_layer"] is False and c.word_ids
        assert 0.8 <= c.model_confidence < 0.99  # a scan is never as sure as a digital fill


def test_too_few_anchors_refuse_and_leave_the_extractor_alone():
    """Given a page with only a handful of the form's labels, nothing registers: no template
    candidates, and the configured extractor's output passes through unchanged."""
    template = load_template("cms1500")
    few = [(text, bbox) for text, bbox, anchor in template.labels if anchor][: MIN_ANCHORS - 3]
    words = tuple(Word(f"p1-w{i}", text, bbox, 0.99) for i, (text, bbox) in enumerate(few))
    page = PageWords(1, 612, 792, words, "ocr", "synthetic", "0")
    doc = DocumentText((page,))
    assert register_by_anchors(template, page) is None
    assert TemplateExtractor().extract(doc, CMS).candidates == ()
    configured = ExtractionOutput((Candidate("insured_id", "X1", 0.5),), engine="rules", engine_version="1")
    assert merge_template(doc, CMS, configured) is configured


def test_a_values_only_text_layer_registers_as_identity_and_a_letter_does_not():
    """A digital fill's text layer (values in the widgets, no labels) reads exactly; the same
    page size holding ordinary text outside the widgets is not the form."""
    flat = _scan_page((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), labels=False)
    words = tuple(w for w in flat.words if w.text != "$")
    layer = PageWords(1, 612, 792, words, "text-layer", "pdfplumber", "0")
    out = TemplateExtractor().extract(DocumentText((layer,)), CMS)
    got = {c.name: c for c in out.candidates}
    assert got["billing_npi"].value == "1623192527" and got["billing_npi"].model_confidence == 0.99
    assert {c.extra["registration"] for c in out.candidates} == {"identity"}

    letter = tuple(Word(f"p1-w{100 + i}", f"word{i}", (0.1 + 0.05 * (i % 15), 0.4 + 0.02 * (i // 15), 0.14 + 0.05 * (i % 15),
                                                      0.41 + 0.02 * (i // 15)), 1.0) for i in range(90))
    mixed = PageWords(1, 612, 792, words + letter, "text-layer", "pdfplumber", "0")
    assert TemplateExtractor().extract(DocumentText((mixed,)), CMS).candidates == ()


def test_merge_replaces_only_confident_valid_values_and_says_so():
    t = _affine(1.0, 1.0, 0.0, 0.0, 0.0)
    doc = DocumentText((_scan_page(t),))
    configured = ExtractionOutput(
        tuple(Candidate(name, "WRONG", 0.4) for name in CMS.field_names), engine="rules", engine_version="1")
    merged = merge_template(doc, CMS, configured)
    assert merged.engine == "rules" and merged.engine_version == "1"
    by_name = {c.name: c for c in merged.candidates}
    assert by_name["billing_npi"].value == "1623192527"
    assert by_name["billing_npi"].extra["replaced_value"] == "WRONG"
    assert by_name["billing_npi"].extra["engine"] == "template"


def test_tidy_joins_dollars_and_cents_and_cuts_codes_to_their_shape():
    spec = CMS.field("total_charge")
    assert tidy(spec, "$ 1070 77") == ("1070.77", True)
    assert tidy(spec, "1974 .83") == ("1974.83", True)
    assert tidy(spec, "1974.83") == ("1974.83", False)
    assert tidy(CMS.field("diagnosis_code_1"), "A.E11.9") == ("E11.9", True)
    assert tidy(CMS.field("diagnosis_code_1"), "J45.909") == ("J45.909", False)
    assert tidy(CMS.field("billing_npi"), "NPI 1623192527") == ("1623192527", True)


def test_a_page_left_upside_down_registers_and_reads_in_the_forms_order():
    """The OCR's orientation step can leave a page turned 180 degrees; the fit takes the turn and
    each field's words are ordered where the form puts them, not where the page shows them."""
    t = _affine(0.96, 0.97, 180.5, 0.98, 0.99)
    doc = DocumentText((_scan_page(t, keep_anchors=0.9, seed=3),))
    reg = TemplateExtractor().register(doc, CMS)
    assert reg is not None and reg.kind == "anchors" and not reg.loose
    got = {c.name: c.value for c in TemplateExtractor().extract(doc, CMS).candidates}
    assert got["patient_name"] == "DUBOIS, AIKO"
    assert got["patient_address"] == "4180 MAPLE AVENUE, SPRINGFIELD, IL 62704"
    assert got["total_charge"] == "1974.83"


def test_a_mirrored_or_sheared_fit_is_refused():
    from docproc.pipeline.extract.template_geometry import _plausible

    assert _plausible(_affine(1.0, 1.0, 2.0, 0.0, 0.0))
    assert _plausible(_affine(0.9, 1.1, 90.0, 1.0, 0.0))
    assert not _plausible((-1.0, 0.0, 1.0, 0.0, 1.0, 0.0))  # mirrored
    assert not _plausible(_affine(1.0, 1.0, 20.0, 0.0, 0.0))  # not a scan's skew
    assert not _plausible((1.0, 0.4, 0.0, 0.0, 1.0, 0.0))  # sheared


def test_a_doubtful_template_reading_that_disagrees_sends_the_extractors_value_to_review():
    """On a registered form, a box the template reads without confidence (here an ICD-10 code
    that fails its shape) still disagrees with a label-anchored value lifted from elsewhere."""
    from docproc.pipeline.extract import template as tpl

    t = _affine(1.0, 1.0, 0.0, 0.0, 0.0)
    page = _scan_page(t)
    words = tuple(w if w.text != "E11.9" else Word(w.id, "E1!.9", w.bbox, 0.6) for w in page.words)
    doc = DocumentText((PageWords(1, 1700, 2200, words, "ocr", "synthetic", "0"),))
    configured = ExtractionOutput((Candidate("diagnosis_code_1", "Relate A-L", 0.95),
                                   Candidate("tax_id", "65-1035333", 0.95)), engine="rules", engine_version="1")
    merged = {c.name: c for c in merge_template(doc, CMS, configured).candidates}
    assert merged["diagnosis_code_1"].value == "Relate A-L"
    assert merged["diagnosis_code_1"].model_confidence == tpl.DISAGREE_CAP
    assert merged["diagnosis_code_1"].extra["template_value"] == "E1!.9"
    assert merged["tax_id"].extra["source"] == "template"
