"""Pages to upright images: PDF pages through pypdfium2, image frames through Pillow."""

from __future__ import annotations

from pathlib import Path

from .ingest import IngestError, open_image_checked
from .types import PageImage

# Photos and scans without a usable resolution are treated as this many dots per inch.
NOMINAL_DPI = 300.0


def render_pdf_page(path: Path, page: int, *, dpi: int) -> PageImage:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        pdf_page = pdf[page - 1]
        bitmap = pdf_page.render(scale=dpi / 72.0)
        image = bitmap.to_pil().convert("RGB")
        pdf_page.close()
    finally:
        pdf.close()
    return PageImage(page=page, image=image, dpi=float(dpi))


def load_image_page(path: Path, page: int, *, max_image_pixels: int) -> PageImage:
    """Frame ``page`` (1-based) of an image file, EXIF orientation applied, in RGB."""
    from PIL import Image, ImageOps

    with open_image_checked(path, max_image_pixels=max_image_pixels) as img:
        try:
            img.seek(page - 1)
            frame = ImageOps.exif_transpose(img.copy())
            dpi_info = img.info.get("dpi")
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise IngestError(f"Page {page} of the image cannot be decoded: {exc}.", code="corrupt_image") from exc
    frame = _to_rgb(frame, Image)
    dpi = NOMINAL_DPI
    if dpi_info:
        try:
            value = float(dpi_info[0])
            if 50 <= value <= 1200:
                dpi = value
        except (TypeError, ValueError, IndexError):
            pass
    return PageImage(page=page, image=frame, dpi=dpi)


def _to_rgb(img, Image):
    """Any mode (palette, alpha, CMYK, 16-bit, 1-bit) to 8-bit RGB on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        img = Image.fromarray((arr * (255.0 / hi)).astype("uint8"), mode="L")
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return img.convert("RGB")


def page_image(path: Path, content_type: str, page: int, *, dpi: int, max_image_pixels: int) -> PageImage:
    if content_type == "application/pdf":
        return render_pdf_page(path, page, dpi=dpi)
    return load_image_page(path, page, max_image_pixels=max_image_pixels)
