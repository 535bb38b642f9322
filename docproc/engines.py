"""The app's engines, from settings, built once per process (see pipeline.registry).

This module is the one reader of the engine settings: it turns them into the typed options
each engine takes, so nothing below pipeline/ knows a setting's name."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings

from docproc.pipeline import registry
from docproc.pipeline.extract.options import (
    LlamaCppOptions,
    LlmOptions,
    ModelFile,
    OpenAIOptions,
    TransformersOptions,
)
from docproc.pipeline.runner import Limits
from docproc.pipeline.types import EngineUnavailable, MissingModel


def model_file(*, model: str | None = None) -> ModelFile:
    """The GGUF the settings name; ``model`` (a known model's name) overrides both
    DOCPROC_LLM_MODEL and DOCPROC_LLM_GGUF, as the benchmarks' ``--model`` does."""
    gguf = "" if model else settings.DOCPROC_LLM_GGUF
    return ModelFile(name=model or settings.DOCPROC_LLM_MODEL, gguf=Path(gguf) if gguf else None,
                     models_dir=Path(settings.DOCPROC_MODELS_DIR))


def llm_options(name: str, *, model: str | None = None) -> LlmOptions:
    """The typed options of LLM backend ``name`` from the settings (``model``: see model_file;
    the openai backend names its model with DOCPROC_OPENAI_MODEL)."""
    cache = settings.DOCPROC_LLM_CACHE_DIR
    common: dict[str, Any] = {
        "cache_dir": Path(cache) if cache else None,
        "price_input_per_mtok": settings.DOCPROC_LLM_PRICE_INPUT_PER_MTOK,
        "price_output_per_mtok": settings.DOCPROC_LLM_PRICE_OUTPUT_PER_MTOK,
        "max_tokens": settings.DOCPROC_LLM_MAX_TOKENS,
        # Half the task's soft limit for every model call of a document together: OCR, layout and
        # saving get the rest, and a slow model falls back to the rules before Celery kills the task.
        "call_seconds": min(settings.DOCPROC_LLM_TIMEOUT_SECONDS, settings.DOCPROC_TASK_SOFT_TIME_LIMIT / 2),
        "document_seconds": settings.DOCPROC_TASK_SOFT_TIME_LIMIT / 2,
        "example_tokens": settings.DOCPROC_LLM_EXAMPLE_TOKENS,
        "prompt_budget_tokens": settings.DOCPROC_LLM_PROMPT_BUDGET_TOKENS,
    }
    if name == "llamacpp":
        return LlamaCppOptions(**common, model=model_file(model=model), context_tokens=settings.DOCPROC_LLM_CTX,
                               threads=settings.DOCPROC_LLM_THREADS, gpu_layers=settings.DOCPROC_LLM_GPU_LAYERS)
    if name == "transformers":
        folder = settings.DOCPROC_HF_MODEL_DIR
        return TransformersOptions(**common, model=model_file(model=model), model_dir=Path(folder) if folder else None,
                                   device=settings.DOCPROC_DEVICE, threads=settings.DOCPROC_LLM_THREADS)
    if name == "openai":
        return OpenAIOptions(**common, base_url=settings.DOCPROC_OPENAI_BASE_URL, model=settings.DOCPROC_OPENAI_MODEL,
                             api_key=settings.DOCPROC_OPENAI_API_KEY, timeout=settings.DOCPROC_OPENAI_TIMEOUT,
                             retries=settings.DOCPROC_OPENAI_RETRIES)
    return LlmOptions(**common)


def engine_options(kind: str, name: str, *, model: str | None = None) -> dict[str, Any]:
    """The keyword arguments engine ``name`` of ``kind`` is built with."""
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
        return {"options": llm_options(name, model=model)}
    return {}


def get_ocr(*, charset: str | None = None):
    """The configured OCR engine; with ``charset`` (a document type's), reading under that
    character set where the engine can restrict its recogniser (rapidocr), else as configured."""
    name = settings.DOCPROC_OCR_ENGINE
    engine = registry.get_engine("ocr", name, engine_options("ocr", name))
    if charset and hasattr(engine, "for_charset"):
        return engine.for_charset(charset)
    return engine


logger = logging.getLogger(__name__)


def get_second_reader():
    """The recogniser that reads a chosen value's lines again (DOCPROC_SECOND_READING_ENGINE), or
    None when it is off ('' or 'none') or not installed (the fields then carry no second reading)."""
    name = settings.DOCPROC_SECOND_READING_ENGINE
    if not name or name == "none":
        return None
    try:
        reader = registry.get_engine("ocr", name, engine_options("ocr", name))
    except (MissingModel, EngineUnavailable) as exc:
        logger.warning("no second reading: %s", exc)
        return None
    return reader if hasattr(reader, "read_line") else None


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
