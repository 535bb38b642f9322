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
