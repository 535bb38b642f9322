"""Sniff a file's type from its bytes, validate it and count its pages.

The file name and the declared content type are never trusted: a PDF named ``.png`` is a PDF,
and a text file named ``.pdf`` is refused.
"""

from __future__ import annotations

from pathlib import Path

from .files import sha256_file
from .types import IngestedFile, PipelineError

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")


class IngestError(PipelineError):
    code = "invalid_document"


def sniff_content_type(head: bytes) -> str | None:
    """The content type from the first bytes, or None when it is none we accept."""
    if head.startswith(PNG_MAGIC):
        return "image/png"
    if head.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if head.startswith(TIFF_MAGICS):
        return "image/tiff"
    # PDF readers accept the header anywhere in the first KiB; so do we, but no further.
    if PDF_MAGIC in head[:1024]:
        return "application/pdf"
    return None


# ISO-BMFF brands of HEIF/HEIC/AVIF photos (phones' default format): named in the refusal so
# that the caller knows to convert them.
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


def unsupported_detail(head: bytes) -> str:
    """Why ``head`` is refused, naming the format when it is a known one we do not read."""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return ("HEIC/HEIF photos are not supported; convert the photo to JPEG or PNG "
                "(most phones can export JPEG) and upload it again.")
    return "The file is not a PDF, PNG, JPEG or TIFF (its content was checked, not its name)."


def ingest_file(path: Path, *, max_pages: int, max_image_pixels: int) -> IngestedFile:
    """Validate ``path`` and count its pages, or raise :class:`IngestError` with a stable code.

    Codes: ``empty_file``, ``unsupported_type``, ``encrypted_pdf``, ``corrupt_pdf``,
    ``corrupt_image``, ``image_too_large``, ``too_many_pages``, ``no_pages``.
    """
    size = path.stat().st_size
    if size == 0:
        raise IngestError("The file is empty.", code="empty_file")
    with path.open("rb") as fh:
        head = fh.read(1024)
    content_type = sniff_content_type(head)
    if content_type is None:
        raise IngestError(unsupported_detail(head), code="unsupported_type")
    if content_type == "application/pdf":
        pages = _pdf_page_count(path)
    else:
        pages = _image_page_count(path, max_image_pixels=max_image_pixels)
    if pages == 0:
        raise IngestError("The document has no pages.", code="no_pages")
    if pages > max_pages:
        raise IngestError(
            f"The document has {pages} pages; the limit is {max_pages} (DOCPROC_MAX_PAGES).",
            code="too_many_pages",
        )
    return IngestedFile(content_type=content_type, page_count=pages, sha256=sha256_file(path), size=size)  # type: ignore[arg-type]


def _pdf_page_count(path: Path) -> int:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # PDFium's last-error value is per process and is not reset by every failure: after an
        # encrypted file, a later broken one may still read "password". Only a file that has an
        # encryption dictionary is called encrypted.
        if getattr(exc, "err_code", None) in (_FPDF_ERR_PASSWORD, _FPDF_ERR_SECURITY) and _has_encrypt_dict(path):
            raise IngestError("The PDF is encrypted with a password.", code="encrypted_pdf") from exc
        raise IngestError(f"The PDF cannot be read: {exc}.", code="corrupt_pdf") from exc
    try:
        return len(pdf)
    finally:
        pdf.close()


_FPDF_ERR_PASSWORD = 4
_FPDF_ERR_SECURITY = 5


def _has_encrypt_dict(path: Path) -> bool:
    with path.open("rb") as fh:
        return any(b"/Encrypt" in chunk for chunk in iter(lambda: fh.read(1 << 20), b""))


def _image_page_count(path: Path, *, max_image_pixels: int) -> int:
    from PIL import Image

    with open_image_checked(path, max_image_pixels=max_image_pixels) as img:
        frames = getattr(img, "n_frames", 1)
        for index in range(frames):
            img.seek(index)
            _check_pixels(img.size, max_image_pixels)
        try:
            img.seek(0)
            img.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise IngestError(f"The image cannot be decoded: {exc}.", code="corrupt_image") from exc
        except Image.DecompressionBombError as exc:  # pragma: no cover - caught by _check_pixels first
            raise IngestError(str(exc), code="image_too_large") from exc
        return frames


def _check_pixels(size: tuple[int, int], max_image_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise IngestError("The image has no pixels.", code="corrupt_image")
    if width * height > max_image_pixels:
        raise IngestError(
            f"The image has {width}x{height} pixels; the limit is {max_image_pixels} (DOCPROC_MAX_IMAGE_PIXELS).",
            code="image_too_large",
        )


def open_image_checked(path: Path, *, max_image_pixels: int):
    """Open an image with the pixel limit enforced before any pixel is decoded."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_image_pixels
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise IngestError(str(exc), code="image_too_large") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise IngestError(f"The image cannot be read: {exc}.", code="corrupt_image") from exc
    _check_pixels(img.size, max_image_pixels)
    return img
