"""A document type whose ``date_order`` is ``auto`` reads each document's dates the way that
document writes them: by its unambiguous dates, else by its language; English and the undecided
month first."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from docproc.doctypes import get_doctype
from docproc.doctypes.loader import DocTypeError, parse_doctype
from docproc.pipeline.date_order import date_order_of, for_document, language_order, printed_order
from docproc.pipeline.runner import finish_fields
from docproc.pipeline.types import Candidate, DocumentText, ExtractionOutput
from docproc.services import field_value_check, run_date_order
from tests.extract.test_llm_units import page

INVOICE = get_doctype("invoice")
DUTCH = ["SAECO", "KOPIE FACTUUR", "Factuurdatum 8-9-2022", "Vervaldatum 22-9-2022", "Omschrijving Prijs Btw Bedrag",
         "Onderhoudsset 49,99", "Totaal EUR 49,99"]
ENGLISH = ["ACME SUPPLY INC", "INVOICE", "Invoice Date 8-9-2022", "Due Date 9-8-2022", "Description Amount",
           "Total due USD 49.99", "Thank you for your payment"]


def test_a_date_that_reads_only_one_way_tells_the_order_of_the_others():
    assert printed_order("Order 15-10-2015, invoice 20-10-2015") == "day_first"
    assert printed_order("Invoice date 03/20/2023, due 04/04/2023") == "month_first"
    assert printed_order("Period 01.05.14 - 07.05.14") is None  # every date reads both ways
    assert printed_order("13/12/2020 and 12/13/2020") is None  # they disagree: undecided
    assert printed_order("no dates") is None


def test_the_language_decides_where_every_date_reads_both_ways():
    assert language_order("\n".join(DUTCH)) == "day_first"
    assert language_order("Rechnung Rechnungsdatum 07.05.14 Summe Betrag MwSt Kunde") == "day_first"
    assert language_order("Facture n° 12 date 02/07/2015 montant TTC TVA client") == "day_first"
    assert language_order("\n".join(ENGLISH)) is None
    assert language_order("Total 12.00 Cash 20.00") is None  # too few words to tell


def test_only_an_auto_type_reads_by_the_document():
    dutch = DocumentText((page(DUTCH),))
    assert date_order_of(dutch) == "day_first" and date_order_of(DocumentText((page(ENGLISH),))) == "month_first"
    assert INVOICE.date_order == "auto" and for_document(INVOICE, dutch).day_first
    receipt = get_doctype("receipt")
    assert for_document(receipt, DocumentText((page(ENGLISH),))) is receipt  # a fixed order stays
    assert for_document(INVOICE, None) is INVOICE and not INVOICE.day_first  # undecided: month first


def _date(lines: list[str]) -> str:
    out = ExtractionOutput((Candidate("date", "8-9-2022", 0.99),), "test", "1:m", "invoice-v0")
    [date] = [f for f in finish_fields(DocumentText((page(lines),)), INVOICE, out) if f.name == "date"]
    return date.normalized


def test_the_same_printed_date_is_read_by_each_invoice_s_language():
    assert _date(DUTCH) == "2022-09-08"
    assert _date(ENGLISH) == "2022-08-09"


def test_a_person_s_date_is_read_the_way_the_document_s_dates_were():
    run = SimpleNamespace(engines={"extract": {"date_order": "day_first"}})
    assert run_date_order(run) == "day_first" and run_date_order(SimpleNamespace(engines={})) == ""
    assert field_value_check("invoice", "date", "8-9-2022", date_order=run_date_order(run))[0] == "2022-09-08"
    assert field_value_check("invoice", "date", "8-9-2022")[0] == "2022-08-09"  # no record: the fallback
    # a type with a fixed order keeps it whatever a run says
    assert field_value_check("receipt", "date", "8-9-2022", date_order="month_first")[0] == "2022-09-08"


def test_a_type_file_names_auto_or_a_fixed_order():
    text = "name: {name}\ndate_order: {order}\nfields:\n  - {{name: date, type: date}}\n"
    assert parse_doctype(text.format(name="letters", order="auto")).date_order == "auto"
    with pytest.raises(DocTypeError):
        parse_doctype(text.format(name="letters", order="sometimes"))


def test_the_pipeline_reads_a_dutch_invoice_day_first_and_records_it(tmp_path):
    """Given a Dutch PDF invoice printing 8-9-2022 (its text layer, the label rules), when the
    pipeline reads it, then its date is the 8th of September and its run says so, for a reviewer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from docproc.pipeline.extract.rules import RulesExtractor
    from docproc.pipeline.runner import Limits, process_file

    path = tmp_path / "factuur.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for i, line in enumerate(DUTCH):
        pdf.drawString(72, 780 - 22 * i, line)
    pdf.save()

    def no_ocr():
        raise AssertionError("a PDF with a text layer is not OCR'd")

    result = process_file(path, INVOICE, ocr=no_ocr, extractor=RulesExtractor(), limits=Limits())
    date = next(f for f in result.fields if f.name == "date")
    assert date.value == "8-9-2022" and date.normalized == "2022-09-08"
    assert result.engines["extract"]["date_order"] == "day_first"
    assert run_date_order(SimpleNamespace(engines=result.engines)) == "day_first"
