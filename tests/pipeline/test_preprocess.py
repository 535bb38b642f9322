"""Page preparation before OCR: text axis, skew and size, measured on generated scans."""

from __future__ import annotations

import pytest
from PIL import Image

from docproc.pipeline.preprocess import (
    detect_rotation,
    detect_skew,
    median_char_height,
    prepare_page,
    to_gray,
)
from docproc.pipeline.types import PageImage


@pytest.fixture(scope="module")
def claim_pdf(tmp_path_factory):
    from fixtures.claims import make_claim, write_claim_pdf

    return write_claim_pdf(make_claim(77), tmp_path_factory.mktemp("pre") / "claim.pdf", layout="table")


@pytest.mark.parametrize("rotate", [90, 270])
def test_quarter_turns_are_found_from_the_pixels(claim_pdf, tmp_path, rotate):
    from fixtures.claims import write_scan

    scan = write_scan(claim_pdf, tmp_path / "s.png", dpi=100, rotate=rotate, noise=0.03)
    gray = to_gray(Image.open(scan))
    # the axis comes from the pixels; up or down is the engine's call (its scorer's sign)
    assert detect_rotation(gray) == 90
    assert detect_rotation(gray, scorer=lambda _: -1.0) == 270
    upright = to_gray(Image.open(write_scan(claim_pdf, tmp_path / "u.png", dpi=100, noise=0.03)))
    assert detect_rotation(upright) == 0 and detect_rotation(upright, scorer=lambda _: -1.0) == 180


@pytest.mark.parametrize("skew", [-2.5, 1.3])
def test_small_skew_is_measured(claim_pdf, tmp_path, skew):
    from fixtures.claims import write_scan

    scan = write_scan(claim_pdf, tmp_path / "s.png", dpi=100, skew=skew, noise=0.03)
    assert abs(detect_skew(to_gray(Image.open(scan))) + skew) < 0.3


def test_prepare_page_resizes_to_the_engine_character_height(claim_pdf, tmp_path):
    from fixtures.claims import write_scan

    scan = write_scan(claim_pdf, tmp_path / "s.png", dpi=100)
    page = PageImage(page=1, image=Image.open(scan).convert("RGB"), dpi=100.0)
    before = median_char_height(to_gray(page.image))
    prepared = prepare_page(page, target_char_height=before * 2)
    assert prepared.rotation == 0 and prepared.skew == 0.0
    assert prepared.width == pytest.approx(page.width * 2, rel=0.02)
    assert prepared.dpi == pytest.approx(200, rel=0.02)
    assert prepare_page(page, target_char_height=before * 1.1).width == page.width  # close enough: untouched


def test_blank_page_is_left_alone():
    page = PageImage(page=1, image=Image.new("RGB", (300, 400), "white"), dpi=100.0)
    prepared = prepare_page(page, target_char_height=20)
    assert (prepared.rotation, prepared.skew, prepared.width) == (0, 0.0, 300)
