"""Boxes from OCR output: line boxes split into words, Tesseract TSV, ruling-line removal."""

from __future__ import annotations

import numpy as np
import pytest

from docproc.pipeline.ocr.tesseract import parse_tsv, remove_ruling_lines
from docproc.pipeline.ocr.words import split_line


def test_split_line_boxes_words_by_their_share_of_characters():
    quad = [[100, 50], [300, 50], [300, 70], [100, 70]]  # 20 characters over 200 px
    words = split_line("Claim  CLM-2024-0001", quad, 0.97, 1000, 500)
    assert [w.text for w in words] == ["Claim", "CLM-2024-0001"]
    claim, number = words
    assert claim.bbox == (0.1, 0.1, 0.15, 0.14)
    assert abs(number.bbox[0] - 0.17) < 1e-9 and number.bbox[2] == 0.3
    assert all(w.confidence == 0.97 for w in words)


def test_split_line_follows_a_slanted_line():
    quad = [[0, 100], [200, 80], [200, 100], [0, 120]]
    left, right = split_line("ab cd", quad, 2.0, 200, 200)
    assert left.bbox[1] > right.bbox[1]  # the line rises to the right
    assert right.confidence == 1.0  # clamped into [0, 1]


def test_parse_tsv_keeps_words_with_scaled_confidence():
    tsv = (
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
        "1\t1\t0\t0\t0\t0\t0\t0\t1000\t800\t-1\t\n"
        "5\t1\t1\t1\t1\t1\t100\t40\t50\t20\t96.5\tTotal\n"
        "5\t1\t1\t1\t1\t2\t160\t40\t40\t20\t-1\t \n"
        "5\t1\t1\t1\t1\t3\t210\t40\t60\t20\t88\t12.50\n"
    )
    words = parse_tsv(tsv, 1000, 800)
    assert [(w.text, w.confidence) for w in words] == [("Total", 0.965), ("12.50", 0.88)]
    assert words[0].bbox == (0.1, 0.05, 0.15, 0.075)


def test_ruling_lines_are_removed_and_text_is_kept():
    import cv2

    page = np.full((1100, 850), 255, np.uint8)  # a letter page at 100 DPI
    cv2.rectangle(page, (20, 20), (580, 120), 0, 2)  # a form box
    cv2.putText(page, "CLM 2024", (60, 90), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    cleaned = remove_ruling_lines(page)
    assert (cleaned[20:23, 200:400] == 255).all() and (cleaned[30:110, 20:23] == 255).all()
    text = page[50:100, 60:260] < 128
    assert (cleaned[50:100, 60:260][text] < 128).mean() > 0.9


def _sloping_header():
    """Four engine lines of a receipt header sloping down to the right, each line's far end lower
    than the next line's near end (as SROIE receipt X51005303661 is scanned), plus two lines side
    by side on one baseline."""
    from docproc.pipeline.types import Word

    texts = [["LIGHTROOM", "GALLERY", "SDN", "BHD"], ["No:", "28,", "JALAN", "ASTANA", "1C,"],
             ["BANDAR", "BUKIT", "RAJA,", "41050"], ["KLANG", "SELANGOR", "D.E,", "MALAYSIA"]]
    words = []
    for li, line in enumerate(texts):
        for i, text in enumerate(line):
            y = 0.040 + 0.016 * li + 0.006 * i
            words.append(Word("", text, (0.2 + 0.12 * i, y, 0.3 + 0.12 * i, y + 0.027), 0.9, line=li))
    words.append(Word("", "Station:", (0.05, 0.20, 0.15, 0.22), 0.9, line=4))
    words.append(Word("", "CASHIER", (0.16, 0.20, 0.3, 0.22), 0.9, line=4))
    words.append(Word("", "Bill", (0.55, 0.205, 0.62, 0.226), 0.9, line=5))
    words.append(Word("", "No:", (0.63, 0.205, 0.7, 0.226), 0.9, line=5))
    return texts, words


def test_engine_lines_stay_whole_when_the_page_slopes():
    """Given an engine's lines that slope so much that each one's extent overlaps the next's, when
    the product builds the page's lines (and then its reading order), then each engine line is one
    line, in order, and two engine lines on one baseline are joined."""
    from types import SimpleNamespace

    from docproc.pipeline.ocr.words import page_words
    from docproc.pipeline.reading_order import order_words
    from docproc.pipeline.types import PageImage, page_text

    texts, words = _sloping_header()
    page = page_words(PageImage(1, SimpleNamespace(width=800, height=2000), 300.0), list(words), engine="t", version="1")
    expected = [" ".join(line) for line in texts] + ["Station: CASHIER Bill No:"]
    assert page.text.splitlines() == expected
    ordered = order_words(page.words)
    assert page_text(type(page)(1, 800, 2000, ordered, "ocr", "t", "1")).splitlines() == expected
    assert sorted(w.text for w in ordered) == sorted(w.text for w in words)


def test_without_engine_lines_the_sloping_header_is_interleaved():
    """The failure the engine lines prevent: lined word by word against each line's whole extent,
    the same words interleave (this is how text-layer words are still lined)."""
    from docproc.pipeline.reading_order import assign_lines

    _, words = _sloping_header()
    first = [w.text for w in assign_lines(words) if w.line == 0]
    assert "LIGHTROOM" in first and "No:" in first


@pytest.mark.slow
def test_receipt_header_lines_stay_separate(sroie, rapid_engine):
    """Given SROIE receipt X51005303661 (its four header lines slope into one another), when
    rapidocr reads it through the runner and the layout stage orders it, then the company and
    each address line are lines of their own, whole, and the assembled text holds the address."""
    from docproc.pipeline.ingest import ingest_file
    from docproc.pipeline.reading_order import order_words
    from docproc.pipeline.runner import Limits, Timings, read_page
    from docproc.pipeline.types import page_text

    path = sroie / "images" / "X51005303661.jpg"
    ingested = ingest_file(path, max_pages=1, max_image_pixels=80_000_000)
    page = read_page(path, ingested, 1, ocr=lambda: rapid_engine, limits=Limits(ocr_dpi=200), timings=Timings())
    ordered = type(page)(1, page.width, page.height, order_words(page.words), "ocr", page.engine, page.engine_version)
    for text in (page.text, page_text(ordered)):
        lines = [" ".join(line.split()).upper() for line in text.splitlines()]
        assert lines[0] == "LIGHTROOM GALLERY SDN BHD"
        assert any(line.startswith("NO: 28") and "JALAN ASTANA" in line for line in lines[1:3]), lines[:5]
        assert any("BANDAR BUKIT RAJA" in line for line in lines[1:4]), lines[:5]
        squeezed = "".join(text.split()).upper()
        assert "BANDARBUKITRAJA,41050" in squeezed and "LIGHTROOMGALLERYSDNBHD" in squeezed
