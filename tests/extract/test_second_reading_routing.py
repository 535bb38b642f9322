"""The second reading happens before a value is routed: the agreement is on the field as it is
scored and routed, the warning names the characters in doubt, and each value's lines are read
once. It is not weighed by the calibration: measured as a calibration feature on the shared
receipts it let three wrong totals through (see the README)."""

from __future__ import annotations

from PIL import Image

from docproc.doctypes import get_doctype
from docproc.pipeline.confidence import FEATURES, Calibration
from docproc.pipeline.ocr.second_reading import SIGNAL, rereader
from docproc.pipeline.prefer_reading import TAKEN
from docproc.pipeline.runner import finish_fields
from docproc.pipeline.types import Candidate, DocumentText, ExtractionOutput, PageImage
from tests.extract.test_llm_units import RECEIPT_LINES, page
from tests.ocr.test_second_reading import FixedReader as Reader

RECEIPT = get_doctype("receipt")
COMPANY = "HOME MASTER HARDWARE & ELECTRICAL"
# Believes the model alone: routing follows the confidence, never the second reading.
MODEL_ONLY = Calibration("test", "test", "m", "receipt-v0",
                         {"receipt.company": [1.0 if f == "logit_mean" else 0.0 for f in FEATURES]},
                         thresholds={"receipt.company": 0.95})


def _company(reader: Reader | None):
    pages = (page(RECEIPT_LINES),)
    image = PageImage(page=1, image=Image.new("RGB", (600, 1000), "white"), dpi=200.0)
    reread = rereader(pages, {1: image}, reader) if reader is not None else None
    out = ExtractionOutput((Candidate("company", COMPANY, 0.99, extra={"p_mean": 0.99, "p_min": 0.99}),),
                           "test", "1:m", "receipt-v0")
    fields = finish_fields(DocumentText(pages), RECEIPT, out, MODEL_ONLY, reread=reread)
    return next(f for f in fields if f.name == "company")


def test_a_value_is_read_again_before_it_is_routed_and_the_doubt_is_shown_not_weighed():
    agreed = _company(Reader(COMPANY.lower()))
    assert agreed.signals[SIGNAL] == 1.0 and not [m for m in agreed.messages if "second reading" in m]
    slipped = _company(Reader("HOME MASTER HARDWARE 8 ELECTRICAL"))
    assert 0.9 < slipped.signals[SIGNAL] < 1.0
    [doubt] = [m for m in slipped.messages if "second reading" in m]
    assert doubt.startswith("warning:") and "[&]" in doubt
    unread = _company(None)
    assert SIGNAL not in unread.signals
    # the same confidence and route whatever the second reading says
    assert agreed.confidence == slipped.confidence == unread.confidence
    assert agreed.status == slipped.status == unread.status == "auto_accepted"


def test_each_value_is_read_again_once_and_only_on_an_ocr_page_with_its_image():
    ocr_page = page(RECEIPT_LINES)
    layer = page(["TOTAL 15.90"], number=2)
    layer = type(layer)(2, layer.width, layer.height, layer.words, "text_layer", "pdf", "1")
    image = PageImage(page=1, image=Image.new("RGB", (600, 1000), "white"), dpi=200.0)
    reader = Reader("x")
    read = rereader((ocr_page, layer), {1: image}, reader)
    company_ids = tuple(w.id for w in ocr_page.words if w.line == 0)
    assert read(company_ids) is not None and read(company_ids) is not None
    assert reader.crops == 1  # one line, read once
    assert read(tuple(w.id for w in layer.words)) is None  # a text layer's words are exact
    assert read((company_ids[0], layer.words[0].id)) is None  # words of two pages are not one value
    assert read(()) is None and read(("p9-w1",)) is None


def _field(lines: list[str], name: str, value: str, reader: Reader):
    pages = (page(lines),)
    image = PageImage(page=1, image=Image.new("RGB", (600, 1000), "white"), dpi=200.0)
    out = ExtractionOutput((Candidate(name, value, 0.99, extra={"p_mean": 0.99, "p_min": 0.99}),),
                           "test", "1:m", "receipt-v0")
    fields = finish_fields(DocumentText(pages), RECEIPT, out, None, reread=rereader(pages, {1: image}, reader))
    return next(f for f in fields if f.name == name)


def test_a_second_reading_that_fits_the_pattern_the_first_breaks_is_taken_and_waits_for_a_person():
    lines = [*RECEIPT_LINES[:6], "DATE: 2O/12/2017", *RECEIPT_LINES[7:]]
    date = _field(lines, "date", "2O/12/2017", Reader("@ 20/12/2017 10:31"))  # the date it prints, not the rest
    assert (date.value, date.normalized) == ("20/12/2017", "2017-12-20")
    assert date.signals[TAKEN] == 1.0 and date.status == "needs_review" and date.valid
    [said] = [m for m in date.messages if "second reading" in m]
    assert said.startswith("warning:") and "'20/12/2017', a valid date" in said and "'2O/12/2017'" in said
    assert any("taken from a second reading" in r for r in date.reasons)
    assert date.source == ("2O/12/2017",)  # provenance: the words that were read again
    # a first reading the pattern accepts is kept, whatever the second says
    kept = _field(RECEIPT_LINES, "date", "22/12/2017", Reader("23/12/2017"))
    assert kept.value == "22/12/2017" and TAKEN not in kept.signals
    # a second reading that prints two dates does not say which one is meant
    two = _field(lines, "date", "2O/12/2017", Reader("20/12/2017 21/12/2017"))
    assert two.value == "2O/12/2017" and TAKEN not in two.signals


def test_a_second_reading_printed_elsewhere_in_the_document_is_taken_where_the_first_is_not():
    slipped = ["HOME MASTER HARDWARE 8 ELECTRICAL", *RECEIPT_LINES[1:], "THANK YOU FROM HOME MASTER HARDWARE & ELECTRICAL"]
    company = _field(slipped, "company", "HOME MASTER HARDWARE 8 ELECTRICAL", Reader(COMPANY))
    assert company.value == COMPANY and company.signals[TAKEN] == 1.0 and company.status == "needs_review"
    assert "prints elsewhere" in " ".join(company.messages)
    # nothing but the second engine's word for it: the first reading stays, with its warning
    alone = _field(slipped[:-1], "company", "HOME MASTER HARDWARE 8 ELECTRICAL", Reader(COMPANY))
    assert alone.value == "HOME MASTER HARDWARE 8 ELECTRICAL" and TAKEN not in alone.signals
    assert any(m.startswith("warning: second reading") and "[8]" in m for m in alone.messages)
    # another line read in the crop is another value, not a better reading of this one
    other = _field(slipped, "company", "HOME MASTER HARDWARE 8 ELECTRICAL", Reader("TEL: 03-1234 5678"))
    assert other.value == "HOME MASTER HARDWARE 8 ELECTRICAL" and TAKEN not in other.signals
