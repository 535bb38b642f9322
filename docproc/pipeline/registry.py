"""Engine registry: names to classes, built once per process from a settings mapping.

Kept free of Django: callers pass the settings (``docproc.engines`` does it for the app).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

ENGINES: dict[str, dict[str, str]] = {
    "ocr": {
        "rapidocr": "docproc.pipeline.ocr.rapid:RapidOcrEngine",
        "tesseract": "docproc.pipeline.ocr.tesseract:TesseractEngine",
        "paddleocr": "docproc.pipeline.ocr.paddle:PaddleOcrEngine",
    },
    "layout": {
        "pdf-structure": "docproc.pipeline.layout.pdfstructure:PdfStructureLayout",
        "rapid-layout": "docproc.pipeline.layout.rapid:RapidLayoutEngine",
        "layoutparser": "docproc.pipeline.layout.lp:LayoutParserEngine",
    },
    "extract": {
        "rules": "docproc.pipeline.extract.rules:RulesExtractor",
        "llamacpp": "docproc.pipeline.extract.llamacpp:LlamaCppExtractor",
        "transformers": "docproc.pipeline.extract.hf:TransformersExtractor",
        "openai": "docproc.pipeline.extract.openai_compat:OpenAICompatExtractor",
    },
}


class UnknownEngine(ValueError):
    pass


_cache: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def import_path(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_engine(kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """A new engine instance. Unknown names raise an error listing the known ones."""
    try:
        table = ENGINES[kind]
    except KeyError:
        raise UnknownEngine(f"unknown engine kind {kind!r}; known: {', '.join(sorted(ENGINES))}") from None
    if name not in table:
        raise UnknownEngine(f"unknown {kind} engine {name!r}; known: {', '.join(sorted(table))}")
    cls = import_path(table[name])
    return cls(**(options or {}))


def get_engine(kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """The process-wide instance of an engine (models load once per worker process)."""
    key = (kind, name)
    with _lock:
        if key not in _cache:
            _cache[key] = build_engine(kind, name, options)
        return _cache[key]


def reset_engines() -> None:
    with _lock:
        _cache.clear()
