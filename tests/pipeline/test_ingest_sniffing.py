from __future__ import annotations

import io

import pytest
from PIL import Image

from docproc.pipeline.ingest import IngestError, ingest_file, sniff_content_type


def _png(size=(40, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "white").save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x00\x00junk before %PDF-1.4", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"GIF89a", None),
        (b"<html><script>", None),
        (b"PK\x03\x04", None),
    ],
)
def test_content_type_is_sniffed_from_bytes(head, expected):
    assert sniff_content_type(head) == expected


def test_pdf_header_beyond_first_kib_is_not_a_pdf():
    assert sniff_content_type(b" " * 1100 + b"%PDF-1.4") is None


def test_png_named_pdf_is_a_png(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(_png())
    ingested = ingest_file(path, max_pages=10, max_image_pixels=10_000_000)
    assert ingested.content_type == "image/png" and ingested.page_count == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"hello", "unsupported_type"),
        (b"%PDF-1.7\n\x00garbage", "corrupt_pdf"),
        (b"\x89PNG\r\n\x1a\nnot really", "corrupt_image"),
    ],
)
def test_bad_files_raise_with_codes(tmp_path, data, code):
    path = tmp_path / "f"
    path.write_bytes(data)
    with pytest.raises(IngestError) as err:
        ingest_file(path, max_pages=10, max_image_pixels=10_000_000)
    assert err.value.code == code


def test_pixel_limit_refuses_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(_png(size=(4000, 3000), mode="L"))
    with pytest.raises(IngestError) as err:
        ingest_file(path, max_pages=10, max_image_pixels=1_000_000)
    assert err.value.code == "image_too_large"


def test_page_limit(tmp_path, claim_files):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    page = PdfReader(str(claim_files[0][0])).pages[0]
    for _ in range(5):
        writer.add_page(page)
    path = tmp_path / "five.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    assert ingest_file(path, max_pages=5, max_image_pixels=1).page_count == 5
    with pytest.raises(IngestError) as err:
        ingest_file(path, max_pages=4, max_image_pixels=1)
    assert err.value.code == "too_many_pages"


def test_multipage_tiff_counts_frames(tmp_path):
    frames = [Image.new("L", (50, 70), 255) for _ in range(3)]
    path = tmp_path / "three.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert ingest_file(path, max_pages=10, max_image_pixels=10_000_000).page_count == 3


@pytest.mark.parametrize("name", ["pdf_catalog_is_page_tree", "pdf_kid_not_a_page", "pdf_page_tree_loop", "pdf_zero_pages"])
def test_a_malformed_page_tree_is_a_corrupt_pdf(tmp_path, name):
    """Given a PDF whose catalog names itself as the page tree (or whose tree holds no page),
    when it is ingested, then it fails ``corrupt_pdf`` instead of passing as a blank page."""
    from fixtures.hostile import cases

    case = next(c for c in cases(max_pages=10) if c.name == name)
    path = tmp_path / f"{case.name}.pdf"
    path.write_bytes(case.make())
    with pytest.raises(IngestError) as err:
        ingest_file(path, max_pages=10, max_image_pixels=10_000_000)
    assert err.value.code == "corrupt_pdf"


def test_every_pdf_of_the_hostile_corpus_keeps_its_outcome(tmp_path):
    """The page-tree check refuses no good PDF (owner password, bad xref, deep nesting, blank pages)."""
    from fixtures.hostile import cases

    for case in cases(max_pages=10):
        data = case.make()
        if sniff_content_type(data[:1024]) != "application/pdf" or case.outcome == "refused":
            continue
        path = tmp_path / f"{case.name}.pdf"
        path.write_bytes(data)
        try:
            ingest_file(path, max_pages=10, max_image_pixels=10_000_000)
            got = "processed"
        except IngestError as exc:
            got = exc.code
        assert got == (case.code if case.outcome == "failed" else "processed"), case.name
