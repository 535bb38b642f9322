"""The coverage-ceiling bench: how often the truth is in the raw and the assembled OCR text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docproc.bench.ocr import assembled_texts, holds, run_coverage_bench

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def test_values_are_found_whitespace_and_case_aside_or_by_letters_and_digits():
    assert holds("No: 28,JALAN\nastana 1C,", "NO: 28, JALAN ASTANA 1C,") == (True, True)
    assert holds("NO. 28 JALAN ASTANA", "NO: 28, JALAN ASTANA") == (False, True)
    assert holds("28 ASTANA JALAN", "JALAN ASTANA") == (False, False)


def test_assembled_texts_of_a_sloping_header_hold_what_the_engine_read():
    """Given an engine's reading of four sloping header lines, then the raw, the assembled and the
    relined texts all hold the address across its lines (a fake engine: the code around it is
    under test)."""
    from types import SimpleNamespace

    from docproc.pipeline.ocr.words import page_words
    from docproc.pipeline.types import PageImage

    from .test_words import _sloping_header

    texts, words = _sloping_header()

    class Engine:
        name, version = "fake", "1"

        def page_words(self, page, out):
            return page_words(page, list(words), engine=self.name, version=self.version)

    raw = SimpleNamespace(txts=[" ".join(t) for t in texts] + ["Station: CASHIER", "Bill No:"])
    page = PageImage(1, SimpleNamespace(width=800, height=2000), 0.0)
    found = assembled_texts(Engine(), page, raw)
    address = "No: 28, JALAN ASTANA 1C, BANDAR BUKIT RAJA, 41050 KLANG SELANGOR D.E, MALAYSIA"
    assert all(holds(text, address)[0] for text in found.values()), found
    assert found["assembled"].splitlines()[0] == "LIGHTROOM GALLERY SDN BHD"


@pytest.mark.slow
def test_coverage_bench_reads_a_generated_receipt_once(tmp_path):
    """Given a one-receipt data set with its truth, when the bench runs twice with a cache, then
    both values are found in every text and the second run reuses the cached reading."""
    from PIL import Image, ImageDraw, ImageFont

    if not Path(FONT).is_file():
        pytest.skip("DejaVu fonts (Debian fonts-dejavu-core) are not installed")
    data = tmp_path / "receipts"
    (data / "images").mkdir(parents=True)
    image = Image.new("RGB", (700, 900), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 26)
    for y, text in ((60, "LIGHTROOM GALLERY SDN BHD"), (110, "NO 28, JALAN ASTANA 1C"), (400, "TOTAL 73.00")):
        draw.text((60, y), text, font=font, fill="black")
    image.save(data / "images" / "r1.png")
    truth = {"company": "LIGHTROOM GALLERY SDN BHD", "total": "73.00", "address": "NO 28, JALAN ASTANA 1C"}
    (data / "manifest.jsonl").write_text(json.dumps({"id": "r1", "file": "images/r1.png", "doc_type": "receipt",
                                                     "fields": truth}) + "\n")
    cache = tmp_path / "cache"
    options = {"charset": "ascii"}
    first = run_coverage_bench(data, options=options, limit=None, ocr_dpi=200, cache_dir=cache)
    assert first["documents"] == 1 and first["coverage"]["raw"] == first["coverage"]["assembled"] == 1.0
    assert first["fields"]["address"]["lines"] == 1.0
    (cached,) = cache.rglob("r1.json")
    reading = json.loads(cached.read_text())
    company_line = next(i for i, t in enumerate(reading["out"]["txts"]) if "LIGHTROOM" in t)
    reading["out"]["txts"][company_line] = "NOTHING HERE"  # a re-run must read this, not the image
    cached.write_text(json.dumps(reading))
    second = run_coverage_bench(data, options=options, limit=None, ocr_dpi=200, cache_dir=cache)
    assert second["fields"]["company"]["raw"] == second["fields"]["company"]["assembled"] == 0.0
    assert second["fields"]["total"]["assembled"] == 1.0
