"""The pure parts of vendor memory (docproc/pipeline/memory.py) and the worked examples of the
LLM prompt, driven by a small fake model: fingerprints, grounding a remembered value, and the
prompt's assembly within its token budget."""

from __future__ import annotations

import json

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.llm import Completion, LlmExtractor
from docproc.pipeline.extract.options import LlmOptions
from docproc.pipeline.extract.prompts import FENCE_OPEN, build_prompt, estimate_tokens, with_examples
from docproc.pipeline.memory import (
    MemoryOptions,
    Recall,
    RememberedValue,
    WorkedExample,
    fingerprint_similarity,
    ground_remembered,
    memory_apply,
    sender_fingerprint,
)
from docproc.pipeline.runner import finish_fields, run_extractor
from docproc.pipeline.types import DocumentText, PageWords, Word

RECEIPT = get_doctype("receipt")
CMS = get_doctype("cms1500")


def page(lines: list[str], *, source: str = "ocr") -> PageWords:
    words = []
    for li, line in enumerate(lines):
        tokens = line.split()
        for ti, tok in enumerate(tokens):
            x0 = 0.05 + 0.9 * ti / len(tokens)
            words.append(Word(f"p1-w{len(words)}", tok, (x0, 0.02 * li, x0 + 0.8 / len(tokens), 0.02 * li + 0.015),
                              0.95, line=li))
    return PageWords(1, 600, 1000, tuple(words), source, "test", "1")  # type: ignore[arg-type]


SHOP = ["SYARIKAT PERNIAGAAN GIN KEE", "(ROC NO: 81109-A)", "NO 290, JALAN AIR PANAS,", "SETAPAK, 53200, KUALA LUMPUR.",
        "TEL: 03-40210276", "GST ID: 000750673920", "TAX INVOICE", "DATE: 02/01/2018", "TOTAL 18.55"]
# The same shop's next receipt as OCR read it: a slip in the name and the address, another date.
SHOP_AGAIN = ["SYARIKAT PERNIAGAAN GlN KEE", "(ROC NO: 81109-A)", "NO 290, JALAN AIR PANAS,",
              "SETAPAK, 53200, KUALA LUMPUR.", "TEL: 03-40210276", "GST ID: 000750673920", "TAX INVOICE",
              "DATE: 05/03/2018", "TOTAL 7.20"]
OTHER = ["MR. D.I.Y. (M) SDN BHD", "(CO. REG : 860671-D)", "LOT 1851-A & 1851-B, JALAN KPB 6,",
         "KAWASAN PERINDUSTRIAN BALAKONG,", "43300 SERI KEMBANGAN, SELANGOR", "TAX INVOICE", "TOTAL 20.00"]
NAME = "SYARIKAT PERNIAGAAN GIN KEE"
ADDRESS = "NO 290, JALAN AIR PANAS, SETAPAK, 53200, KUALA LUMPUR."


def test_one_sender_matches_through_ocr_slips_and_another_does_not():
    a = sender_fingerprint(DocumentText((page(SHOP),)))
    b = sender_fingerprint(DocumentText((page(SHOP_AGAIN, ),)))
    c = sender_fingerprint(DocumentText((page(OTHER),)))
    assert "81109A" in a.numbers and "000750673920" in a.numbers
    assert fingerprint_similarity(a, b) == 1.0  # the same registration number printed
    a_header_only = type(a)(a.header)
    b_header_only = type(b)(b.header)
    assert fingerprint_similarity(a_header_only, b_header_only) >= MemoryOptions().min_similarity
    assert fingerprint_similarity(a, c) < MemoryOptions().min_similarity
    assert "02012018" not in a.numbers  # a date is no sender's number


def _fields(lines, *, source="ocr", recall=None):
    document = DocumentText((page(lines, source=source),))
    from docproc.pipeline.extract.rules import RulesExtractor

    extraction = run_extractor(document, RECEIPT, RulesExtractor())
    fields = finish_fields(document, RECEIPT, extraction)
    out, outcome = memory_apply(document, RECEIPT, fields, recall, options=MemoryOptions())
    return {f.name: f for f in out}, outcome, document


def test_a_remembered_value_is_grounded_in_this_document_allowing_ocr_slips():
    """Given a shop's verified name and address, when its next receipt prints them with an OCR
    slip, then both are used with this document's words and box, auto-accepted with the
    reviewers' evidence; the date and total stay the extractor's."""
    recall = Recall("7", 1.0, (RememberedValue("company", NAME, 3), RememberedValue("address", ADDRESS, 3)))
    fields, outcome, _ = _fields(SHOP_AGAIN, recall=recall)
    assert outcome == {"company": "used", "address": "used"}
    company = fields["company"]
    assert company.value == NAME and company.status == "auto_accepted" and company.provenance == "memory"
    assert company.source == ("SYARIKAT", "PERNIAGAAN", "GlN", "KEE") and company.page == 1 and company.bbox
    assert company.evidence == ("verified by a reviewer on 3 documents from this sender",)
    assert fields["address"].status == "auto_accepted"
    assert fields["date"].provenance == "extractor"


def test_a_remembered_value_this_document_does_not_print_is_not_used():
    recall = Recall("7", 1.0, (RememberedValue("company", "GIN KEE HARDWARE TRADING", 5),))
    fields, outcome, _ = _fields(SHOP_AGAIN, recall=recall)
    assert outcome == {"company": "not_found"}
    assert fields["company"].provenance == "extractor" and fields["company"].status == "needs_review"


