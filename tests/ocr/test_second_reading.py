"""A second reading of a chosen value's lines by another recogniser, for confidence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from docproc.pipeline.ocr.second_reading import SIGNAL, compare, field_with_second_reading, read_again

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def test_readings_that_agree_leave_nothing_in_doubt():
    reading = compare("LIGHTROOM GALLERY", "Lightroom  gallery", engine="t")
    assert reading.agreement == 1.0 and reading.doubtful == () and reading.marked() == "LIGHTROOM GALLERY"
    assert reading.message() == "second reading (t) agrees"


def test_the_characters_a_second_reading_does_not_confirm_are_in_doubt():
    """Given a first reading with the slips 'WorId' and '31750' and a second reading without them,
    then exactly the slipped characters are in doubt, spaces aside."""
    reading = compare("WorId 31750", "World 81750", engine="tesseract")
    assert reading.marked() == "Wor[I]d [3]1750"
    assert reading.agreement == round(8 / 10, 4)
    assert "reads 'World 81750'" in reading.message() and "Wor[I]d [3]1750" in reading.message()
    nothing = compare("TOTAL", "", engine="t")
    assert nothing.agreement == 0.0 and len(nothing.doubtful) == 5


@pytest.fixture
def printed_page():
    """A page image with two printed lines (DejaVu Sans), as a scanner at 200 DPI would give it."""
    from PIL import Image, ImageDraw, ImageFont

    if not Path(FONT).is_file():
        pytest.skip("DejaVu fonts (Debian fonts-dejavu-core) are not installed")
    from docproc.pipeline.types import PageImage

    image = Image.new("RGB", (900, 400), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 30)
    draw.text((60, 80), "LIGHTROOM GALLERY SDN BHD", font=font, fill="black")
    draw.text((60, 220), "TOTAL RM 73.00", font=font, fill="black")
    return PageImage(page=1, image=image, dpi=200.0)


@pytest.mark.slow
def test_tesseract_reads_again_what_rapidocr_read(printed_page, rapid_engine, tesseract_engine):
    """Given a page rapidocr read, when the words of a chosen value are read again by Tesseract on
    their line crop, then the two agree on a clean print; and when the first reading holds a slip
    (the 3 of 73.00 read as 8), the second reading puts exactly that character in doubt."""
    page = rapid_engine.read(printed_page)
    company = [w for w in page.words if w.text in ("LIGHTROOM", "GALLERY", "SDN", "BHD")]
    assert len(company) == 4, page.text
    agreed = read_again(printed_page, company, tesseract_engine, text_share=rapid_engine.text_share)
    assert agreed is not None and agreed.agreement == 1.0 and agreed.doubtful == (), agreed

    total = next(w for w in page.words if "73.00" in w.text)
    slipped = replace(total, text=total.text.replace("73.00", "78.00"))
    reading = read_again(printed_page, [slipped], tesseract_engine, text_share=rapid_engine.text_share)
    assert reading is not None and "73.00" in reading.second
    assert [reading.first[i] for i in reading.doubtful] == ["8"]
    assert 0 < reading.agreement < 1

    # rapidocr's recogniser can be the second reader too (another character set, the same crops)
    again = read_again(printed_page, company, rapid_engine.for_reading("ascii"), text_share=rapid_engine.text_share)
    assert again is not None and again.agreement == 1.0


@pytest.mark.slow
def test_a_field_carries_its_second_reading_without_a_new_confidence(printed_page, rapid_engine, tesseract_engine):
    """Given a routed field, when its words are read again, then the agreement is one more signal
    and the reviewer's message names the characters in doubt; confidence and status are kept."""
    from docproc.pipeline.types import FieldResult

    page = rapid_engine.read(printed_page)
    total = next(w for w in page.words if "73.00" in w.text)
    page = replace(page, words=tuple(replace(w, text="78.00") if w.id == total.id else w for w in page.words))
    field = FieldResult(name="total", value="78.00", normalized=None, confidence=0.97, status="auto_accepted",
                        page=1, bbox=total.bbox, source=("78.00",), word_ids=(total.id,), signals={"model": 0.97})
    checked = field_with_second_reading(field, printed_page, page, tesseract_engine, text_share=rapid_engine.text_share)
    assert 0 < checked.signals[SIGNAL] < 1 and checked.signals["model"] == 0.97
    assert checked.confidence == 0.97 and checked.status == "auto_accepted"
    assert "7[8].00" in checked.messages[-1]
    none = replace(field, word_ids=())
    assert field_with_second_reading(none, printed_page, page, tesseract_engine) == none


