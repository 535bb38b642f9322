"""AcroForm widget values as page words, and CMS-1500 forms read from their widgets: a digital
fill saved from a viewer and a scanned blank form filled in its widgets, both generated from the
blank form in the shared datasets. OCR is a small fake here (it reads what a scan of the blank
form shows: labels); the real engine reads the same kinds in the benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.rules import RulesExtractor
from docproc.pipeline.forms import FORM_FIELD, FormWidget, merge_form_widgets, read_form_widgets
from docproc.pipeline.ocr import OcrCapabilities
from docproc.pipeline.render import render_pdf_page
from docproc.pipeline.runner import Limits, process_file
from docproc.pipeline.types import PageImage, PageWords, Word
from fixtures.cms1500 import write_cms1500, write_cms1500_widgets_over_scan

CMS = get_doctype("cms1500")
# Where the blank form prints labels inside or beside the value boxes (page fractions).
LABELS = {"28. TOTAL CHARGE": (0.62, 0.845, 0.73, 0.858), "2. PATIENT'S NAME": (0.04, 0.152, 0.2, 0.162),
          "$": (0.625, 0.862, 0.633, 0.873)}


class LabelsOnlyOcr:
    """What OCR finds on a scan of the blank form: its printed labels, nothing typed."""

    name = "labels-only"
    version = "1"
    capabilities = OcrCapabilities()

    def read(self, image: PageImage) -> PageWords:
        words = tuple(Word(f"p{image.page}-w{i}", text, box, 0.98) for i, (text, box) in enumerate(LABELS.items()))
        return PageWords(image.page, image.width, image.height, words, "ocr", self.name, self.version)


@pytest.fixture
def blank_form(datasets):
    form = datasets / "forms" / "cms1500_blank.pdf"
    if not form.is_file():
        pytest.skip("the blank CMS-1500 form is not in the shared datasets")
    return form


def _kinds(blank_form, tmp_path, seed):
    digital = tmp_path / "digital.pdf"
    truth = write_cms1500(blank_form, digital, seed, flatten=False)
    scanned = tmp_path / "over-scan.pdf"
    assert write_cms1500_widgets_over_scan(blank_form, scanned, seed) == truth
    return truth, {"digital": digital, "over-scan": scanned}


def test_widgets_of_every_kind_are_read_with_their_boxes(blank_form, tmp_path):
    """Given a form saved with text fields, a checked box and a chosen option in a group,
    when its widgets are read, each filled one gives its value and its rectangle; empty ones nothing."""
    truth, files = _kinds(blank_form, tmp_path, 7)
    for path in files.values():
        widgets = {w.name: w for w in read_form_widgets(path, 1)}
        assert widgets["t_charge"].value == truth["total_charge"] and widgets["t_charge"].kind == "text"
        assert widgets["pt_name"].value == truth["patient_name"]
        assert widgets["sex"].kind == "radio" and widgets["sex"].value == "M"
        assert "ssn" not in widgets and "pt_phone" not in widgets  # not filled
        x0, y0, x1, y1 = widgets["t_charge"].bbox
        assert 0.6 < x0 < x1 < 0.75 and 0.85 < y0 < y1 < 0.88  # box 28, near the foot of the page


def test_a_filled_widget_wins_over_the_words_read_under_it():
    page = PageWords(1, 612, 792, (
        Word("p1-w0", "Total", (0.1, 0.1, 0.2, 0.12), 0.9),
        Word("p1-w1", "Charge", (0.3, 0.1, 0.4, 0.12), 0.9),  # drawn in the widget's box
    ), "ocr", "fake", "1")
    merged = merge_form_widgets(page, (FormWidget(1, "t_charge", "text", "12.50", (0.28, 0.09, 0.5, 0.13)),))
    assert [w.text for w in merged.words] == ["Total", "12.50"]
    typed = merged.words[1]
    assert typed.source == FORM_FIELD and typed.widget == "t_charge" and typed.bbox == (0.28, 0.09, 0.5, 0.13)
    assert [w.id for w in merged.words] == ["p1-w0", "p1-w1"]


@pytest.mark.parametrize("kind", ["digital", "over-scan"])
def test_cms1500_from_its_widgets_not_its_labels(blank_form, tmp_path, kind):
    """Given a CMS-1500 whose values are only in its widgets (no text layer holds them) and an
    OCR that sees only the printed labels, when it is extracted, every field is the typed value,
    from the template at full evidence, boxed where the widget is, and nothing is a label."""
    truth, files = _kinds(blank_form, tmp_path, 11)
    result = process_file(files[kind], CMS, ocr=LabelsOnlyOcr, extractor=RulesExtractor(), limits=Limits(ocr_dpi=72))
    got = {f.name: f for f in result.fields}
    assert {name: got[name].value for name in truth} == truth
    for name in truth:
        assert got[name].status == "auto_accepted", (name, got[name].messages)
        assert got[name].confidence == 1.0
    assert sorted(result.engines["extract"]["template_fields"]) == sorted(truth)
    words = result.pages[0].words
    assert not any(w.text == "28. TOTAL CHARGE" for w in words if w.source == FORM_FIELD)
    charge = next(w for w in words if w.widget == "t_charge")
    assert got["total_charge"].bbox == charge.bbox


def test_the_preview_shows_the_values_typed_into_the_widgets(blank_form, tmp_path):
    """The rendered page (what the reviewer sees) has the typed value drawn in its box."""
    _, files = _kinds(blank_form, tmp_path, 5)
    for path in files.values():
        image = np.asarray(render_pdf_page(path, 1, dpi=100).image.convert("L"))
        h, w = image.shape
        x0, y0, x1, y1 = next(wd.bbox for wd in read_form_widgets(path, 1) if wd.name == "pt_name")
        ink = (image[int(y0 * h) + 2:int(y1 * h) - 1, int(x0 * w) + 2:int(x1 * w) - 2] < 128).mean()
        assert ink > 0.03, ink
