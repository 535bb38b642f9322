"""Make a scanned page upright, straight and sized for the OCR engine: pure functions on pixels.

``prepare_page`` is what the runner calls before OCR. It

1. asks the engine's ``orientation`` for the quarter turns that make the page upright
   (RapidOCR: the shape of its detected line boxes gives the axis, its text-direction
   classifier up or down; Tesseract: its orientation detector, when confident),
2. else finds whether the text runs along rows or columns (projection profiles of the ink;
   fooled by the fixed-pitch columns of some receipts, hence engines first) and picks between
   the two remaining turns with the engine's ``upright_score``. Pixel statistics alone
   (ascenders against descenders) guessed no better than chance on generated scans, so an
   engine with neither gets the axis fixed and up/down left as scanned,
3. measures and removes a small skew (at most ``MAX_SKEW`` degrees),
4. rescales so that the median character height is what the engine reads best.

The result is the upright page that the stored preview shows and every box refers to;
``PageImage.rotation`` and ``PageImage.skew`` say what was corrected, so the same transform can
be applied again to a fresh rendering without detecting anything (``apply_transform``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .types import PageImage

# Scores a downscaled grayscale page (uint8, text dark on light): higher = more upright.
UprightScorer = Callable[[np.ndarray], float]
# An engine's own answer for a downscaled grayscale page: degrees (counter-clockwise, as PIL
# rotates) that make it upright, or None when it cannot tell.
Orienter = Callable[[np.ndarray], "int | None"]

MAX_SKEW = 5.0
# Work on a copy whose long side is about this many pixels: enough for line structure.
ANALYSIS_SIDE = 1200
# Upscaling is capped so a tiny photo cannot turn into a huge image.
MAX_UPSCALED_PIXELS = 40_000_000


def to_gray(image) -> np.ndarray:
    """A PIL image as a 2-D uint8 array."""
    return np.asarray(image.convert("L"), dtype=np.uint8)


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Dark pixels (Otsu threshold), as a bool array; an all-white page has no ink."""
    import cv2

    if gray.size == 0 or int(gray.max()) - int(gray.min()) < 16:
        return np.zeros(gray.shape, dtype=bool)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return binary > 0


def _downscale(gray: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    import cv2

    h, w = gray.shape
    scale = side / max(h, w)
    if scale >= 1.0:
        return gray
    return cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)


def _rotate_quarter(arr: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate counter-clockwise by a multiple of 90 degrees (PIL's sense of ``rotate``)."""
    return np.ascontiguousarray(np.rot90(arr, k=(degrees // 90) % 4))


def _profile_sharpness(mask: np.ndarray) -> float:
    """How strongly ink alternates with gaps from row to row: high when text lines run along rows."""
    rows = mask.sum(axis=1).astype(np.float64)
    if rows.sum() == 0:
        return 0.0
    return float(np.square(np.diff(rows)).sum() / (rows.sum() ** 2 / max(len(rows), 1) + 1e-9))


def text_runs_vertically(mask: np.ndarray) -> bool:
    """True when the page's text lines run top to bottom (the page is turned by 90 or 270)."""
    return _profile_sharpness(mask.T) > 1.15 * _profile_sharpness(mask)


def detect_rotation(gray: np.ndarray, *, scorer: UprightScorer | None = None, orienter: Orienter | None = None) -> int:
    """Degrees (0, 90, 180, 270, counter-clockwise as PIL rotates) that make the page upright.

    The engine's ``orienter`` decides when it can; else the projection profiles give the axis
    and the ``scorer`` (if any) up or down.
    """
    small = _downscale(gray)
    mask = ink_mask(small)
    if not mask.any():
        return 0
    if orienter is not None:
        answer = orienter(small)
        if answer is not None:
            return int(answer) % 360
    candidates = (90, 270) if text_runs_vertically(mask) else (0, 180)
    if scorer is not None and scorer(_rotate_quarter(small, candidates[0])) < 0:
        return candidates[1]
    return candidates[0]


def detect_skew(gray: np.ndarray, *, max_skew: float = MAX_SKEW) -> float:
    """The small rotation (degrees, counter-clockwise) that makes text lines horizontal."""
    import cv2

    small = _downscale(gray, 1000)
    mask = ink_mask(small).astype(np.uint8)
    if mask.sum() < 50:
        return 0.0
    h, w = mask.shape
    centre = (w / 2, h / 2)

    def sharpness(angle: float) -> float:
        matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
        rotated = cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        return _profile_sharpness(rotated > 0)

    coarse = np.arange(-max_skew, max_skew + 1e-9, 0.5)
    best = max(coarse, key=sharpness)
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.1)
    best = max(fine, key=sharpness)
    return round(float(best), 2) if abs(best) >= 0.15 else 0.0


def median_char_height(gray: np.ndarray) -> float | None:
    """Median height in pixels of character-sized blobs of ink, or None on a blank page."""
    import cv2

    mask = ink_mask(gray).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    # Characters: not specks, not ruling lines, not whole pictures.
    keep = (heights >= 4) & (heights <= gray.shape[0] / 10) & (widths <= heights * 4)
    if keep.sum() < 10:
        return None
    return float(np.median(heights[keep]))


def rotate_image(image, degrees: float):
    """PIL rotate counter-clockwise on white; quarter turns keep every pixel, skew keeps the size."""
    from PIL import Image

    fill = 255 if image.mode == "L" else (255, 255, 255)
    if degrees % 90 == 0:
        return image.rotate(degrees, expand=True) if degrees % 360 else image
    return image.rotate(degrees, resample=Image.BICUBIC, expand=False, fillcolor=fill)


def apply_transform(page: PageImage, *, rotation: int, skew: float, scale: float = 1.0) -> PageImage:
    """Apply a known correction (from a stored stage result) to a fresh rendering of the page."""
    image = rotate_image(page.image, rotation) if rotation else page.image
    if skew:
        image = rotate_image(image, skew)
    dpi = page.dpi
    if scale != 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        dpi = page.dpi * scale
    return replace(page, image=image, rotation=rotation, skew=skew, dpi=dpi)


def prepare_page(
    page: PageImage,
    *,
    target_char_height: float | None = None,
    scorer: UprightScorer | None = None,
    orienter: Orienter | None = None,
    detect_orientation: bool = True,
    deskew: bool = True,
) -> PageImage:
    """The page upright, deskewed and resized so its median character is ``target_char_height`` px.

    Resizing happens only when the page is off by more than 25 % and never beyond 4x or below
    a quarter; the page's ``dpi`` follows the resize.
    """
    gray = to_gray(page.image)
    rotation = detect_rotation(gray, scorer=scorer, orienter=orienter) if detect_orientation else 0
    if rotation:
        gray = _rotate_quarter(gray, rotation)
    skew = detect_skew(gray) if deskew else 0.0
    scale = 1.0
    if target_char_height:
        height = median_char_height(_downscale(gray, 4000))
        if height:
            height *= max(gray.shape) / max(_downscale(gray, 4000).shape)
            wanted = target_char_height / height
            if not 0.8 <= wanted <= 1.25:
                scale = min(max(wanted, 0.25), 4.0)
                pixels = gray.shape[0] * gray.shape[1] * scale * scale
                if pixels > MAX_UPSCALED_PIXELS:
                    scale = max(1.0, (MAX_UPSCALED_PIXELS / (gray.shape[0] * gray.shape[1])) ** 0.5)
    return apply_transform(page, rotation=rotation, skew=skew, scale=round(scale, 4))
