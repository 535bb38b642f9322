from __future__ import annotations

from decimal import Decimal

import pytest

from docproc.doctypes import get_doctype
from docproc.pipeline.validate import (
    cross_check,
    normalize_amount,
    normalize_date,
    normalize_field,
    normalize_phone,
    npi_is_valid,
)


@pytest.mark.parametrize(
    ("text", "day_first", "iso"),
    [
        ("03/04/2024", False, "2024-03-04"),
        ("03/04/2024", True, "2024-04-03"),
        ("25/12/2017", False, "2017-12-25"),  # unambiguous: day > 12
        ("2014-08-03", True, "2014-08-03"),
        ("3 Aug 2014", False, "2014-08-03"),
        ("August 3, 2014", False, "2014-08-03"),
        ("12-JAN-19", True, "2019-01-12"),
        ("7. Mai 2014", False, "2014-05-07"),
        ("29 maart 2014", False, "2014-03-29"),
        ("02 Juillet 2015", False, "2015-07-02"),
        ("1er février 2016", False, "2016-02-01"),
        ("3 de marzo de 2020", False, "2020-03-03"),
        ("Dec 5th 2019", False, "2019-12-05"),
        ("31/02/2020", True, None),
        ("not a date", True, None),
    ],
)
def test_dates(text, day_first, iso):
    assert normalize_date(text, day_first=day_first) == iso


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,234.56", "1234.56"), ("$ 15.90", "15.90"), ("RM73.00", "73.00"), ("1.234,56", "1234.56"),
     ("9,34", "9.34"), ("(12.00)", "-12.00"), ("EUR 56", "56.00"), ("total", None),
     ("1" * 40, None)],  # a model's runaway digits are no amount (they used to raise)
)
def test_amounts(text, value):
    got = normalize_amount(text)
    assert (str(got) if got is not None else None) == value


def test_npi_check_digit():
    assert npi_is_valid("1234567893")  # the CMS example NPI
    assert not npi_is_valid("1234567890")
    assert not npi_is_valid("12345")


def test_phone():
    assert normalize_phone("(941) 721-7095") == "+19417217095"
    assert normalize_phone("+60 3-5521 2345") == "+60355212345"
    assert normalize_phone("12") is None


def test_invalid_values_are_kept_and_flagged_not_dropped():
    spec = get_doctype("claim").field("claimant_dob")
    normalized, messages = normalize_field(spec, "31/02/1990", day_first=False)
    assert normalized is None and messages == ("invalid: not a date",)
    spec = get_doctype("cms1500").field("billing_npi")
    _, messages = normalize_field(spec, "1234567890", day_first=False)
    assert "invalid: fails the npi check" in messages


def test_line_items_must_add_up():
    claim = get_doctype("claim")
    items = [{"description": "a", "amount": "10.00"}, {"description": "b", "amount": "5.50"}]
    assert cross_check(claim, {"line_items": items, "amount_claimed": Decimal("15.50")}) == {}
    found = cross_check(claim, {"line_items": items, "amount_claimed": Decimal("16.00")})
    assert set(found) == {"line_items", "amount_claimed"}


def printed_totals(document, doctype):
    from docproc.pipeline.evidence import printed_totals as read

    return read(document, doctype)


def _lines_document(*lines: str):
    from docproc.pipeline.types import DocumentText, PageWords, Word

    words = []
    for n, line in enumerate(lines):
        for k, token in enumerate(line.split()):
            words.append(Word(f"p1-w{len(words)}", token, (0.05 + 0.06 * k, 0.05 + 0.03 * n, 0.1 + 0.06 * k, 0.07 + 0.03 * n),
                              0.99, line=n))
    return DocumentText((PageWords(1, 612, 792, tuple(words), "text-layer", "pdfplumber", "x"),))


def test_a_printed_deductible_explains_the_total():
    """Given items summing to 9,242.50, a printed subtotal and a 500.00 deductible, the claimed
    8,742.50 is right and no check complains."""
    claim = get_doctype("claim")
    items = [{"description": "Roof", "amount": "7000.00"}, {"description": "Fence", "amount": "2242.50"}]
    doc = _lines_document("Roof 7,000.00", "Fence 2,242.50", "Subtotal 9,242.50", "Less deductible 500.00",
                          "Amount Claimed: 8,742.50")
    assert cross_check(claim, {"line_items": items, "amount_claimed": Decimal("8742.50")}, printed_totals(doc, claim)) == {}
    taxed = _lines_document("Subtotal 9,242.50", "Tax 462.13", "Discount 100.00", "Rounding -0.03", "Amount Claimed: 9,604.60")
    assert cross_check(claim, {"line_items": items, "amount_claimed": Decimal("9604.60")}, printed_totals(taxed, claim)) == {}


def test_unexplained_arithmetic_holds_the_fields_even_with_the_printed_total():
    claim = get_doctype("claim")
    items = [{"description": "a", "amount": "10.00"}, {"description": "b", "amount": "5.50"}]
    doc = _lines_document("a 10.00", "b 5.50", "Amount Claimed: 18.00")
    found = cross_check(claim, {"line_items": items, "amount_claimed": Decimal("18.00")}, printed_totals(doc, claim))
    assert found["amount_claimed"][0].startswith("cross-check: line items add up to 15.50")
    assert found["amount_claimed"][0].endswith("the printed total line reads 18.00")
    # the total printed nowhere: an error
    other = _lines_document("a 10.00", "b 5.50", "Amount Claimed: 15.50")
    found = cross_check(claim, {"line_items": items, "amount_claimed": Decimal("18.00")}, printed_totals(other, claim))
    assert found["amount_claimed"][0].startswith("cross-check: line items add up to 15.50")
