"""Scanned documents through the services: fields with boxes, upright previews, bad images failed with a code."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from docproc import selectors, services
from docproc.models import Document


def upload(make_api_client, name: str, data: bytes) -> Document:
    client, _ = make_api_client(name=f"client-{name}")
    return services.document_upload(client=client, uploaded=SimpleUploadedFile(name, data), doc_type="claim").document


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG that declares width x height pixels (a decompression bomb's header)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("bomb.png", bomb_png(40_000, 40_000), "image_too_large"),
        ("truncated.png", None, "corrupt_image"),
    ],
)
def test_bad_images_end_failed_with_a_code(make_api_client, tmp_path, name, data, code):
    from PIL import Image

    if data is None:
        Image.new("RGB", (400, 300), "white").save(tmp_path / "ok.png")
        data = (tmp_path / "ok.png").read_bytes()[:120]  # header intact, pixel data cut off
    doc = upload(make_api_client, name, data)
    services.document_ingest(document_id=doc.id)
    doc.refresh_from_db()
    assert doc.status == "failed" and doc.error_code == code


@pytest.mark.django_db
def test_corrupt_second_tiff_frame_fails_at_ocr_with_a_code(make_api_client, tmp_path, settings):
    """A TIFF whose first frame is fine and whose second cannot be decoded passes ingest and
    fails when that page is read, with a code, not a crash."""
    from PIL import Image

    settings.DOCPROC_OCR_ENGINE = "tesseract"
    frames = [Image.new("L", (300, 400), 255), Image.new("L", (300, 400), 255)]
    path = tmp_path / "two.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    raw = bytearray(path.read_bytes())
    # damage the second frame's compressed strip (the last bytes before the second IFD)
    from PIL import TiffImagePlugin

    with Image.open(path) as img:
        img.seek(1)
        offset = img.tag_v2[TiffImagePlugin.STRIPOFFSETS][0]
        count = img.tag_v2[TiffImagePlugin.STRIPBYTECOUNTS][0]
    raw[offset:offset + count] = b"\xff" * count
    doc = upload(make_api_client, "two.tiff", bytes(raw))
    services.document_ingest(document_id=doc.id)
    services.document_extract(document_id=doc.id)
    doc.refresh_from_db()
    assert doc.status == "failed" and doc.error_code == "corrupt_image", (doc.status, doc.error_code, doc.error_detail)


@pytest.mark.slow
@pytest.mark.django_db
def test_scanned_claim_gives_boxes_like_a_digital_one(make_api_client, tmp_path, settings):
    """Given a claim scanned upside down, when the services process it with the default engine,
    then its fields carry page and box like the digital claim's, and the stored preview is the
    upright page those boxes refer to. The extraction stage starts from the stored reading, which
    keeps no image, and still reads the scanned values' lines again (Tesseract, the default
    second reader), on the page as OCR read it: the claim number's reading agrees."""
    from PIL import Image

    from docproc import engines
    from fixtures.claims import make_claim, write_claim_pdf, write_scan

    settings.DOCPROC_RENDER_DPI = 150
    engines.reset_engines()
    truth = make_claim(4242)
    pdf = write_claim_pdf(truth, tmp_path / "claim.pdf", layout="inline")
    scan = write_scan(pdf, tmp_path / "claim.jpg", dpi=150, rotate=180, noise=0.03, jpeg_quality=85)

    results = {}
    for name, path in (("digital", pdf), ("scan", scan)):
        doc = upload(make_api_client, path.name, Path(path).read_bytes())
        services.document_ingest(document_id=doc.id)
        services.document_extract(document_id=doc.id)
        doc.refresh_from_db()
        assert doc.status in ("needs_review", "auto_accepted"), (doc.status, doc.error_code, doc.error_detail)
        results[name] = (doc, selectors.document_result(doc)["fields"])

    digital, scanned = results["digital"][1], results["scan"][1]
    assert scanned["claim_number"]["value"] == truth.claim_number
    for name in ("claim_number", "policy_number", "amount_claimed"):
        d, s = digital[name], scanned[name]
        assert s["value"] == d["value"], name
        assert s["page"] == d["page"] == 1
        assert set(s.keys()) == set(d.keys())
        assert all(abs(a - b) < 0.03 for a, b in zip(s["bbox"], d["bbox"], strict=True)), (name, s["bbox"], d["bbox"])

    from docproc.pipeline.ocr.second_reading import SIGNAL

    def second_readings(doc) -> dict[str, float]:
        return {f.name: f.signals[SIGNAL] for f in doc.fields.all() if SIGNAL in (f.signals or {})}

    if engines.get_second_reader() is not None:
        assert second_readings(results["scan"][0]).get("claim_number") == 1.0, second_readings(results["scan"][0])
        assert second_readings(results["digital"][0]) == {}  # a text layer is not read again

    doc = results["scan"][0]
    page = doc.pages.get(number=1)
    preview = Image.open(Path(settings.MEDIA_ROOT) / page.image)
    assert preview.height > preview.width  # upright portrait, not the landscape-free upside-down scan
    # the preview is the corrected page: the claim number's box holds dark pixels there
    x0, y0, x1, y1 = scanned["claim_number"]["bbox"]
    crop = preview.convert("L").crop((int(x0 * preview.width), int(y0 * preview.height),
                                      int(x1 * preview.width) + 1, int(y1 * preview.height) + 1))
    import numpy as np

    assert int(np.asarray(crop).min()) < 100
