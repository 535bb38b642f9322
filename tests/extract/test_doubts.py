"""Evidence that makes a value doubtful keeps it from auto-acceptance whatever its confidence:
words the OCR engine itself doubts, and a total that is one of several printed but not the
one paid. Both were auto-accepted wrong on the shared receipts (a company read at OCR
confidence 0.42; 181.98 taken where the receipt's rounded total, 182.00, is the one paid)."""

from __future__ import annotations

from docproc.doctypes import get_doctype
from docproc.pipeline.confidence import FEATURES, Calibration
from docproc.pipeline.runner import doubts, finish_fields
from docproc.pipeline.types import Candidate, DocumentText, ExtractionOutput
from tests.extract.test_llm_units import page

RECEIPT = get_doctype("receipt")
LINES = ["KEDAI RUNCIT MAJU JAYA SDN BHD", "NO 12, JALAN MERANTI 3,", "43000 KAJANG, SELANGOR.",
         "DATE: 05/03/2018", "MILO 1KG 181.98", "TOTAL 181.98", "ROUNDING ADJ 0.02", "TOTAL ROUNDED 182.00",
         "CASH 200.00"]


# A calibration that believes the model alone: the confidence is high whatever the OCR says, so
# only the doubt can hold a field back.
MODEL_ONLY = Calibration("test", "test", "m", "receipt-v0",
                         {f"receipt.{n}": [1.0 if f == "logit_mean" else 0.0 for f in FEATURES] for n in RECEIPT.field_names})


def fields(doc: DocumentText, **values: str) -> dict:
    out = ExtractionOutput(tuple(Candidate(n, v, 0.999, extra={"p_mean": 0.999, "p_min": 0.999})
                                 for n, v in values.items()), "test", "1:m", "receipt-v0")
    return {f.name: f for f in finish_fields(doc, RECEIPT, out, MODEL_ONLY)}


def test_a_value_whose_words_the_ocr_doubts_waits_for_a_person():
    sure = fields(DocumentText((page(LINES),)), date="05/03/2018")["date"]
    assert sure.status == "auto_accepted", sure.reasons
    doubted = fields(DocumentText((page(LINES, confidence={"05/03/2018": 0.42}),)), date="05/03/2018")["date"]
    assert doubted.status == "needs_review" and doubted.confidence >= doubted.threshold  # confident, still doubtful
    assert "low OCR confidence of its words (0.42)" in doubted.reasons


def test_a_total_that_is_not_the_one_paid_waits_for_a_person():
    doc = DocumentText((page(LINES),))
    paid = fields(doc, total="182.00")["total"]
    assert paid.status == "auto_accepted", paid.reasons
    before_rounding = fields(doc, total="181.98")["total"]
    assert before_rounding.signals["check"] == 0.5 and before_rounding.status == "needs_review"
    assert any("one of several values" in r for r in before_rounding.reasons)


def test_doubts_name_each_cause_and_are_empty_for_clean_evidence():
    assert doubts({"ocr": 0.99, "check": 1.0}) == ()
    assert doubts({}) == ()
    assert len(doubts({"ocr": 0.5, "check": 0.5})) == 2


def _sure_model_reads(type_name: str, lines: list[str], field: str, value: str):
    """``field`` of a document printing ``lines`` when a model certain of ``value`` read it, under a
    calibration that believes the model alone (so only a hold can stop it)."""
    doctype = get_doctype(type_name)
    weights = {f"{type_name}.{n}": [1.0 if f == "logit_mean" else 0.0 for f in FEATURES] for n in doctype.field_names}
    cal = Calibration("test", "test", "m", f"{type_name}-v0", weights)
    out = ExtractionOutput((Candidate(field, value, 0.999, extra={"p_mean": 0.999, "p_min": 0.999}),),
                           "test", "1:m", f"{type_name}-v0")
    return next(f for f in finish_fields(DocumentText((page(lines),)), doctype, out, cal) if f.name == field)


def test_a_labelled_value_printed_nowhere_by_its_label_waits_for_a_person():
    """The saeco invoice's customer number, printed under 'Klant', was auto-accepted as its invoice
    number (labelled 'Factuur'): a labelled value not printed by any of its labels is held."""
    from docproc.pipeline.runner import NOT_BY_LABEL

    lines = ["SAECO", "Klant SCONL0303006280999", "Factuurnummer VF1005193039", "Totaal 49,99"]
    right = _sure_model_reads("invoice", lines, "invoice_number", "VF1005193039")
    elsewhere = _sure_model_reads("invoice", lines, "invoice_number", "SCONL0303006280999")
    assert right.status == "auto_accepted", right.reasons
    assert elsewhere.status == "needs_review" and NOT_BY_LABEL in elsewhere.messages


def test_an_amount_off_its_labels_lines_waits_for_a_person_however_sure_the_model():
    """Two receipts auto-accepted the cash handed over as their total: "50.00" alone on the line
    under "TOTAL EXCL.GST 28.11", "RM 51.00" under "Total Incl. GST@6% RM 50.80". An amount not
    on a line of its labels (nor just below a label printed alone) is held."""
    from docproc.pipeline.runner import NOT_BY_LABEL

    lines = ["SHOP SDN BHD", "Total Incl. GST@6% RM 50.80", "RM 51.00", "CHANGE RM 0.20"]
    right = _sure_model_reads("receipt", lines, "total", "50.80")
    cash = _sure_model_reads("receipt", lines, "total", "51.00")
    assert right.status == "auto_accepted" and right.signals["check"] == 1.0, right.reasons
    assert cash.status == "needs_review" and cash.signals["check"] == 0.0 and NOT_BY_LABEL in cash.messages
