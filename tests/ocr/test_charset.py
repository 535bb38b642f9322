"""Recognition restricted to a character set, and rapidocr's detector settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docproc.pipeline.ocr.charset import allows, check_charset, class_mask

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def line_image(text: str, width: int = 520) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (width, 48), 255)
    ImageDraw.Draw(image).text((8, 6), text, font=ImageFont.truetype(FONT, 28), fill=0)
    return np.asarray(image)


def test_character_sets_nest():
    assert all(allows(cs, "A") and allows(cs, "7") and allows(cs, " ") for cs in ("ascii", "latin", "all"))
    assert not allows("ascii", "é") and allows("latin", "é") and allows("latin", "ł") and allows("latin", "€")
    assert not allows("latin", "中") and not allows("latin", "\uff1a") and allows("all", "中")
    # the CTC blank (class 0) is always allowed, whatever its label
    assert class_mask("ascii", ["blank", "a", "é", "中", " "]) == [True, True, False, False, True]
    with pytest.raises(ValueError, match="known: all, latin, ascii"):
        check_charset("cyrillic")


@pytest.mark.slow
def test_ascii_recognition_never_emits_a_non_ascii_character(rapid_engine):
    """Given printed lines with accents and a euro sign, when rapidocr reads them under each
    character set, then ascii emits only ASCII (the nearest letters instead), latin and all keep
    the accents, and a plain line reads the same under all three."""
    if not Path(FONT).is_file():
        pytest.skip("DejaVu fonts (Debian fonts-dejavu-core) are not installed")
    crops = [line_image("Café Müller 12,50 €"), line_image("Total 73.00")]
    read = {cs: rapid_engine.for_reading(cs).read_crops(crops) for cs in ("all", "latin", "ascii")}

    assert "é" in read["all"][0][0] and "ü" in read["latin"][0][0] and "€" in read["latin"][0][0]
    ascii_text = read["ascii"][0][0]
    assert ascii_text and all(" " <= ch <= "~" for ch in ascii_text), ascii_text
    assert ascii_text.startswith("Caf") and "12,50" in ascii_text
    assert read["all"][1][0] == read["latin"][1][0] == read["ascii"][1][0] == "Total 73.00"
    # the views share one loaded model and never share stored results
    versions = {rapid_engine.for_reading(cs).version for cs in ("all", "latin", "ascii")}
    assert len(versions) == 3 and all(len(v) <= 50 for v in versions)
    assert rapid_engine.for_reading(rapid_engine.charset) is rapid_engine


@pytest.mark.slow
def test_ascii_page_reading_of_a_receipt_is_ascii(sroie):
    """Given a shared receipt whose default reading holds a full-width colon, when the page is read
    under ascii through the runner, then no word holds a character outside ASCII."""
    from docproc.pipeline.ingest import ingest_file
    from docproc.pipeline.ocr.rapid import RapidOcrEngine
    from docproc.pipeline.runner import Limits, Timings, read_page

    path = sroie / "images" / "X51005303661.jpg"
    engine = RapidOcrEngine(charset="ascii")
    ingested = ingest_file(path, max_pages=1, max_image_pixels=80_000_000)
    page = read_page(path, ingested, 1, ocr=lambda: engine, limits=Limits(ocr_dpi=200), timings=Timings())
    text = " ".join(w.text for w in page.words)
    assert "LIGHTROOM" in text and "20/12/2017" in text
    assert all(" " <= ch <= "~" for ch in text), [ch for ch in text if not " " <= ch <= "~"]


def test_detector_settings_reach_rapidocr_and_the_version(rapid_engine):
    from docproc.pipeline.ocr.rapid import RapidOcrEngine

    cfg = rapid_engine._ocr.cfg
    assert (cfg.Det.unclip_ratio, cfg.Det.box_thresh, cfg.Det.thresh) == (1.6, 0.5, 0.3)  # rapidocr's own
    assert rapid_engine._ocr.max_side_len == 2000
    other = RapidOcrEngine(det_unclip_ratio=2.0, det_box_thresh=0.3, det_thresh=0.2, max_side_len=0)
    assert other._ocr.cfg.Det.unclip_ratio == 2.0 and other._ocr.max_side_len > 100_000  # 0: never shrunk
    assert other.version != rapid_engine.version
    with pytest.raises(ValueError, match="box_thresh"):
        RapidOcrEngine(det_box_thresh=1.5)


def test_settings_drive_the_rapidocr_options(settings):
    from docproc.engines import engine_options

    settings.DOCPROC_RAPIDOCR_UNCLIP_RATIO = 1.8
    settings.DOCPROC_OCR_CHARSET = "latin"
    opts = engine_options("ocr", "rapidocr")
    assert opts["det_unclip_ratio"] == 1.8 and opts["charset"] == "latin"
    assert opts["det_box_thresh"] == 0.5 and opts["det_thresh"] == 0.3 and opts["max_side_len"] == 2000
    assert "charset" not in engine_options("ocr", "tesseract")


def test_the_document_type_charset_reaches_the_ocr_engine(rapid_engine, tmp_path):
    """Given a receipt image printing an accent, when the pipeline reads it as a receipt (its type
    says ``charset: ascii``) with the engine configured for all characters, then the page is read
    under ascii (its engine version says so, no word holds a non-ASCII character); a type that
    says ``all`` leaves the engine as configured."""
    from dataclasses import replace

    from PIL import Image

    from docproc.doctypes import get_doctype
    from docproc.doctypes.schema import OcrSettings
    from docproc.pipeline.extract.rules import RulesExtractor
    from docproc.pipeline.runner import Limits, ocr_for_type, process_file

    if not Path(FONT).is_file():
        pytest.skip("DejaVu fonts (Debian fonts-dejavu-core) are not installed")
    path = tmp_path / "receipt.png"
    Image.fromarray(np.vstack([line_image("Café Müller"), line_image("Total 73.00")])).save(path)
    receipt = replace(get_doctype("receipt"), ocr=OcrSettings())
    assert receipt.charset == "ascii" and rapid_engine.charset == "all"
    result = process_file(path, receipt, ocr=lambda: rapid_engine, extractor=RulesExtractor(), limits=Limits())
    page = result.pages[0]
    assert page.engine_version == rapid_engine.for_reading("ascii").version != rapid_engine.version
    text = " ".join(w.text for w in page.words)
    assert "73.00" in text and all(" " <= ch <= "~" for ch in text), text
    everything = process_file(path, replace(receipt, charset="all"), ocr=lambda: rapid_engine,
                              extractor=RulesExtractor(), limits=Limits())
    assert everything.pages[0].engine_version == rapid_engine.version
    # the type's detector settings reach the engine the same way
    wide = replace(receipt, ocr=OcrSettings(unclip_ratio=2.4, max_side_len=0))
    widened = process_file(path, wide, ocr=lambda: rapid_engine, extractor=RulesExtractor(), limits=Limits())
    view = rapid_engine.for_reading("ascii", {"unclip_ratio": 2.4, "max_side_len": 0})
    assert widened.pages[0].engine_version == view.version == ocr_for_type(rapid_engine, wide).version
    assert view.version not in (rapid_engine.version, page.engine_version)


def printed_lines(lines: list[str]):
    from PIL import Image, ImageDraw, ImageFont

    from docproc.pipeline.types import PageImage

    image = Image.new("RGB", (900, 80 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(lines):
        draw.text((40, 40 + 70 * i), text, font=ImageFont.truetype(FONT, 30), fill="black")
    return PageImage(page=1, image=image, dpi=200.0)


def test_a_view_reads_with_its_detector_settings_and_leaves_the_engine_as_it_was(rapid_engine):
    """Given the configured engine and a view of it with a wider unclip, lower thresholds and no
    shrinking, when a page is read by the engine, then by the view, then by the engine again,
    then the view's boxes are taller (its detector grows them more), the engine reads the same
    both times (the shared models are set back for it), and each keeps its own version."""
    if not Path(FONT).is_file():
        pytest.skip("DejaVu fonts (Debian fonts-dejavu-core) are not installed")
    page = printed_lines(["LIGHTROOM GALLERY SDN BHD", "TOTAL RM 73.00"])
    wide = rapid_engine.for_reading("all", {"unclip_ratio": 2.4, "box_thresh": 0.3, "thresh": 0.2,
                                            "max_side_len": 0})
    assert wide is not rapid_engine and wide.version != rapid_engine.version
    assert (wide.det, wide.max_side_len) == ({"unclip_ratio": 2.4, "box_thresh": 0.3, "thresh": 0.2}, 0)
    assert wide.text_share < rapid_engine.text_share
    before = rapid_engine.read(page)
    widened = wide.read(page)
    after = rapid_engine.read(page)

    def height(words) -> float:
        return sum(w.bbox[3] - w.bbox[1] for w in words) / len(words)

    assert [w.text for w in before.words] == [w.text for w in after.words] and before.words
    assert [w.bbox for w in before.words] == [w.bbox for w in after.words]
    assert "73.00" in " ".join(w.text for w in widened.words)
    assert height(widened.words) > 1.1 * height(before.words)
    assert widened.engine_version == wide.version


def test_a_view_keeps_what_it_is_not_given_and_refuses_what_it_cannot_take(rapid_engine):
    assert rapid_engine.for_reading("all", {}) is rapid_engine
    assert rapid_engine.for_reading("all", dict(rapid_engine.det)) is rapid_engine
    view = rapid_engine.for_reading("ascii", {"thresh": 0.2})
    assert view.charset == "ascii" and view.det == {**rapid_engine.det, "thresh": 0.2}
    assert view.max_side_len == rapid_engine.max_side_len
    with pytest.raises(ValueError, match="box_thresh"):
        rapid_engine.for_reading("all", {"box_thresh": 1.0})
    with pytest.raises(ValueError, match="unknown rapidocr detector settings: dilate"):
        rapid_engine.for_reading("all", {"dilate": 1})
