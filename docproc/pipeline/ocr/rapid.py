"""RapidOCR 3.x: PaddleOCR's PP-OCR models in ONNX, shipped inside the ``rapidocr`` wheel.

The model files are named explicitly, so the package never reaches for its download code:
a wheel without them raises ``MissingModel``. Word boxes come from RapidOCR's own word
segmentation (``return_word_box``); a line it cannot segment is split by characters.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MissingModel, PageImage, PageWords, Word
from . import OcrCapabilities
from .charset import Charset, check_charset, class_mask
from .words import clamp01, page_words, polygon_bbox, split_line

log = logging.getLogger(__name__)

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
# Bumped when this adapter's pre- or post-processing changes what it returns for a page.
ADAPTER_VERSION = "a5"

# Detector settings. On the shared receipts a wider unclip and lower thresholds (2.0, 0.3, 0.2)
# and no shrinking keep more of the first and last characters of long lines (``manage.py bench_ocr
# --coverage``), but on a scanned CMS-1500 the taller boxes they give pull the box-1 label "OTHER"
# into the insured's ID and lose the total charge, and extraction and its calibrations have not
# been measured with them. So the defaults stay rapidocr's own until the extraction bench runs with
# the new values; the settings let an operator choose them.
DET_UNCLIP_RATIO = 1.6
DET_BOX_THRESH = 0.5
DET_THRESH = 0.3
# rapidocr shrinks any page whose long side exceeds ``Global.max_side_len`` (2000 by default)
# before detection and before cutting the recognition crops, which undoes the preprocessing's
# upscaling of small print; 0 leaves the page as the preprocessing sized it.
MAX_SIDE_LEN = 2000
_NO_SHRINK = 1_000_000
# A text-direction vote this close to 0 is left to the recogniser (see ``RapidOcrEngine._vote``).
WEAK_VOTE = 0.5


def cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


class RapidOcrEngine:
    """``read(page)``: words with boxes and scores in [0, 1]; one ONNX thread unless ``threads``."""

    name = "rapidocr"
    # The recogniser's input is 48 px high; characters of about this height read best and cost
    # least (the detector shrinks any page to 2000 px on its long side anyway).
    target_char_height = 16.0

    def __init__(self, *, device: str = "cpu", threads: int = 1, charset: str = "all",
                 det_unclip_ratio: float = DET_UNCLIP_RATIO, det_box_thresh: float = DET_BOX_THRESH,
                 det_thresh: float = DET_THRESH, max_side_len: int = MAX_SIDE_LEN, **_: Any) -> None:
        try:
            import rapidocr
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingModel("OCR engine 'rapidocr' needs the rapidocr package (pip install docproc)") from exc
        models = Path(rapidocr.__file__).parent / "models"
        paths = {name: models / name for name in (DET_MODEL, REC_MODEL, CLS_MODEL)}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise MissingModel(
                f"OCR engine 'rapidocr' expects the models shipped in rapidocr==3.10.0; missing: {', '.join(missing)}. "
                "Reinstall that exact version or set DOCPROC_OCR_ENGINE to another engine; "
                "no model is downloaded at run time."
            )
        self.device = "cuda" if device == "cuda" and cuda_available() else "cpu"
        if device == "cuda" and self.device != "cuda":
            log.warning("DOCPROC_DEVICE=cuda but onnxruntime has no CUDA provider (install onnxruntime-gpu); using CPU")
        threads = max(1, int(threads or 1))
        self.charset: Charset = check_charset(charset)
        self.det, self.max_side_len = _checked_detector(
            {"unclip_ratio": det_unclip_ratio, "box_thresh": det_box_thresh, "thresh": det_thresh}, max_side_len)
        params = {
            "Global.log_level": "warning",
            "Global.return_word_box": True,
            "Det.model_path": str(paths[DET_MODEL]),
            "Rec.model_path": str(paths[REC_MODEL]),
            "Cls.model_path": str(paths[CLS_MODEL]),
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "EngineConfig.onnxruntime.use_cuda": self.device == "cuda",
            "Global.max_side_len": self.max_side_len or _NO_SHRINK,
            "Det.unclip_ratio": self.det["unclip_ratio"],
            "Det.box_thresh": self.det["box_thresh"],
            "Det.thresh": self.det["thresh"],
        }
        self._ocr = RapidOCR(params=params)
        recogniser = self._ocr._load_rec_model()
        self._decode = RestrictedDecode(recogniser.postprocess_op)
        recogniser.postprocess_op = self._decode
        self._lock = threading.Lock()  # one page at a time per instance: the sessions are shared
        self.capabilities = OcrCapabilities(target_char_height=self.target_char_height,
                                            upright_score=self.upright_score, orientation=self.orientation)
        self.version = self._version(self.charset)

    def _version(self, charset: Charset) -> str:
        """Stored with every stage result (50 characters at most): package, models, adapter and a
        digest of the settings that change what is read (detector, page size, character set)."""
        import hashlib

        knobs = f"{self.det['unclip_ratio']}/{self.det['box_thresh']}/{self.det['thresh']}/{self.max_side_len}/{charset}"
        digest = hashlib.sha256(knobs.encode()).hexdigest()[:8]
        return f"rapidocr{_package_version()}/PP-OCRv6-s+cls2/{ADAPTER_VERSION}-{digest}"

    @property
    def text_share(self) -> float:
        """About the share of a word box's height the text fills: the detector predicts a text
        kernel and grows it by ``unclip_ratio`` (a long line's box is ``1 + ratio`` kernels high,
        the printed characters about 1.8; measured on receipts)."""
        return round(1.8 / (1.0 + self.det["unclip_ratio"]), 3)

    def for_reading(self, charset: str = "all", detector: Mapping[str, float | int] | None = None) -> RapidOcrEngine:
        """This engine reading under another character set (``all`` keeps the configured one)
        and detector settings (``unclip_ratio``, ``box_thresh``, ``thresh``, ``max_side_len``; those
        not given keep the configured ones): the same loaded models (no second load), its own
        ``version`` so stored results of the two never mix."""
        chosen = self.charset if charset == "all" else check_charset(charset)
        unknown = set(detector or {}) - {"unclip_ratio", "box_thresh", "thresh", "max_side_len"}
        if unknown:
            raise ValueError(f"unknown rapidocr detector settings: {', '.join(sorted(unknown))}")
        given = dict(detector or {})
        det, max_side_len = _checked_detector({**self.det, **{k: v for k, v in given.items() if k in self.det}},
                                              given.get("max_side_len", self.max_side_len))
        if chosen == self.charset and det == self.det and max_side_len == self.max_side_len:
            return self
        view = copy.copy(self)
        view.charset, view.det, view.max_side_len = chosen, det, max_side_len
        view.version = view._version(chosen)
        return view

    def _configure(self) -> None:
        """Point the shared models at this view's settings (under ``_lock``): views of one engine
        share its sessions, so every read sets what it reads with."""
        self._decode.charset = self.charset
        post = self._ocr._load_det_model().postprocess_op
        post.unclip_ratio, post.box_thresh, post.thresh = (self.det["unclip_ratio"], self.det["box_thresh"],
                                                           self.det["thresh"])
        self._ocr.max_side_len = self.max_side_len or _NO_SHRINK

    def recognise(self, page: PageImage) -> Any:
        """rapidocr's own output for the page (lines: ``txts``, ``boxes``, ``scores``, ``word_results``)."""
        bgr = np.ascontiguousarray(np.asarray(page.image.convert("RGB"))[:, :, ::-1])
        with self._lock:
            self._configure()
            return self._ocr(bgr, use_det=True, use_cls=True, use_rec=True, return_word_box=True)

    def read(self, page: PageImage) -> PageWords:
        return self.page_words(page, self.recognise(page))

    def page_words(self, page: PageImage, out: Any) -> PageWords:
        """The product's words for rapidocr's output on ``page`` (see ``recognise``)."""
        words = self._words(out, float(page.width), float(page.height))
        return page_words(page, words, engine=self.name, version=self.version)

    def read_line(self, image: np.ndarray) -> str:
        """One line of text on ``image`` (see ``second_reading.LineReader``)."""
        read = self.read_crops([image]) if image.size else []
        return read[0][0] if read else ""

    def read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """The recogniser alone on line images (BGR or grayscale arrays): (text, score) each."""
        images = [np.ascontiguousarray(np.repeat(c[:, :, None], 3, axis=2)) if c.ndim == 2 else c for c in crops]
        if not images:
            return []
        with self._lock:
            self._configure()
            out = self._recognised(images)
        return [(str(t), float(s)) for t, s in zip(out.txts, out.scores, strict=True)]

    def _recognised(self, images: list[np.ndarray]) -> Any:
        """The recogniser's output on BGR line images, as the models are set now (under ``_lock``)."""
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        return self._ocr._load_rec_model()(TextRecInput(img=images, return_word_box=False))

    @staticmethod
    def _words(out: Any, width: float, height: float) -> list[Word]:
        txts = getattr(out, "txts", None)
        boxes = getattr(out, "boxes", None)
        if not txts or boxes is None:
            return []
        scores = out.scores
        word_results = out.word_results or ()
        # RapidOCR drops lines it could not segment from word_results, which then no longer
        # lines up with txts; segmentation is only trusted when the counts agree.
        aligned = len(word_results) == len(txts)
        words: list[Word] = []
        for i, text in enumerate(txts):
            quad = [[float(x), float(y)] for x, y in boxes[i]]
            segmented: list[Word] = []
            if aligned:
                for item in word_results[i]:
                    token, score, poly = item[0], item[1], item[2]
                    token = str(token).strip()
                    if not token or poly is None:
                        continue
                    for part in _split_spaces(token, poly, float(score), width, height, line=i):
                        segmented.append(part)
            if not segmented or "".join(w.text for w in segmented) != "".join(str(text).split()):
                segmented = split_line(str(text), quad, float(scores[i]), width, height, line=i)
            words.extend(segmented)
        return words

    def _detect_small(self, bgr: np.ndarray) -> Any:
        """Text boxes of a small page: the detector capped at 640 px (the page reader upsizes the
        short side to 736 px; orientation needs far less, a fifth of the cost on a receipt)."""
        self._configure()
        detector = self._ocr._load_det_model()
        saved = detector.limit_side_len, detector.limit_type
        detector.limit_side_len, detector.limit_type = 640, "max"
        try:
            return detector(bgr)
        finally:
            detector.limit_side_len, detector.limit_type = saved

    def _vote(self, bgr: np.ndarray, boxes: Any) -> float:
        """The text-direction classifier over horizontal lines: > 0 upright, < 0 upside down.

        Where the classifier hardly leans either way (under ``WEAK_VOTE``: a form's short labels
        between ruling lines, where it voted an upright CMS-1500 scan upside down), the
        recogniser decides: it reads the same lines far better the right way up (mean score
        0.9 against 0.4 on those forms)."""
        from rapidocr.utils.process_img import get_rotate_crop_image

        # the longest lines say the most: two dozen of them decide as well as all, for less
        longest = sorted(boxes, key=lambda box: -float(np.linalg.norm(np.asarray(box[1]) - np.asarray(box[0]))))[:24]
        crops = [get_rotate_crop_image(bgr, np.array(box, dtype=np.float32)) for box in longest]
        crops = [c for c in crops if c.shape[1] >= c.shape[0]]
        if not crops:
            return 0.0
        labels = self._ocr._load_cls_model()(crops).cls_res
        vote = sum(float(score) if str(label) == "0" else -float(score) for label, score in labels) / len(labels)
        if abs(vote) >= WEAK_VOTE:
            return vote
        up = self._recognised(crops).scores
        down = self._recognised([np.ascontiguousarray(np.rot90(c, 2)) for c in crops]).scores
        return float(np.mean(up) - np.mean(down))

    def upright_score(self, gray: np.ndarray) -> float:
        """The classifier's vote for a page whose text runs along rows: > 0 upright, < 0 upside down."""
        bgr = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        with self._lock:
            det = self._detect_small(bgr)
            if det.boxes is None or len(det.boxes) == 0:
                return 0.0
            return self._vote(bgr, det.boxes)

    def orientation(self, gray: np.ndarray) -> int | None:
        """Quarter turns (counter-clockwise) that make the page upright, or None without text.

        The text axis comes from the shape of the detected line boxes (long along the text),
        which the fixed pitch columns of a receipt cannot fool as they fool projection
        profiles; up or down from the classifier's vote on the page turned to that axis.
        """
        bgr = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        with self._lock:
            det = self._detect_small(bgr)
            if det.boxes is None or len(det.boxes) == 0:
                return None
            wide = tall = 0
            for box in det.boxes:
                pts = np.asarray(box, dtype=np.float32)
                along = float(np.linalg.norm(pts[1] - pts[0]))
                across = float(np.linalg.norm(pts[3] - pts[0]))
                if along >= 2 * across:
                    wide += 1
                elif across >= 2 * along:
                    tall += 1
            if wide == tall == 0:
                return None
            if wide >= tall:
                vote = self._vote(bgr, det.boxes)
                return 0 if vote >= 0 else 180
            turned = np.ascontiguousarray(np.rot90(bgr, k=1))  # 90 degrees counter-clockwise
            det = self._detect_small(turned)
            if det.boxes is None or len(det.boxes) == 0:
                return None
            return 90 if self._vote(turned, det.boxes) >= 0 else 270


