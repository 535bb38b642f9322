"""Generated scans for the OCR tests: small (150 DPI) so the real engines stay cheap."""

from __future__ import annotations

from pathlib import Path

import pytest


def truth_box(pdf: Path, text: str) -> tuple[float, float, float, float]:
    """The box of ``text`` in the digital PDF's text layer: where the scan shows it, upright."""
    from docproc.pipeline.textlayer import read_text_layer

    for word in read_text_layer(pdf, 1).words:
        if word.text == text:
            return word.bbox
    raise AssertionError(f"{text!r} is not in {pdf}")


def find_word(words, text: str):
    hits = [w for w in words if w.text.strip(".,:;") == text]
    assert hits, f"{text!r} not recognised; read: {' '.join(w.text for w in words)[:800]}"
    return hits[0]


def centre_distance(a, b) -> float:
    return max(abs((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2), abs((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2))


@pytest.fixture(scope="session")
def claim_pdfs(tmp_path_factory):
    """Two digital claims (inline and boxed layouts) with their ground truth."""
    from fixtures.claims import make_claim, write_claim_pdf

    out = tmp_path_factory.mktemp("ocr-claims")
    first, second = make_claim(4101), make_claim(4102)
    return [
        (write_claim_pdf(first, out / "inline.pdf", layout="inline"), first),
        (write_claim_pdf(second, out / "boxed.pdf", layout="boxed"), second),
    ]


@pytest.fixture(scope="session")
def rapid_engine():
    from docproc.pipeline.ocr.rapid import RapidOcrEngine

    return RapidOcrEngine(threads=1)


@pytest.fixture(scope="session")
def tesseract_engine():
    from docproc.pipeline.ocr.tesseract import TesseractEngine

    return TesseractEngine(threads=1)


@pytest.fixture
def sroie(datasets):
    folder = datasets / "receipts-sroie"
    if not (folder / "manifest.jsonl").is_file():
        pytest.skip("receipts-sroie is not in the shared datasets")
    return folder
