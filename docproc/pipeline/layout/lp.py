"""layoutparser adapter for a detector whose weights the operator supplies (GPU machines).

Settings: ``DOCPROC_LAYOUTPARSER_CONFIG`` (the model's config file), ``DOCPROC_LAYOUTPARSER_WEIGHTS``
(its weights file) and ``DOCPROC_LAYOUTPARSER_LABELS`` (``0:Text,1:Title,...``; PubLayNet's by
default). Nothing is downloaded: without the files the engine refuses to start.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MissingModel, PageImage, PageLayout, PageWords, Region
from . import LayoutCapabilities
from .common import is_key_value, rulings_from_image, words_inside

PUBLAYNET_LABELS = {0: "Text", 1: "Title", 2: "List", 3: "Table", 4: "Figure"}
KINDS = {"text": "text", "title": "title", "list": "list", "table": "table", "figure": "figure"}
ADAPTER_VERSION = "a1"


def parse_labels(raw: str | dict[int, str] | None) -> dict[int, str]:
    if not raw:
        return dict(PUBLAYNET_LABELS)
    if isinstance(raw, dict):
        return {int(k): str(v) for k, v in raw.items()}
    pairs = (item.split(":", 1) for item in raw.split(",") if ":" in item)
    return {int(k.strip()): v.strip() for k, v in pairs}


class LayoutParserEngine:
    name = "layoutparser"
    capabilities = LayoutCapabilities()  # reads pixels only

    def __init__(self, *, config: str | None = None, weights: str | None = None, labels: str | None = None,
                 device: str = "cpu", threshold: float = 0.5, **_: Any) -> None:
        if not weights or not Path(weights).is_file() or not config or not Path(config).is_file():
            raise MissingModel(
                "layout engine 'layoutparser' needs DOCPROC_LAYOUTPARSER_WEIGHTS and DOCPROC_LAYOUTPARSER_CONFIG "
                f"naming a detector's weights and config files (got weights={weights!r}, config={config!r}); "
                "no model is downloaded at run time"
            )
        try:
            import layoutparser as lp
        except ImportError as exc:
            raise MissingModel("layout engine 'layoutparser' needs pip install 'docproc[layoutparser]'") from exc
        self.labels = parse_labels(labels)
        self._model = lp.Detectron2LayoutModel(
            config_path=str(config), model_path=str(weights), label_map=self.labels,
            extra_config=["MODEL.ROI_HEADS.SCORE_THRESH_TEST", threshold, "MODEL.DEVICE", "cuda" if device == "cuda" else "cpu"],
        )
        self._lock = threading.Lock()
        import hashlib

        with Path(weights).open("rb") as fh:
            digest = hashlib.sha256(fh.read(1 << 20)).hexdigest()[:12]
        self.version = f"layoutparser{getattr(lp, '__version__', '?')}/{digest}/{ADAPTER_VERSION}"

    def analyse(self, page: PageImage | None, words: PageWords) -> PageLayout:
        if page is None:
            raise ValueError("layoutparser reads pixels: pass the page image")
        rgb = np.asarray(page.image.convert("RGB"))
        with self._lock:
            detected = self._model.detect(rgb)
        w, h = float(page.width), float(page.height)
        regions = []
        for block in detected:
            x0, y0, x1, y1 = block.coordinates
            bbox = (max(0.0, x0 / w), max(0.0, y0 / h), min(1.0, x1 / w), min(1.0, y1 / h))
            kind = KINDS.get(str(block.type).lower(), "other")
            if kind == "text" and is_key_value(words_inside(words.words, bbox)):
                kind = "key-value"
            regions.append(Region(kind=kind, bbox=bbox, confidence=round(float(block.score or 0.0), 4)))  # type: ignore[arg-type]
        regions.sort(key=lambda r: (r.bbox[1], r.bbox[0]))
        return PageLayout(page=words.page, regions=tuple(regions), engine=self.name, engine_version=self.version,
                          rulings=rulings_from_image(page))