class FixedReader:
    """A stand-in second recogniser that reads every crop as ``text`` (for the wiring around it)."""

    name = "fixed"
    version = "1"

    def __init__(self, text: str) -> None:
        self.text = text
        self.crops = 0

    def read_line(self, image) -> str:
        self.crops += 1
        return self.text


def _receipt_file(printed_page, tmp_path):
    path = tmp_path / "receipt.png"
    printed_page.image.save(path)
    return path


@pytest.mark.slow
def test_the_pipeline_reads_the_lines_of_chosen_values_again(printed_page, rapid_engine, tmp_path):
    """Given a receipt read by rapidocr, when the pipeline runs with Tesseract as the second
    reader, then the OCR'd values carry the signal ``second_reading`` (1.0 on this clean print)
    and no warning, and only the lines of chosen values were read again."""
    import shutil

    from docproc.doctypes import get_doctype
    from docproc.pipeline.extract.rules import RulesExtractor
    from docproc.pipeline.ocr.tesseract import TesseractEngine
    from docproc.pipeline.runner import Limits, process_file

    if not shutil.which("tesseract"):
        pytest.skip("tesseract (Debian package tesseract-ocr) is not installed")
    reader = TesseractEngine(threads=1)
    result = process_file(_receipt_file(printed_page, tmp_path), get_doctype("receipt"), ocr=lambda: rapid_engine,
                          extractor=RulesExtractor(), limits=Limits(), second_reader=lambda: reader)
    total = next(f for f in result.fields if f.name == "total")
    assert total.value == "73.00" and total.signals[SIGNAL] == 1.0
    assert not [m for m in total.messages if "second reading" in m]
    assert "second_reading" in result.timings


@pytest.mark.slow
def test_a_second_reading_that_differs_marks_the_characters_in_doubt_on_the_field(printed_page, rapid_engine, tmp_path):
    """Given a second reader that reads the total's line as 78.00, when the pipeline runs, then the
    total says which character is in doubt (a warning, so the route is the confidence's), its
    signal is below 1, and fields with no value are not read again."""
    from docproc.doctypes import get_doctype
    from docproc.pipeline.extract.rules import RulesExtractor
    from docproc.pipeline.runner import Limits, blocking, process_file

    reader = FixedReader("78.00")
    result = process_file(_receipt_file(printed_page, tmp_path), get_doctype("receipt"), ocr=lambda: rapid_engine,
                          extractor=RulesExtractor(), limits=Limits(), second_reader=lambda: reader)
    total = next(f for f in result.fields if f.name == "total")
    assert 0 < total.signals[SIGNAL] < 1
    [doubt] = [m for m in total.messages if "second reading" in m]
    assert doubt.startswith("warning:") and "7[3].00" in doubt and not blocking((doubt,))
    read_again_fields = [f for f in result.fields if SIGNAL in f.signals]
    assert reader.crops == sum(len({(w.block, w.line) for w in result.pages[0].words if w.id in f.word_ids})
                               for f in read_again_fields)
    assert all(f.value is not None for f in read_again_fields)
    without = process_file(_receipt_file(printed_page, tmp_path), get_doctype("receipt"), ocr=lambda: rapid_engine,
                           extractor=RulesExtractor(), limits=Limits(), second_reader=lambda: None)
    assert all(SIGNAL not in f.signals for f in without.fields)
