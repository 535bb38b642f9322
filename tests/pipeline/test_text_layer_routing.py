"""A PDF page goes to OCR when its text layer covers only part of what the page shows."""

from __future__ import annotations

import pytest

from docproc.pipeline.textlayer import (
    MIN_INK_COVERAGE,
    read_text_layer,
    text_layer_ink_coverage,
    text_layer_is_usable,
)


def test_digital_forms_are_covered_by_their_text_layer(claim_files):
    """Boxes and ruling lines of a digital form are not text the layer misses."""
    for pdf, _ in claim_files:
        words = read_text_layer(pdf, 1)
        assert text_layer_is_usable(words)
        assert text_layer_ink_coverage(pdf, 1, words) >= 0.9, pdf.name


@pytest.fixture
def stamped_scan(claim_files, tmp_path):
    """A scanned claim (an image) with one digital line stamped on top: a usable-looking text layer."""
    from reportlab.pdfgen import canvas

    from fixtures.claims import write_scan

    scan = write_scan(claim_files[0][0], tmp_path / "scan.png", dpi=100)
    path = tmp_path / "stamped.pdf"
    c = canvas.Canvas(str(path), pagesize=(612, 792))
    c.drawImage(str(scan), 0, 0, 612, 792)
    c.setFont("Helvetica", 9)
    c.drawString(40, 780, "Received 2025-03-01 by ACME mail room, batch 7731")
    c.showPage()
    c.save()
    return path


def test_a_scan_with_a_stamped_line_is_not_covered(stamped_scan):
    words = read_text_layer(stamped_scan, 1)
    assert text_layer_is_usable(words)  # the old test alone would trust it
    assert text_layer_ink_coverage(stamped_scan, 1, words) < MIN_INK_COVERAGE / 2


def test_runner_sends_the_stamped_scan_to_ocr(stamped_scan):
    """The runner asks the OCR engine for that page (a small fake engine stands in here; the real
    engines read such pages in tests/ocr)."""
    from docproc.pipeline.ingest import ingest_file
    from docproc.pipeline.ocr import OcrCapabilities
    from docproc.pipeline.runner import Limits, Timings, read_page
    from docproc.pipeline.types import PageWords

    seen = []

    class Recorder:
        name, version = "recorder", "1"
        capabilities = OcrCapabilities()

        def read(self, page):
            seen.append(page)
            return PageWords(page=page.page, width=page.width, height=page.height, words=(), source="ocr",
                             engine=self.name, engine_version=self.version)

    ingested = ingest_file(stamped_scan, max_pages=5, max_image_pixels=10**8)
    words = read_page(stamped_scan, ingested, 1, ocr=Recorder, limits=Limits(ocr_dpi=72), timings=Timings())
    assert words.source == "ocr" and len(seen) == 1
