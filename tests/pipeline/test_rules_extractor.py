"""The rules extractor on digital claims in every layout, through the pure pipeline."""

from __future__ import annotations

from dataclasses import replace

import pytest

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.rules import RulesExtractor
from docproc.pipeline.runner import Limits, process_file
from fixtures.claims import LAYOUTS, make_claim, write_claim_pdf


def no_ocr():
    raise AssertionError("a digital page must never be OCR'd")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_claim_field_in_every_layout(tmp_path, layout):
    for seed in range(3):
        truth = make_claim(seed * 7 + len(layout))
        pdf = write_claim_pdf(truth, tmp_path / f"{layout}-{seed}.pdf", layout=layout)
        result = process_file(pdf, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
        got = {f.name: f for f in result.fields}
        for name, value in truth.fields().items():
            assert got[name].value == value, (layout, name)
            assert got[name].status == "auto_accepted", (layout, name, got[name].messages)
            assert got[name].page == 1 and got[name].bbox is not None
        assert result.status == "auto_accepted"
        assert {p.source for p in result.pages} == {"text-layer"}


def test_items_that_do_not_add_up_to_the_printed_total_are_held_for_review(tmp_path):
    """The total read is the one printed on its line, but no printed line explains the items'
    sum: an item may be misread, so the total and the items wait for a person."""
    truth = replace(make_claim(3), amount_claimed="1.00")
    pdf = write_claim_pdf(truth, tmp_path / "bad-total.pdf")
    result = process_file(pdf, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
    got = {f.name: f for f in result.fields}
    assert got["amount_claimed"].value == "1.00"
    assert any(m.startswith("cross-check: line items add up to") for m in got["amount_claimed"].messages)
    assert got["amount_claimed"].status == "needs_review" and got["line_items"].status == "needs_review"


def test_a_total_that_is_not_the_printed_one_and_does_not_add_up_goes_to_review(tmp_path):
    from docproc.pipeline.runner import finish_fields, run_extractor
    from docproc.pipeline.types import Candidate, DocumentText

    truth = replace(make_claim(3), amount_claimed="1.00")
    pdf = write_claim_pdf(truth, tmp_path / "bad-total.pdf")
    result = process_file(pdf, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
    out = run_extractor(DocumentText(result.pages), get_doctype("claim"), RulesExtractor())
    out = replace(out, candidates=tuple(Candidate(c.name, "2.00", c.model_confidence) if c.name == "amount_claimed" else c
                                        for c in out.candidates))
    got = {f.name: f for f in finish_fields(DocumentText(result.pages), get_doctype("claim"), out)}
    assert got["amount_claimed"].status == "needs_review"
    assert any(m.startswith("cross-check: line items add up to") for m in got["amount_claimed"].messages)


def test_value_boxes_lie_on_the_printed_value(tmp_path):
    """The claim number's box covers the printed claim number, not its label."""
    import pdfplumber

    truth = make_claim(11)
    pdf = write_claim_pdf(truth, tmp_path / "c.pdf", layout="inline")
    result = process_file(pdf, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
    field = next(f for f in result.fields if f.name == "claim_number")
    with pdfplumber.open(pdf) as doc:
        page = doc.pages[0]
        word = next(w for w in page.extract_words() if w["text"] == truth.claim_number)
        expected = (word["x0"] / page.width, word["top"] / page.height, word["x1"] / page.width, word["bottom"] / page.height)
    assert field.bbox == pytest.approx(expected, abs=0.003)


def test_missing_required_field_goes_to_review(tmp_path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "blank.pdf"
    c = canvas.Canvas(str(path))
    c.drawString(72, 720, "Claim Number: CLM-2024-123456")
    c.drawString(72, 700, "Some unrelated text on the page")
    c.save()
    result = process_file(path, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
    got = {f.name: f for f in result.fields}
    assert got["claim_number"].value == "CLM-2024-123456"
    assert got["policy_number"].value is None and got["policy_number"].status == "needs_review"
    assert got["policy_number"].confidence == 0.0


def test_an_impossible_date_is_kept_as_printed_and_flagged(tmp_path):
    """The label is found but its value is not a date: the printed text is kept and sent to a
    person, and no other date on the page is offered in its place."""
    truth = replace(make_claim(5), claimant_dob="02/30/1943")
    pdf = write_claim_pdf(truth, tmp_path / "bad-dob.pdf", layout="inline")
    result = process_file(pdf, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
    dob = next(f for f in result.fields if f.name == "claimant_dob")
    assert dob.value == "02/30/1943"
    assert dob.normalized is None and dob.status == "needs_review"
    assert "invalid: not a date" in dob.messages


def test_a_date_far_along_its_label_s_line_is_another_date_and_is_not_settled():
    """Given a French invoice whose 'Date limite de paiement' line prints the due date, the label
    'Date' does not take it as the invoice's date (nor settle it before the model); a date within
    two words of its label ('Date & Time : 22/12/2017') still is read."""
    from docproc.pipeline.runner import settled_before_model
    from docproc.pipeline.types import DocumentText
    from tests.extract.test_llm_units import page

    invoice = get_doctype("invoice")
    french = DocumentText((page(["FREE", "Facture n° 562044387 du 02 Juillet 2015",
                                 "Date limite de paiement le 05 Juillet 2015", "Total TTC 29.99 EUR"]),))
    date = next(c for c in RulesExtractor().extract(french, invoice).candidates if c.name == "date")
    assert date.model_confidence < 0.5  # printed beside the label, but not a date of the label's
    assert "date" not in settled_before_model(french, invoice)
    receipt = DocumentText((page(["SHOP SDN BHD", "Date & Time : 22/12/2017 10:00", "TOTAL 5.00"]),))
    date = next(c for c in RulesExtractor().extract(receipt, get_doctype("receipt")).candidates if c.name == "date")
    assert date.value == "22/12/2017" and date.model_confidence > 0.8


def test_a_label_is_found_whatever_its_spacing():
    """Given a text layer that splits a kerned label ("F actuurnummer") or runs one together
    ("InvoiceNo"), the label is still found and its value read and settled."""
    from docproc.pipeline.runner import settled_before_model
    from docproc.pipeline.types import DocumentText
    from tests.extract.test_llm_units import page

    invoice = get_doctype("invoice")
    dutch = DocumentText((page(["COOLBLUE B.V.", "F actuurnummer: 993548900", "Ordernummer: 12572103",
                                "F actuurdatum: 19 april 2014", "Orderdatum: 18 april 2014"]),))
    read = {c.name: c for c in RulesExtractor().extract(dutch, invoice).candidates}
    assert read["invoice_number"].value == "993548900" and read["date"].value == "19 april 2014"
    settled = settled_before_model(dutch, invoice)
    assert settled["invoice_number"].value == "993548900" and settled["date"].value == "19 april 2014"
    joined = DocumentText((page(["ACME", "InvoiceNo: 4711"]),))
    assert next(c for c in RulesExtractor().extract(joined, invoice).candidates if c.name == "invoice_number").value == "4711"
