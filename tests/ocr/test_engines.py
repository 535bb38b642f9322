"""The real OCR engines on generated scans: words, boxes and values recovered, pages made upright."""

from __future__ import annotations

from pathlib import Path

import pytest

from docproc.pipeline.ingest import ingest_file
from docproc.pipeline.ocr import OcrCapabilities
from docproc.pipeline.runner import Limits, Timings, read_page

from .conftest import centre_distance, find_word, truth_box

LIMITS = Limits(ocr_dpi=150)


def read_all(path: Path, engine, cache=None, images=None):
    ingested = ingest_file(path, max_pages=10, max_image_pixels=LIMITS.max_image_pixels)
    timings = Timings()
    return ingested, [
        read_page(path, ingested, n, ocr=lambda: engine, limits=LIMITS, timings=timings, cache=cache,
                  on_image=images.append if images is not None else None)
        for n in range(1, ingested.page_count + 1)
    ]


def assert_sane(page) -> None:
    assert page.words, "no words"
    for w in page.words:
        x0, y0, x1, y1 = w.bbox
        assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1, w
        assert 0 <= w.confidence <= 1, w
    assert [w.id for w in page.words] == [f"p{page.page}-w{i}" for i in range(len(page.words))]


@pytest.mark.slow
def test_rapidocr_reads_a_page_scanned_sideways(claim_pdfs, rapid_engine, tmp_path):
    """Given a claim scanned a quarter turn off, when RapidOCR reads it through the runner, then the
    page is turned upright and the claim number is read where the digital claim prints it."""
    from fixtures.claims import write_scan

    pdf, truth = claim_pdfs[0]
    scan = write_scan(pdf, tmp_path / "sideways.png", dpi=150, rotate=90, noise=0.03, seed=3)
    images = []
    _, (page,) = read_all(scan, rapid_engine, images=images)

    assert_sane(page)
    assert page.source == "ocr" and page.engine == "rapidocr" and "PP-OCRv6" in page.engine_version and len(page.engine_version) <= 50
    (upright,) = images
    assert upright.rotation == 270 and upright.height > upright.width
    word = find_word(page.words, truth.claim_number)
    assert word.confidence > 0.8
    assert centre_distance(word.bbox, truth_box(pdf, truth.claim_number)) < 0.02
    assert truth.policy_number in page.text and truth.amount_claimed in page.text
    # words are words, not lines: the label and the value have separate boxes
    label = [w.text for w in page.words if w.line == word.line and w.bbox[2] < word.bbox[0]]
    assert label == ["Claim", "Number:"]


@pytest.mark.slow
def test_tesseract_reads_a_multipage_tiff_with_an_upside_down_page(claim_pdfs, tesseract_engine, tmp_path):
    """Given a two-page TIFF whose second (boxed, skewed) page is upside down, when Tesseract reads
    it, then both pages' claim numbers are found near their printed place."""
    from PIL import Image

    from fixtures.claims import write_scan

    (pdf1, truth1), (pdf2, truth2) = claim_pdfs
    one = write_scan(pdf1, tmp_path / "one.png", dpi=150, noise=0.03, seed=1)
    two = write_scan(pdf2, tmp_path / "two.png", dpi=150, rotate=180, skew=1.2, noise=0.03, seed=2)
    tiff = tmp_path / "claims.tiff"
    frames = [Image.open(one), Image.open(two)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:], compression="tiff_deflate", dpi=(150, 150))

    images = []
    ingested, pages = read_all(tiff, tesseract_engine, images=images)

    assert ingested.content_type == "image/tiff" and ingested.page_count == 2
    assert [p.page for p in pages] == [1, 2]
    for page in pages:
        assert_sane(page)
        assert page.engine == "tesseract" and "eng:" in page.engine_version and len(page.engine_version) <= 50
    assert images[0].rotation == 0 and images[1].rotation == 180 and abs(images[1].skew + 1.2) < 0.3
    w1 = find_word(pages[0].words, truth1.claim_number)
    assert centre_distance(w1.bbox, truth_box(pdf1, truth1.claim_number)) < 0.02
    w2 = find_word(pages[1].words, truth2.claim_number)
    # the skewed scan was rotated with expand=True, so its frame is a little larger than the page
    assert centre_distance(w2.bbox, truth_box(pdf2, truth2.claim_number)) < 0.04
    assert truth2.policy_number in pages[1].text