class RestrictedDecode:
    """rapidocr's CTC decoder with the classes outside ``charset`` zeroed before decoding."""

    def __init__(self, decode: Any) -> None:
        self.decode = decode
        self.charset: Charset = "all"
        self._masks: dict[str, np.ndarray] = {}

    def mask(self, charset: Charset) -> np.ndarray:
        if charset not in self._masks:
            self._masks[charset] = np.asarray(class_mask(charset, self.decode.character), dtype=np.float32)
        return self._masks[charset]

    def __call__(self, preds: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        if self.charset != "all":
            preds = preds * self.mask(self.charset)[: preds.shape[-1]]
        return self.decode(preds, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "decode":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.decode, name)


def _split_spaces(token: str, poly: Any, score: float, width: float, height: float, *, line: int) -> list[Word]:
    """A segment that still holds spaces is split by characters inside its own box."""
    points = [[float(x), float(y)] for x, y in poly]
    if " " not in token:
        return [Word(id="", text=token, bbox=polygon_bbox(points, width, height), confidence=clamp01(score), line=line)]
    return split_line(token, points, score, width, height, line=line)


def _checked_detector(det: Mapping[str, Any], max_side_len: Any) -> tuple[dict[str, float], int]:
    """Detector settings as floats and the page limit as pixels, or ``ValueError`` saying the range."""
    checked = {key: float(det[key]) for key in ("unclip_ratio", "box_thresh", "thresh")}
    if not (checked["unclip_ratio"] > 0 and 0 < checked["box_thresh"] < 1 and 0 < checked["thresh"] < 1):
        raise ValueError(f"rapidocr detector settings out of range: {checked} "
                         "(unclip_ratio > 0, box_thresh and thresh in (0, 1))")
    side = int(max_side_len or 0)
    if side < 0:
        raise ValueError(f"rapidocr max_side_len must be 0 (no shrinking) or positive, not {max_side_len}")
    return checked, side


def _package_version() -> str:
    from importlib.metadata import version

    return version("rapidocr")
