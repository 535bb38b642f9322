"""Pages to upright images: PDF pages through pypdfium2, image frames through Pillow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .ingest import IngestError, open_image_checked
from .types import PageImage

# Photos and scans without a usable resolution are treated as this many dots per inch.
NOMINAL_DPI = 300.0


# Without a pixel limit, a PDF page may be 200 x 200 inches: 1.6 gigapixels at 200 dpi.
DEFAULT_MAX_RENDER_PIXELS = 80_000_000


def render_pdf_page(path: Path, page: int, *, dpi: int, max_pixels: int = DEFAULT_MAX_RENDER_PIXELS) -> PageImage:
    """Page ``page`` (1-based) at ``dpi``, lowered so that the bitmap stays under ``max_pixels``."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise IngestError(f"The PDF cannot be read: {exc}.", code="corrupt_pdf") from exc
    try:
        # Filled AcroForm widgets drawn with their values (appearances generated where the form
        # asks a viewer to), so the preview shows what the form fields say; a form pdfium cannot
        # set up still renders, without them.
        try:
            pdf.init_forms()
        except pdfium.PdfiumError:
            pass
        try:
            pdf_page = pdf[page - 1]
        except (pdfium.PdfiumError, IndexError) as exc:
            raise IngestError(f"Page {page} of the PDF cannot be read: {exc}.", code="corrupt_pdf") from exc
        width_pt, height_pt = pdf_page.get_size()
        dpi = _capped_dpi(width_pt, height_pt, dpi, max_pixels)
        bitmap = pdf_page.render(scale=dpi / 72.0, may_draw_forms=True)
        image = bitmap.to_pil().convert("RGB")
        pdf_page.close()
    finally:
        pdf.close()
    return PageImage(page=page, image=image, dpi=float(dpi))


def _capped_dpi(width_pt: float, height_pt: float, dpi: float, max_pixels: int) -> float:
    area_in = max(width_pt, 1.0) / 72.0 * max(height_pt, 1.0) / 72.0
    if area_in * dpi * dpi <= max_pixels:
        return dpi
    return max(1.0, (max_pixels / area_in) ** 0.5)


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


# OCR detectors resize pages to a multiple of 32 pixels on each side, and RapidOCR scales the
# short side up to 736 px: a 12000 x 12 strip makes it fail, a 30 x 600 one costs a 736 x 14720
# detection (half a minute of CPU). Pages longer than this ratio get white margins on the short
# side; 8:1 still fits a long till receipt.
MAX_ASPECT_RATIO = 8.0


def page_image(path: Path, content_type: str, page: int, *, dpi: int, max_image_pixels: int) -> PageImage:
    if content_type == "application/pdf":
        image = render_pdf_page(path, page, dpi=dpi, max_pixels=max_image_pixels)
    else:
        image = load_image_page(path, page, max_image_pixels=max_image_pixels)
    return pad_extreme_aspect(image)


def pad_extreme_aspect(page: PageImage, *, max_ratio: float = MAX_ASPECT_RATIO, min_side: int = 32) -> PageImage:
    """The page centred on white margins so that neither side is under ``min_side`` pixels nor
    shorter than the long side / ``max_ratio``; other pages are returned unchanged."""
    from PIL import Image

    img = page.image
    long_side = max(img.width, img.height)
    target_short = max(min_side, int(long_side / max_ratio + 0.5))
    if img.width >= img.height:
        width, height = img.width, max(img.height, target_short)
    else:
        width, height = max(img.width, target_short), img.height
    width, height = max(width, min_side), max(height, min_side)
    if (width, height) == (img.width, img.height):
        return page
    canvas = Image.new(img.mode, (width, height), "white")
    canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
    return replace(page, image=canvas)