@pytest.mark.slow
def test_mixed_pdf_is_routed_page_by_page(claim_pdfs, rapid_engine, tmp_path):
    """Given a PDF whose page 1 is digital, page 2 a scanned image and page 3 a scanned image with
    one digital header line, when it is read, then page 1 comes from the text layer and pages 2 and
    3 from OCR, and the stage cache serves a second read without running the engine."""
    from reportlab.pdfgen import canvas

    from fixtures.claims import write_scan

    (pdf1, truth1), (pdf2, truth2) = claim_pdfs
    scan = write_scan(pdf2, tmp_path / "scan.png", dpi=150, noise=0.03, seed=5)
    mixed = tmp_path / "mixed.pdf"
    c = canvas.Canvas(str(mixed), pagesize=(612, 792))
    c.drawImage(str(scan), 0, 0, 612, 792)
    c.showPage()
    c.drawImage(str(scan), 0, 0, 612, 792)
    c.setFont("Helvetica", 9)
    c.drawString(40, 780, "Received 2025-03-01 by ACME mail room, batch 7731")
    c.showPage()
    c.save()
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for source in (pdf1, mixed):
        for p in PdfReader(str(source)).pages:
            writer.add_page(p)
    combined = tmp_path / "combined.pdf"
    with combined.open("wb") as fh:
        writer.write(fh)

    class Counting:
        def __init__(self, engine):
            self.engine, self.calls = engine, 0
            self.name, self.version = engine.name, engine.version
            self.capabilities = OcrCapabilities(target_char_height=engine.capabilities.target_char_height,
                                                upright_score=engine.capabilities.upright_score)

        def read(self, page):
            self.calls += 1
            return self.engine.read(page)

    class DictCache(dict):
        def get(self, page, stage, engine, version):  # type: ignore[override]
            return super().get((page, stage, engine, version))

        def put(self, page, stage, engine, version, payload):
            self[(page, stage, engine, version)] = payload

    engine, cache = Counting(rapid_engine), DictCache()
    _, pages = read_all(combined, engine, cache=cache)
    assert [p.source for p in pages] == ["text-layer", "ocr", "ocr"]
    assert engine.calls == 2
    assert truth1.claim_number in pages[0].text
    for page in pages[1:]:
        assert_sane(page)
        word = find_word(page.words, truth2.claim_number)
        assert centre_distance(word.bbox, truth_box(pdf2, truth2.claim_number)) < 0.02
    assert "batch" in pages[2].text  # the digital line is on the page OCR read

    images = []
    _, again = read_all(combined, engine, cache=cache, images=images)
    assert engine.calls == 2, "a retried read must reuse the stored OCR stage"
    assert [p.words for p in again[1:]] == [p.words for p in pages[1:]]
    assert len(images) == 2 and all(i.rotation == 0 for i in images)


@pytest.mark.slow
@pytest.mark.datasets
def test_rapidocr_orientation_on_a_real_receipt(datasets, rapid_engine):
    """A photographed receipt whose fixed-pitch columns fool projection profiles: the engine's
    line boxes still give the right axis, at every quarter turn."""
    import numpy as np

    from docproc.pipeline.preprocess import detect_rotation, to_gray
    from docproc.pipeline.render import load_image_page

    path = datasets / "receipts-sroie" / "images" / "X51005447848.jpg"
    if not path.is_file():
        pytest.skip("receipt X51005447848 is not in the dataset")
    gray = to_gray(load_image_page(path, 1, max_image_pixels=LIMITS.max_image_pixels).image)
    assert detect_rotation(gray) in (90, 270)  # pixels alone take the columns for lines
    for turn in (0, 90, 180, 270):
        turned = np.ascontiguousarray(np.rot90(gray, k=turn // 90))
        found = detect_rotation(turned, scorer=rapid_engine.upright_score, orienter=rapid_engine.orientation)
        assert found == (360 - turn) % 360, turn
