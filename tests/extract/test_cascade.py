"""Ask the model less: the label rules and form widgets read first, the model is asked only the
fields they leave open, over the lines that can hold them, and a document they read whole makes
no model call. The model is a small fake that records what it was sent and answers fixed JSON;
the rules, the focus and the runner around it are the real ones."""

from __future__ import annotations

import json

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.llm import Completion, LlmExtractor
from docproc.pipeline.extract.options import LlmOptions
from docproc.pipeline.runner import extraction_tokens, finish_fields, run_extractor
from docproc.pipeline.types import DocumentText
from tests.extract.test_llm_units import RECEIPT_LINES, page

CLAIM = get_doctype("claim")
RECEIPT = get_doctype("receipt")

CLAIM_LINES = [
    "Claim Number: CLM-2024-123456",
    "Policy Number: POL-77881",
    "Claimant Name: Maria Lopez",
    "Date of Birth: 1980-04-02",
    "Address: 12 Oak Street, Springfield, IL 62704",
    "Phone: (217) 555-0182",
    "Email: maria.lopez@example.com",
    "Date of Loss: 2024-03-11",
    "Type of Loss: Water damage",
    "Amount Claimed: 1,250.00",
    "Description Amount",
    "Plumber 450.00",
    "Flooring 800.00",
]


class RecordingModel(LlmExtractor):
    name = "fake"
    model = "fake-1"

    def __init__(self, answer: dict) -> None:
        super().__init__(LlmOptions(prompt_budget_tokens=400))
        self.answer = answer
        self.sent: list[tuple] = []

    def _complete(self, prompt, text):
        self.sent.append((prompt, text))
        asked = {k: v for k, v in self.answer.items() if k in prompt.schema["properties"]}
        content = json.dumps(asked)
        return Completion(content, None, tokens_in=len(text) // 3, tokens_out=len(content) // 3)


def test_a_claim_the_label_rules_read_whole_makes_no_model_call():
    """Given a digital claim whose every field is printed by a specific label (and the items add
    up to the amount claimed), when it is extracted, the model is not called and every field
    says it was settled by the rules."""
    model = RecordingModel({})
    out = run_extractor(DocumentText((page(CLAIM_LINES),)), CLAIM, model)
    assert model.sent == [] and out.calls == ()
    assert out.engine == "fake" and out.prompt_version == "claim-v5"
    by_name = {c.name: c for c in out.candidates}
    assert by_name["claim_number"].value == "CLM-2024-123456"
    assert by_name["amount_claimed"].extra["settled"] == "rules"
    assert {c.name for c in out.candidates if c.extra.get("settled")} == set(CLAIM.field_names)
    assert extraction_tokens(out)["prompt"] == 0 and extraction_tokens(out)["settled"] == list(CLAIM.field_names)


def test_the_model_is_asked_only_the_open_fields_over_the_lines_that_can_hold_them():
    """Given a receipt whose total and date the rules prove (largest labelled total, date by its
    label), when it is extracted, the model is asked only the company and the address, its
    schema has only those, and it is shown the top lines but not a line far below them."""
    lines = [line for line in RECEIPT_LINES if not line.startswith("SUB")]  # its wide gap makes "TOTAL" a label
    lines += [f"ITEM {n} 1.00" for n in range(20)] + ["THANK YOU PLEASE COME AGAIN"]
    model = RecordingModel({"company": "HOME MASTER HARDWARE & ELECTRICAL",
                            "address": "NO.113G & 115G, JALAN SETIA BANDAR SETIA ALAM, 40170 SHAH ALAM, SELANGOR."})
    document = DocumentText((page(lines),))
    out = run_extractor(document, RECEIPT, model)
    [(prompt, text)] = model.sent
    assert prompt.fields == ("company", "address")
    assert set(prompt.schema["properties"]) == {"company", "address"}
    assert "Fields asked: company, address" in prompt.messages(text)[1]["content"]
    assert "L1|HOME MASTER" in text and "THANK YOU" not in text
    by_name = {c.name: c for c in out.candidates}
    assert by_name["total"].value == "15.90" and by_name["total"].extra["settled"] == "rules"
    assert by_name["company"].value == "HOME MASTER HARDWARE & ELECTRICAL" and "settled" not in by_name["company"].extra
    fields = {f.name: f for f in finish_fields(document, RECEIPT, out)}
    assert fields["date"].normalized == "2017-12-22"
    tokens = extraction_tokens(out)
    assert tokens["asked"] == ["address", "company"] and tokens["prompt"] > 0
    assert tokens["lines_sent"] < tokens["lines"]


def test_the_fixed_prompt_prefix_is_the_same_whatever_is_asked():
    """Given two receipts that leave different fields open, the system message (the prefix a
    server caches) is the same for both; only the user message names the fields."""
    model = RecordingModel({"company": "ACME", "address": None, "date": None, "total": None})
    run_extractor(DocumentText((page(RECEIPT_LINES),)), RECEIPT, model)
    run_extractor(DocumentText((page(["ACME STORE", "THANK YOU"]),)), RECEIPT, model)
    (first, text1), (second, text2) = model.sent
    assert first.fields != second.fields
    assert first.messages(text1)[0] == second.messages(text2)[0]


def test_a_value_the_rules_cannot_prove_goes_to_the_model():
    """Given a claim whose claim number fails its validator, the model is asked it (with the
    fields it left open) rather than the rules' value being kept as settled."""
    lines = ["Claim Number: 12", *CLAIM_LINES[1:]]
    model = RecordingModel({"claim_number": "12"})
    out = run_extractor(DocumentText((page(lines),)), CLAIM, model)
    [(prompt, _)] = model.sent
    assert prompt.fields == ("claim_number",)
    assert "settled" not in {c.name: c for c in out.candidates}["claim_number"].extra


def test_an_open_total_is_asked_over_the_whole_text():
    """Given a receipt whose total the rules cannot prove (the first labelled amount is not the
    largest), when it is extracted, the model is asked the total over every line."""
    lines = [*RECEIPT_LINES, "THANK YOU PLEASE COME AGAIN"]
    model = RecordingModel({"total": "15.90"})
    run_extractor(DocumentText((page(lines),)), RECEIPT, model)
    [(prompt, text)] = model.sent
    assert "total" in prompt.fields and "THANK YOU" in text
