"""Boxes from OCR output: line boxes split into words, Tesseract TSV, ruling-line removal."""

from __future__ import annotations

import numpy as np

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
