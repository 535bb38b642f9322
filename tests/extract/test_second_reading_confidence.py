"""A second reading weighs in the confidence: a value whose lines another recogniser reads the
same is trusted more, one it reads otherwise less, through the calibration. A calibration
fitted before the signal existed loads and scores as it did."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from docproc.doctypes import get_doctype
from docproc.pipeline.confidence import FEATURES, Calibration, confirmed, feature_vector
from docproc.pipeline.ocr.second_reading import SIGNAL, rereader
from docproc.pipeline.runner import finish_fields
from docproc.pipeline.types import Candidate, DocumentText, ExtractionOutput, PageImage
from tests.extract.test_llm_units import RECEIPT_LINES, page

RECEIPT = get_doctype("receipt")
COMPANY = "HOME MASTER HARDWARE & ELECTRICAL"


class Reader:
    """A second recogniser that reads every crop as ``text`` (the wiring around a real one)."""

    name = "fixed"
    version = "1"

    def __init__(self, text: str) -> None:
        self.text = text
        self.crops = 0

    def read_line(self, image) -> str:
        self.crops += 1
        return self.text


def _calibration() -> Calibration:
    # Only the second reading and a bias: the confidence is what the second reading says.
    weights = [6.0 if f == "second_reading" else -2.0 if f == "bias" else 0.0 for f in FEATURES]
    return Calibration("test", "test", "m", "receipt-v0", {"receipt.company": weights},
                       thresholds={"receipt.company": 0.95})


def _company(reader: Reader | None):
    pages = (page(RECEIPT_LINES),)
    image = PageImage(page=1, image=Image.new("RGB", (600, 1000), "white"), dpi=200.0)
    reread = rereader(pages, {1: image}, reader) if reader is not None else None
    out = ExtractionOutput((Candidate("company", COMPANY, 0.99, extra={"p_mean": 0.99, "p_min": 0.99}),),
                           "test", "1:m", "receipt-v0")
    fields = finish_fields(DocumentText(pages), RECEIPT, out, _calibration(), reread=reread)
    return next(f for f in fields if f.name == "company")


def test_a_value_another_recogniser_confirms_is_trusted_and_one_it_reads_otherwise_waits():
    agreed = _company(Reader(COMPANY.lower()))
    assert agreed.signals[SIGNAL] == 1.0
    assert agreed.status == "auto_accepted" and agreed.confidence > 0.95, agreed.reasons
    assert not [m for m in agreed.messages if "second reading" in m]

    slipped = _company(Reader("HOME MASTER HARDWARE 8 ELECTRICAL"))
    assert 0.9 < slipped.signals[SIGNAL] < 1.0
    assert slipped.status == "needs_review" and slipped.confidence < agreed.confidence
    [doubt] = [m for m in slipped.messages if "second reading" in m]
    assert doubt.startswith("warning:") and "[&]" in doubt

    unread = _company(None)  # no second recogniser installed: no confirmation, no more trust
    assert SIGNAL not in unread.signals and unread.status == "needs_review"
    assert unread.confidence < slipped.confidence


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


def test_confirmation_is_steep_near_full_agreement():
    assert confirmed(None) == 0.0 and confirmed(0.0) == 0.0
    assert confirmed(1.0) == 1.0 == confirmed(0.995)
    assert confirmed(0.9) == 0.5
    values = [confirmed(a / 100) for a in range(0, 101)]
    assert values == sorted(values)
    assert feature_vector({SIGNAL: 1.0})[FEATURES.index("second_reading")] == 1.0
    assert feature_vector({})[FEATURES.index("second_reading")] == 0.0


def test_a_calibration_fitted_before_the_second_reading_loads_and_scores_as_it_did():
    older = [f for f in FEATURES if f != "second_reading"]
    weights = [0.5 * (i + 1) for i in range(len(older))]
    data = {"version": "old", "engine": "llamacpp", "model": "m", "prompt_version": "receipt-v5",
            "features": older, "coefficients": {"receipt.total": weights}}
    cal = Calibration.from_json(json.loads(json.dumps(data)))
    widened = cal.coefficients["receipt.total"]
    assert widened[FEATURES.index("second_reading")] == 0.0
    assert [w for f, w in zip(FEATURES, widened, strict=True) if f != "second_reading"] == weights
    signals = {"model": 0.9, "grounding": 1.0, "ocr": 0.95, "valid": 1.0, "check": 1.0}
    assert cal.score("receipt", "total", signals) == cal.score("receipt", "total", {**signals, SIGNAL: 1.0})
    assert Calibration.from_json(json.loads(json.dumps(cal.to_json()))) == cal

    for features in (["logit_mean", "telepathy", "bias"], ["ocr", "logit_mean", "bias"], ["logit_mean", "ocr"]):
        with pytest.raises(ValueError):
            Calibration.from_json({**data, "features": features, "coefficients": {"receipt.total": [1.0] * len(features)}})
    with pytest.raises(ValueError):
        Calibration.from_json({**data, "coefficients": {"receipt.total": weights[:-1]}})
