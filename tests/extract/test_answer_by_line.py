"""Fields answered by line (``answer: lines`` in the document type): the model names the lines
that hold the value, constrained to the lines it is shown, and the value is those lines' words
as read. The real backends answer this way in tests/extract/test_backends.py; here a stand-in
model exercises the code around them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from docproc.doctypes import DocTypeError, get_doctype, load_file
from docproc.pipeline.extract.llm import lines_value
from docproc.pipeline.extract.prompts import (
    build_prompt,
    line_refs,
    numbered_text,
    parse_line_ref,
    with_examples,
)
from docproc.pipeline.memory import WorkedExample
from docproc.pipeline.types import DocumentText
from tests.extract.test_llm_units import RECEIPT_LINES, FakeModel, page


def answering_by_line(doctype, *names):
    """A variant of ``doctype`` that answers ``names`` by line (``answer: lines``)."""
    return replace(doctype, name=f"{doctype.name}_lines", fields=tuple(
        replace(f, answer="lines") if f.name in names else f for f in doctype.fields))


# The shipped receipt copies its address; this variant answers it by line.
RECEIPT = answering_by_line(get_doctype("receipt"), "address")


def test_a_type_answering_by_line_has_its_own_prompt_version_and_a_schema_of_the_lines_shown():
    prompt = build_prompt(RECEIPT)
    assert prompt.version == "receipt_lines-v6" and "answer with its line numbers" in prompt.system
    assert build_prompt(get_doctype("receipt")).version == "receipt-v5"  # no field answered by line: unchanged
    assert "line numbers" not in build_prompt(get_doctype("receipt")).system
    call = prompt.for_fields(RECEIPT, ("company", "address")).for_lines(RECEIPT, (1, 2, 3, 7))
    assert list(call.schema["properties"]) == ["company", "address"]  # the fields answered by line last
    assert call.schema["properties"]["address"]["enum"] == ["L1", "L1-L2", "L1-L3", "L2", "L2-L3", "L3", "L7", None]
    assert call.schema["properties"]["company"]["pattern"]  # copied, and never a row number
    assert list(prompt.for_lines(RECEIPT, (1, 2)).schema["properties"]) == ["company", "date", "total", "address"]
    assert call.schema_key != prompt.for_fields(RECEIPT, ("company", "address")).for_lines(RECEIPT, (1, 2)).schema_key
    assert line_refs(tuple(range(1, 9)))[:4] == ["L1", "L1-L2", "L1-L3", "L1-L4"]  # at most four lines
    assert parse_line_ref("L3-L5") == (3, 5) and parse_line_ref("L4") == (4, 4)
    assert parse_line_ref("L5-L3") is None and parse_line_ref("NO. 12 JALAN") is None


def test_the_value_is_the_words_of_the_lines_named():
    pages = (page(RECEIPT_LINES),)
    _, rows = numbered_text(pages)
    assert lines_value("L3-L5", rows, pages) == (
        "NO.113G & 115G, JALAN SETIA BANDAR SETIA ALAM, 40170 SHAH ALAM, SELANGOR.", "L3-L5")
    assert lines_value("L40", rows, pages) == (None, "L40")  # no such line: nothing is made up
    assert lines_value("HOME MASTER", rows, pages) == ("HOME MASTER", "")  # a server that wrote the text


def test_an_extractor_answering_by_line_gives_whole_lines_with_their_words():
    doc = DocumentText((page(RECEIPT_LINES),))
    model = FakeModel({"HOME MASTER": {"company": "HOME MASTER HARDWARE", "address": "L3-L5", "date": "22/12/2017",
                                       "total": "15.90"}})
    out = model.extract(doc, RECEIPT)
    by = {c.name: c for c in out.candidates}
    assert by["company"].value == "HOME MASTER HARDWARE & ELECTRICAL" and "lines" not in by["company"].extra  # copied, snapped
    assert by["address"].extra["lines"] == "L3-L5" and by["address"].value == "NO.113G & 115G, JALAN SETIA BANDAR SETIA ALAM, 40170 SHAH ALAM, SELANGOR."
    assert len(by["address"].word_ids) == 12 and by["date"].value == "22/12/2017"
    assert out.prompt_version == "receipt_lines-v6"


def test_worked_examples_show_the_lines_of_their_verified_values():
    text, _ = numbered_text((page(RECEIPT_LINES),))
    values = {"company": "HOME MASTER HARDWARE & ELECTRICAL", "address": "NO.113G & 115G, JALAN SETIA BANDAR SETIA ALAM,",
              "date": "22/12/2017", "total": "15.90"}
    prompt = with_examples(build_prompt(RECEIPT), (WorkedExample("d1", text, values),), budget_tokens=2000,
                           by_line=("address",))
    (example,) = prompt.examples
    assert example.values["company"] == "HOME MASTER HARDWARE & ELECTRICAL" and example.values["address"] == "L3-L4"
    assert example.values["total"] == "15.90"
    assert json.loads(prompt.messages("L1|x")[2]["content"])["address"] == "L3-L4"
    unprinted = {**values, "address": "SOMEWHERE ELSE ENTIRELY"}
    assert with_examples(build_prompt(RECEIPT), (WorkedExample("d2", text, unprinted),), budget_tokens=2000,
                         by_line=("address",)).examples == ()


def test_answer_by_line_is_refused_for_a_field_that_is_not_text(tmp_path):
    path = tmp_path / "slip.yaml"
    path.write_text("name: slip\ntitle: Slip\nfields:\n  - name: paid_on\n    type: date\n    answer: lines\n")
    with pytest.raises(DocTypeError, match=r"slip.yaml:6: .*'answer: lines' is for text, name and address"):
        load_file(path)
