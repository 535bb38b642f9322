"""A label is never a value, a fallback is never confident, and every doubtful field says why:
routing in ``finish_fields`` over small documents, with the candidates an extractor might give."""

from __future__ import annotations

from docproc.doctypes import get_doctype
from docproc.pipeline.labels import LABEL_MESSAGE, label_text
from docproc.pipeline.runner import FALLBACK_REASON, finish_fields
from docproc.pipeline.types import Candidate, DocumentText, ExtractionOutput, PageWords, Word

CLAIM = get_doctype("claim")
CMS = get_doctype("cms1500")


def _document(*lines: str) -> DocumentText:
    words = []
    for n, line in enumerate(lines):
        for k, token in enumerate(line.split()):
            words.append(Word(f"p1-w{len(words)}", token, (0.05 + 0.07 * k, 0.05 + 0.03 * n, 0.11 + 0.07 * k,
                                                           0.07 + 0.03 * n), 0.99, line=n))
    return DocumentText((PageWords(1, 612, 792, tuple(words), "text-layer", "pdfplumber", "x"),))


def _fields(doctype, document, values: dict[str, str], *, confidence=0.999, fallback="", extra=None):
    cands = tuple(Candidate(k, v, confidence, extra=dict(extra or {})) for k, v in values.items())
    out = ExtractionOutput(candidates=cands, engine="fake", engine_version="1", fallback_reason=fallback)
    return {f.name: f for f in finish_fields(document, doctype, out)}


def test_label_text_of_the_type_the_template_and_the_page():
    labels = label_text(CMS, _document("Police Report No.: ____"), ("28.", "TOTAL", "CHARGE", "PATIENT'S", "NAME"))
    assert labels.is_label("28. TOTAL CHARGE") and labels.is_label("2. PATIENT'S NAME")
    assert labels.is_label("Police Report No.")
    assert not labels.is_label("2137 ELM STREET") and not labels.is_label("DUBOIS, AIKO")
    assert not labels.is_label("28") and not labels.is_label("2520.01")


def test_a_label_copied_as_the_value_is_invalid_and_never_auto_accepted():
    """Given a CMS-1500 page that prints only its labels and a model sure of them, when the
    fields are routed, the labels are refused with the label message and all wait for a person."""
    doc = _document("2. PATIENT'S NAME (Last Name, First Name)", "28. TOTAL CHARGE $")
    got = _fields(CMS, doc, {"patient_name": "2. PATIENT'S NAME", "total_charge": "28. TOTAL CHARGE"})
    for name in ("patient_name", "total_charge"):
        assert got[name].status == "needs_review"
        assert got[name].messages[0] == LABEL_MESSAGE and LABEL_MESSAGE in got[name].reasons
        assert got[name].normalized is None  # not 28.00
    # another field's label, on a claim
    got = _fields(CLAIM, _document("Type of Loss: Date of Loss"), {"type_of_loss": "Date of Loss"})
    assert got["type_of_loss"].messages == (LABEL_MESSAGE,)


def test_a_label_typed_into_a_widget_is_what_the_person_filled():
    doc = _document("28. TOTAL CHARGE")
    got = _fields(CMS, doc, {"total_charge": "28. TOTAL CHARGE"}, extra={"form_field": True})
    assert LABEL_MESSAGE not in got["total_charge"].messages


def test_fallback_values_wait_with_one_reviewer_reason_and_no_raw_cause():
    doc = _document("Claim Number: CLM-2024-123456", "Type of Loss: Police Report No.")
    got = _fields(CLAIM, doc, {"claim_number": "CLM-2024-123456"}, confidence=0.99,
                  fallback="llamacpp: engine_unavailable: timed out after 30 s")
    f = got["claim_number"]
    assert f.status == "needs_review" and FALLBACK_REASON in f.reasons
    assert not any("llamacpp" in m or "timed out" in m for m in f.messages + f.reasons)


def test_every_doubtful_field_says_why():
    doc = _document("Claim Number: CLM-2024-123456", "Date of Loss: 02/30/2025", "Policy Number: POL12345678")
    got = _fields(CLAIM, doc, {"claim_number": "CLM-2024-123456", "date_of_loss": "02/30/2025",
                               "policy_number": "POL99999999"}, confidence=0.7)
    assert got["claim_number"].reasons[-1] == f"confidence {got['claim_number'].confidence:.2f} is below its threshold 0.90"
    assert "invalid: not a date" in got["date_of_loss"].reasons
    assert "not found in the document's words" in got["policy_number"].reasons
    assert got["claimant_name"].reasons[0] == "not found in the document"
    sure = _fields(CLAIM, doc, {"claim_number": "CLM-2024-123456"}, confidence=1.0)["claim_number"]
    assert sure.status == "auto_accepted" and sure.reasons == ()
