"""The app's engines, from settings, built once per process (see pipeline.registry)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from docproc.pipeline import registry
from docproc.pipeline.runner import Limits


def engine_options(kind: str, name: str) -> dict[str, Any]:
    if kind == "ocr":
        opts: dict[str, Any] = {"device": settings.DOCPROC_DEVICE, "threads": settings.DOCPROC_OCR_THREADS}
        if name == "paddleocr":
            opts["model_dir"] = settings.DOCPROC_PADDLE_MODEL_DIR
        if name == "tesseract":
            opts["language"] = settings.DOCPROC_TESSERACT_LANG
        if name == "rapidocr":
            opts.update(charset=settings.DOCPROC_OCR_CHARSET,
                        det_unclip_ratio=settings.DOCPROC_RAPIDOCR_UNCLIP_RATIO,
                        det_box_thresh=settings.DOCPROC_RAPIDOCR_BOX_THRESH,
                        det_thresh=settings.DOCPROC_RAPIDOCR_THRESH,
                        max_side_len=settings.DOCPROC_RAPIDOCR_MAX_SIDE_LEN)
        return opts
    if kind == "layout":
        opts = {"device": settings.DOCPROC_DEVICE, "threads": settings.DOCPROC_OCR_THREADS}
        if name == "layoutparser":
            opts.update(config=settings.DOCPROC_LAYOUTPARSER_CONFIG, weights=settings.DOCPROC_LAYOUTPARSER_WEIGHTS,
                        labels=settings.DOCPROC_LAYOUTPARSER_LABELS)
        return opts
    if kind == "extract" and name != "rules":
        return {"settings": {k: getattr(settings, k) for k in dir(settings) if k.startswith("DOCPROC_")}}
    return {}


def get_ocr(*, charset: str | None = None):
    """The configured OCR engine; with ``charset`` (a document type's), reading under that
    character set where the engine can restrict its recogniser (rapidocr), else as configured."""
    name = settings.DOCPROC_OCR_ENGINE
    engine = registry.get_engine("ocr", name, engine_options("ocr", name))
    if charset and hasattr(engine, "for_charset"):
        return engine.for_charset(charset)
    return engine


def get_layout():
    """The configured layout engine, or None when DOCPROC_LAYOUT_ENGINE is empty or 'none'."""
    name = settings.DOCPROC_LAYOUT_ENGINE
    if not name or name == "none":
        return None
    return registry.get_engine("layout", name, engine_options("layout", name))


def get_extractor():
    name = settings.DOCPROC_EXTRACT_ENGINE
    return registry.get_engine("extract", name, engine_options("extract", name))


def limits() -> Limits:
    return Limits(
        max_pages=settings.DOCPROC_MAX_PAGES,
        max_image_pixels=settings.DOCPROC_MAX_IMAGE_PIXELS,
        ocr_dpi=settings.DOCPROC_RENDER_DPI,
        min_text_coverage=settings.DOCPROC_TEXT_LAYER_MIN_COVERAGE,
    )


reset_engines = registry.reset_engines
