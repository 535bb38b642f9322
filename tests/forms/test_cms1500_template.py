"""CMS-1500 forms through the whole pipeline with the real OCR engine: digital fills read
exactly, a scan registered by the form's printed labels, and a document that is not the form
left to the configured extractor. Fills are generated from the blank form in the shared datasets."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.rules import RulesExtractor
from docproc.pipeline.extract.template import TemplateExtractor
from docproc.pipeline.registry import get_engine
from docproc.pipeline.runner import Limits, process_file
from docproc.pipeline.types import DocumentText, PageWords, Word

CMS = get_doctype("cms1500")


def _ocr():
    return get_engine("ocr", "rapidocr")


@pytest.fixture
def blank_form(datasets):
    form = datasets / "forms" / "cms1500_blank.pdf"
    if not form.is_file():
        pytest.skip("the blank CMS-1500 form is not in the shared datasets")
    return form


def test_committed_template_is_what_the_form_gives(blank_form):
    """The generator, run on the blank form (labels as committed), writes the committed geometry."""
    from docproc.pipeline.extract.template_build import TEMPLATE_DIR, build_template

    committed = json.loads((TEMPLATE_DIR / "cms1500.json").read_text())
    labels = tuple(Word(f"p1-w{i}", lab["text"], tuple(lab["bbox"]), 0.99)
                   for i, lab in enumerate(committed["labels"]))
    built = build_template(blank_form, name="cms1500",
                           ocr_words=PageWords(1, 2550, 3300, labels, "ocr", "rapidocr", "x"))
    assert built["fields"] == committed["fields"]
    assert built["widgets"] == committed["widgets"]
    assert built["page_size"] == [612.0, 792.0]
    # box 33a (billing NPI) is the widget left of 33b, on the bottom row of box 33
    npi = committed["fields"]["billing_npi"]["parts"][0]["rect"]
    assert npi[0] > 0.6 and npi[1] > 0.9


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11, 29])
def test_digital_fills_give_every_field_exactly(blank_form, tmp_path, seed):
    """Given a filled, flattened form (values in the text layer, labels drawn), when processed with
    the rules extractor, every field equals the truth, is auto-accepted and has a box on page 1,
    and the result says those fields came from the template."""
    from fixtures.cms1500 import write_cms1500

    pdf = tmp_path / "claim.pdf"
    truth = write_cms1500(blank_form, pdf, seed)
    result = process_file(pdf, CMS, ocr=_ocr, extractor=RulesExtractor(), limits=Limits())
    got = {f.name: f for f in result.fields}
    assert set(truth) == set(CMS.field_names)
    for name, value in truth.items():
        field = got[name]
        assert field.value == value, (name, field.value, value)
        # The value is the text layer's; its box is the page's OCR words, and where those read
        # differently (an "I" missed in "I10") the weaker grounding sends the field to a person.
        if field.signals["grounding"] == 1.0:
            assert field.status == "auto_accepted", (name, field.confidence, field.messages)
        assert field.page == 1 and field.bbox is not None
    assert sum(f.status == "auto_accepted" for f in result.fields) >= len(truth) - 1
    assert sorted(result.engines["extract"]["template_fields"]) == sorted(CMS.field_names)
    assert result.engines["extract"]["engine"] == "rules"
    assert all(c.extra["text_layer"] for c in result.extraction.candidates)


@pytest.mark.slow
def test_extract_command_reads_a_digital_fill(blank_form, tmp_path):
    from fixtures.cms1500 import write_cms1500

    pdf = tmp_path / "in" / "form.pdf"
    truth = write_cms1500(blank_form, pdf, 47)
    call_command("extract", "--doc-type", "cms1500", "--out", str(tmp_path / "out"), "--no-progress", str(pdf))
    result = json.loads((tmp_path / "out" / "form.json").read_text())
    assert {name: f["value"] for name, f in result["fields"].items()} == truth
    assert sorted(result["engines"]["extract"]["template_fields"]) == sorted(truth)


@pytest.mark.slow
def test_a_scanned_fill_registers_by_its_labels(blank_form, tmp_path):
    """Given a 200 DPI scan, skewed and noisy, the key coded fields come out right with boxes."""
    from fixtures.claims import write_scan
    from fixtures.cms1500 import write_cms1500

    pdf = tmp_path / "claim.pdf"
    truth = write_cms1500(blank_form, pdf, 5)
    scan = write_scan(pdf, tmp_path / "scan.png", dpi=200, skew=1.5, noise=0.04, seed=5)
    result = process_file(scan, CMS, ocr=_ocr, extractor=RulesExtractor(), limits=Limits())
    got = {f.name: f for f in result.fields}
    for name in ("insured_id", "billing_npi", "tax_id", "diagnosis_code_1", "total_charge"):
        field = got[name]
        assert field.value == truth[name], (name, field.value, truth[name])
        assert field.page == 1 and field.bbox is not None
        assert all(0.0 <= v <= 1.0 for v in field.bbox)
    regs = {c.extra["registration"] for c in result.extraction.candidates if c.extra.get("source") == "template"}
    assert regs == {"anchors"}


@pytest.mark.slow
@pytest.mark.parametrize("turned", [0, 180])
def test_a_scanned_form_is_turned_upright_where_the_direction_classifier_hardly_leans(blank_form, tmp_path, turned):
    """The bench's second CMS-1500 scan (fill 1001 at 300 DPI) was turned upside down before OCR:
    over the form's short labels the direction classifier voted -0.08, and the template then
    registered to a flipped page and read label text for six fields. The recogniser, which reads
    the lines far better the right way up, now decides such a vote: the scan stays upright, and
    the same scan upside down is turned."""
    from PIL import Image

    from docproc.pipeline.preprocess import prepare_page
    from docproc.pipeline.render import page_image
    from fixtures.claims import generate_dataset

    generate_dataset(tmp_path, count=0, cms1500_form=blank_form, cms1500_count=2, cms1500_scans=True)
    scan = tmp_path / "cms1500-scans" / "cms1500-001.png"
    if turned:
        Image.open(scan).rotate(turned, expand=True).save(scan)
    engine = _ocr()
    caps = engine.capabilities
    page = page_image(scan, "image/png", 1, dpi=200, max_image_pixels=Limits().max_image_pixels)
    upright = prepare_page(page, target_char_height=caps.target_char_height, scorer=caps.upright_score,
                           orienter=caps.orientation)
    assert upright.rotation == turned


@pytest.mark.slow
def test_a_scanned_charge_read_as_one_number_waits_for_a_person(blank_form, tmp_path):
    """On that scan the total charge "2351|83" (dollars and cents in their own boxes) is read as
    one word, "235183", and was auto-accepted so. The template's value stays as a suggestion and
    waits for a person to place the point; the other fields of the form still read."""
    from docproc.pipeline.runner import POINT_UNPLACED
    from fixtures.claims import generate_dataset

    generate_dataset(tmp_path, count=0, cms1500_form=blank_form, cms1500_count=2, cms1500_scans=True)
    result = process_file(tmp_path / "cms1500-scans" / "cms1500-001.png", CMS, ocr=_ocr, extractor=RulesExtractor(),
                          limits=Limits())
    got = {f.name: f for f in result.fields}
    charge = got["total_charge"]
    assert charge.value == "235183" and charge.status == "needs_review" and POINT_UNPLACED in charge.messages
    assert got["insured_id"].value == "XK752612831" and got["tax_id"].value == "99-4146436"


def test_a_document_that_is_not_the_form_yields_no_template_values(tmp_path, blank_form):
    """A generated claim PDF processed as a CMS-1500 does not register: the rules' values stand."""
    from fixtures.claims import make_claim, write_claim_pdf

    pdf = write_claim_pdf(make_claim(77), tmp_path / "claim.pdf", layout="boxed")
    result = process_file(pdf, CMS, ocr=_ocr, extractor=RulesExtractor(), limits=Limits())
    assert result.pages[0].source == "text-layer"
    assert result.engines["extract"]["template_fields"] == []
    assert TemplateExtractor().extract(DocumentText(result.pages), CMS).candidates == ()
