"""Tesseract (Debian's ``tesseract-ocr``) run as a subprocess with TSV output.

Boxed forms read badly when the boxes' ruling lines touch the characters, so the page is
binarised and long horizontal and vertical lines are painted out before Tesseract sees it
(deskewing happens before, in ``preprocess.prepare_page``, for every engine).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from ..types import EngineUnavailable, MissingModel, PageImage, PageWords, Word
from . import OcrCapabilities
from .words import clamp01, page_words

ADAPTER_VERSION = "a3"
# Orientation answers below this confidence are ignored (see TesseractEngine.orientation).
MIN_OSD_CONFIDENCE = 1.0
TIMEOUT_SECONDS = 120
# A line crop read on its own (``read_line``) is scaled to this height and framed in white.
LINE_HEIGHT = 48
LINE_MARGIN = 12


def remove_ruling_lines(gray: np.ndarray) -> np.ndarray:
    """The page binarised (text black on white) with long horizontal and vertical lines removed."""
    import cv2

    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    h, w = binary.shape
    # A ruling line is far longer than any character: a twentieth of the page's side at least.
    horizontal = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(w // 20, 40), 1)))
    vertical = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(h // 20, 40))))
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    cleaned = cv2.bitwise_and(binary, cv2.bitwise_not(lines))
    return 255 - cleaned


class TesseractEngine:
    name = "tesseract"
    # Tesseract reads best with capitals around 25-30 px high (about 300 DPI for 10 pt print).
    target_char_height = 26.0

    def __init__(self, *, threads: int = 1, language: str = "eng", binary: str = "tesseract",
                 remove_lines: bool = True, **_: Any) -> None:
        self.binary = shutil.which(binary) or ""
        if not self.binary:
            raise MissingModel(
                "OCR engine 'tesseract' needs the tesseract binary (Debian: apt-get install tesseract-ocr); "
                "or set DOCPROC_OCR_ENGINE to another engine"
            )
        self.language = language
        self.capabilities = OcrCapabilities(target_char_height=self.target_char_height,
                                            upright_score=self.upright_score, orientation=self.orientation)
        self.remove_lines = remove_lines
        self.threads = max(1, int(threads or 1))
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30)
        release = (out.stdout or out.stderr).split("\n", 1)[0].split()[-1]
        tessdata = self._tessdata()
        model = tessdata / f"{language}.traineddata"
        if not model.is_file():
            raise MissingModel(
                f"OCR engine 'tesseract' needs {model.name} in {tessdata} "
                f"(Debian: apt-get install tesseract-ocr-{language})"
            )
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
        self.has_osd = (tessdata / "osd.traineddata").is_file()
        # Stored with every stage result (50 characters at most): binary, model file, adapter.
        self.version = f"tesseract{release}/{language}:{digest}/{ADAPTER_VERSION}{'-lines' if remove_lines else ''}"

    def _tessdata(self) -> Path:
        out = subprocess.run([self.binary, "--list-langs"], capture_output=True, text=True, timeout=30)
        for line in (out.stdout + out.stderr).splitlines():
            if "tessdata" in line and '"' in line:
                return Path(line.split('"')[1])
        prefix = os.environ.get("TESSDATA_PREFIX")
        return Path(prefix) if prefix else Path("/usr/share/tesseract-ocr/5/tessdata")

    def _env(self) -> dict[str, str]:
        return {**os.environ, "OMP_THREAD_LIMIT": str(self.threads)}

    def _run(self, png: bytes, args: list[str]) -> str:
        try:
            out = subprocess.run([self.binary, "stdin", "stdout", *args], input=png, capture_output=True,
                                 timeout=TIMEOUT_SECONDS, env=self._env())
        except subprocess.TimeoutExpired as exc:
            raise EngineUnavailable(f"tesseract took longer than {TIMEOUT_SECONDS} s on one page") from exc
        if out.returncode != 0:
            raise EngineUnavailable(f"tesseract failed: {out.stderr.decode(errors='replace')[-500:]}")
        return out.stdout.decode("utf-8", errors="replace")

    def read(self, page: PageImage) -> PageWords:
        from PIL import Image

        gray = np.asarray(page.image.convert("L"), dtype=np.uint8)
        pixels = remove_ruling_lines(gray) if self.remove_lines else gray
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        tsv = self._run(buffer.getvalue(), ["-l", self.language, "--psm", "3", "--dpi", str(int(page.dpi)), "tsv"])
        words = parse_tsv(tsv, float(page.width), float(page.height))
        return page_words(page, words, engine=self.name, version=self.version)

    def read_line(self, image: np.ndarray) -> str:
        """One line of text on ``image`` (grayscale, dark on light), e.g. a value's line cropped
        from a page another engine read (see ``second_reading``): scaled so its height suits
        Tesseract, framed in white, read as a single line (page segmentation mode 7)."""
        from PIL import Image

        if image.size == 0:
            return ""
        gray = np.asarray(image, dtype=np.uint8)
        scale = LINE_HEIGHT / max(gray.shape[0], 1)
        picture = Image.fromarray(gray)
        if not 0.8 <= scale <= 1.25:
            picture = picture.resize((max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                                     Image.LANCZOS)
        framed = Image.new("L", (picture.width + 2 * LINE_MARGIN, picture.height + 2 * LINE_MARGIN), 255)
        framed.paste(picture, (LINE_MARGIN, LINE_MARGIN))
        buffer = io.BytesIO()
        framed.save(buffer, format="PNG")
        try:
            return " ".join(self._run(buffer.getvalue(), ["-l", self.language, "--psm", "7"]).split())
        except EngineUnavailable:
            return ""

    def _osd(self, gray: np.ndarray) -> tuple[int, float] | None:
        """Tesseract's orientation detector: (degrees it says to rotate clockwise, its confidence)."""
        if not self.has_osd:
            return None
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="PNG")
        try:
            text = self._run(buffer.getvalue(), ["--psm", "0"])
        except EngineUnavailable:  # too few characters to decide
            return None
        info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        try:
            return int(info["Rotate"].strip()) % 360, float(info["Orientation confidence"].strip())
        except (KeyError, ValueError):
            return None

    def orientation(self, gray: np.ndarray) -> int | None:
        """Quarter turns (counter-clockwise) that make the page upright, when the detector is sure.

        Below ``MIN_OSD_CONFIDENCE`` it is often wrong on receipts and photos (it turned an
        upright SROIE receipt upside down at 0.49): the caller then falls back to pixels.
        """
        answer = self._osd(gray)
        if answer is None or answer[1] < MIN_OSD_CONFIDENCE:
            return None
        return (360 - answer[0]) % 360

    def upright_score(self, gray: np.ndarray) -> float:
        """For a page whose text runs along rows: > 0 upright, < 0 upside down, 0 unsure."""
        answer = self._osd(gray)
        if answer is None or answer[1] < MIN_OSD_CONFIDENCE or answer[0] not in (0, 180):
            return 0.0
        return answer[1] if answer[0] == 0 else -answer[1]


def parse_tsv(tsv: str, width: float, height: float) -> list[Word]:
    """Word rows (level 5) of Tesseract's TSV, with confidences scaled from 0-100 to [0, 1], each
    with the index of Tesseract's own line (block, paragraph, line) as ``line``."""
    words: list[Word] = []
    lines: dict[tuple[str, str, str], int] = {}
    reader = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in reader:
        if row.get("level") != "5":
            continue
        text = (row.get("text") or "").strip()
        try:
            conf = float(row["conf"])
            left, top, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        except (KeyError, TypeError, ValueError):
            continue
        if not text or conf < 0:
            continue
        bbox = (clamp01(left / width), clamp01(top / height), clamp01((left + w) / width), clamp01((top + h) / height))
        line = lines.setdefault((row.get("block_num", ""), row.get("par_num", ""), row.get("line_num", "")), len(lines))
        words.append(Word(id="", text=text, bbox=bbox, confidence=clamp01(conf / 100.0), line=line))
    return words
