"""PaddleOCR with model folders the operator supplies (``DOCPROC_PADDLE_MODEL_DIR``), for GPU machines.

The folder holds the inference models as PaddleOCR exports them, one sub-folder each:
``det/`` (text detection), ``rec/`` (recognition) and optionally ``cls/`` (text direction).
Nothing is downloaded: without the folders the engine refuses to start and says which setting
to set.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MissingModel, PageImage, PageWords, Word
from . import OcrCapabilities
from .words import page_words, split_line

ADAPTER_VERSION = "a2"
SETTING = "DOCPROC_PADDLE_MODEL_DIR"


def model_folders(model_dir: str | Path | None) -> dict[str, Path]:
    """The det/rec(/cls) folders under ``model_dir``, or ``MissingModel`` naming the setting."""
    if not model_dir:
        raise MissingModel(
            f"OCR engine 'paddleocr' needs {SETTING}: a folder with det/ and rec/ (and optionally cls/) "
            "PaddleOCR inference models; no model is downloaded at run time"
        )
    root = Path(model_dir)
    folders = {name: root / name for name in ("det", "rec", "cls") if (root / name).is_dir()}
    missing = [name for name in ("det", "rec") if name not in folders]
    if missing:
        raise MissingModel(
            f"OCR engine 'paddleocr': {SETTING}={root} lacks {' and '.join(f'{m}/' for m in missing)}; "
            "it must hold PaddleOCR inference model folders det/ and rec/ (cls/ optional)"
        )
    return folders


class PaddleOcrEngine:
    name = "paddleocr"
    target_char_height = 20.0

    def __init__(self, *, model_dir: str | Path | None = None, device: str = "cpu", threads: int = 1, **_: Any) -> None:
        self.folders = model_folders(model_dir)
        try:
            import paddleocr
        except ImportError as exc:
            raise MissingModel(
                "OCR engine 'paddleocr' needs the paddleocr package (pip install 'docproc[paddle]') "
                f"and model folders in {SETTING}"
            ) from exc
        self.package_version = str(getattr(paddleocr, "__version__", "unknown"))
        self._ocr = self._build(paddleocr, device=device, threads=max(1, int(threads or 1)))
        self._lock = threading.Lock()
        self.capabilities = OcrCapabilities(target_char_height=self.target_char_height)
        # Stored with every stage result (50 characters at most): package, model folders, adapter.
        self.version = f"paddleocr{self.package_version}/{'+'.join(sorted(self.folders))}:{_folder_id(self.folders)}/{ADAPTER_VERSION}"

    def _build(self, paddleocr: Any, *, device: str, threads: int) -> Any:
        major = int(self.package_version.split(".")[0]) if self.package_version[:1].isdigit() else 2
        cls = self.folders.get("cls")
        if major >= 3:
            kwargs: dict[str, Any] = {
                "text_detection_model_dir": str(self.folders["det"]),
                "text_recognition_model_dir": str(self.folders["rec"]),
                "use_doc_orientation_classify": False,
                "use_doc_unwarping": False,
                "use_textline_orientation": cls is not None,
                "device": "gpu" if device == "cuda" else "cpu",
                "cpu_threads": threads,
            }
            if cls is not None:
                kwargs["textline_orientation_model_dir"] = str(cls)
            return paddleocr.PaddleOCR(**kwargs)
        kwargs = {
            "det_model_dir": str(self.folders["det"]),
            "rec_model_dir": str(self.folders["rec"]),
            "use_angle_cls": cls is not None,
            "use_gpu": device == "cuda",
            "cpu_threads": threads,
            "show_log": False,
        }
        if cls is not None:
            kwargs["cls_model_dir"] = str(cls)
        return paddleocr.PaddleOCR(**kwargs)

    def read(self, page: PageImage) -> PageWords:
        bgr = np.ascontiguousarray(np.asarray(page.image.convert("RGB"))[:, :, ::-1])
        width, height = float(page.width), float(page.height)
        words: list[Word] = []
        index = 0  # the engine's line each word was read in (see words.page_words)
        with self._lock:
            if hasattr(self._ocr, "predict"):
                for result in self._ocr.predict(bgr):
                    data = result.json.get("res", result.json) if hasattr(result, "json") else result
                    for text, score, quad in zip(data["rec_texts"], data["rec_scores"], data["rec_polys"], strict=False):
                        words.extend(split_line(str(text), [list(map(float, p)) for p in quad], float(score), width, height,
                                                line=index))
                        index += 1
            else:
                for line in (self._ocr.ocr(bgr, cls="cls" in self.folders) or [[]])[0] or []:
                    quad, (text, score) = line
                    words.extend(split_line(str(text), quad, float(score), width, height, line=index))
                    index += 1
        return page_words(page, words, engine=self.name, version=self.version)


def _folder_id(folders: dict[str, Path]) -> str:
    """A short fingerprint of the model folders (file names, sizes and first bytes) for the version."""
    import hashlib

    digest = hashlib.sha256()
    for name, path in sorted(folders.items()):
        for item in sorted(path.rglob("*")):
            if item.is_file():
                with item.open("rb") as fh:
                    head = fh.read(1 << 16)
                digest.update(f"{name}/{item.relative_to(path)}:{item.stat().st_size}:".encode() + head)
    return digest.hexdigest()[:12]