def test_a_text_layer_must_print_the_value_exactly_and_a_code_allows_no_slip():
    spec = RECEIPT.field("company")
    digital = DocumentText((page(SHOP_AGAIN, source="text-layer"),))
    assert ground_remembered(spec, NAME, digital, max_slip_ratio=0.1) is None  # "GlN" is printed so
    assert ground_remembered(spec, NAME, DocumentText((page(SHOP_AGAIN),)), max_slip_ratio=0.1) is not None
    npi = CMS.field("billing_npi")
    form = DocumentText((page(["33. BILLING PROVIDER INFO", "NPI 1234567893"]),))
    assert ground_remembered(npi, "1234567893", form, max_slip_ratio=0.1) is not None
    assert ground_remembered(npi, "1234567898", form, max_slip_ratio=0.1) is None


class FakeModel(LlmExtractor):
    """Records the messages each call would send and answers with a fixed JSON object."""

    name = "fake"
    model = "fake-1"

    def __init__(self, options=None):
        super().__init__(options)
        self.sent: list[list[dict[str, str]]] = []

    def _complete(self, prompt, text):
        self.sent.append(prompt.messages(text))
        content = json.dumps({"company": NAME, "date": "05/03/2018", "address": ADDRESS, "total": "7.20"})
        return Completion(content, None, tokens_in=10, tokens_out=10)


def _example(n: int, lines: list[str]) -> WorkedExample:
    text = "\n".join(f"L{i + 1}|{line}" for i, line in enumerate(lines))
    return WorkedExample(f"doc-{n}", text, {"company": NAME, "date": "02/01/2018", "address": ADDRESS, "total": "18.55",
                                            "not_a_field": "x"})


def test_worked_examples_go_before_the_document_and_are_recorded():
    """Given two verified receipts of the sender, when the model reads the next one, then the
    prompt holds the fixed instructions, each example's fenced lines and its verified values as
    the model's answer, then the document; the output and the call record name the examples."""
    model = FakeModel(LlmOptions(example_tokens=2000))
    document = DocumentText((page(SHOP_AGAIN),))
    out = run_extractor(document, RECEIPT, model, examples=(_example(1, SHOP), _example(2, SHOP)))
    messages = model.sent[-1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == build_prompt(RECEIPT).system  # the cached prefix is unchanged
    assert messages[1]["content"].startswith(FENCE_OPEN) and "L1|SYARIKAT PERNIAGAAN GIN KEE" in messages[1]["content"]
    # The example answers what this call asks: the fields the label rules left open.
    verified = {"company": NAME, "date": "02/01/2018", "address": ADDRESS, "total": "18.55"}
    asked = out.calls[0]["fields"]
    assert {"company", "address"} <= set(asked)
    assert json.loads(messages[2]["content"]) == {name: verified[name] for name in asked}
    assert "GlN KEE" in messages[-1]["content"]
    assert out.examples == ("doc-1", "doc-2") and out.calls[0]["examples"] == ["doc-1", "doc-2"]
    assert out.prompt_version == "receipt-v5"

    # The same document without examples is another question: not answered from that cache entry.
    plain = run_extractor(document, RECEIPT, model)
    assert len(model.sent) == 2 and len(model.sent[-1]) == 2 and plain.examples == ()


def test_examples_stay_within_their_token_budget():
    prompt = build_prompt(RECEIPT)
    long_lines = SHOP * 30
    cut = with_examples(prompt, (_example(1, long_lines), _example(2, SHOP)), budget_tokens=300)
    used = sum(estimate_tokens(e.text) + estimate_tokens(json.dumps(e.values)) + 8 for e in cut.examples)
    assert used <= 300
    assert cut.examples[0].text.startswith("L1|SYARIKAT")  # cut to its first lines, header kept
    assert set(cut.examples[0].values) == set(RECEIPT.field_names)
    assert with_examples(prompt, (_example(1, SHOP),), budget_tokens=20).examples == ()
    # A rules extractor never sees examples.
    from docproc.pipeline.extract.rules import RulesExtractor

    out = run_extractor(DocumentText((page(SHOP),)), RECEIPT, RulesExtractor(), examples=(_example(1, SHOP),))
    assert out.examples == ()


def test_this_documents_own_punctuation_wins_where_only_punctuation_differs():
    """Given an address verified as printed on a shop's earlier receipt, when the next receipt
    prints the same words with a period for a comma, then the value is this receipt's print;
    where OCR split a word, the verified spelling stays."""
    lines = [*SHOP_AGAIN[:2], "NO 290, JALAN AIR PANAS. SETAPAK, 53200,", "KUALA LUMPUR.", *SHOP_AGAIN[4:]]
    lines[0] = "SYARIKAT PERNIAGAAN GIN  K EE"
    recall = Recall("7", 1.0, (RememberedValue("company", NAME, 2), RememberedValue("address", ADDRESS, 2)))
    fields, outcome, _ = _fields(lines, recall=recall)
    assert outcome == {"company": "same", "address": "used"}  # the rules read the name, split
    assert fields["address"].value == "NO 290, JALAN AIR PANAS. SETAPAK, 53200, KUALA LUMPUR."
    assert fields["company"].value == NAME
