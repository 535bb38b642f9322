"""Form-template geometry: the template file, and registering a page to it.

A template (``docproc/doctypes/templates/NAME.json``, written by ``manage.py form_template``)
holds each field's rectangles on the blank form and the form's printed label words. A page is
*registered* to the template:

- ``anchors``: label words found on the page (OCR of a scan, or a text layer that holds the
  labels) are matched to the template's unique labels and an affine transform from template to
  page is fitted by RANSAC, then least squares on the inliers. Fewer than ``MIN_ANCHORS``
  inliers, or a transform far from a plausible scan (scale, shear), and the page does not
  register.
- ``identity``: a digital fill's text layer that holds only the filled values (the labels are
  vector graphics) registers as is when the page has the form's shape and nearly all its words
  lie inside the form's widgets.

Pure: no Django, no reading of field values (that is ``template``).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..types import PageWords, Word
from .template_build import TEMPLATE_DIR, anchor_key

MIN_ANCHORS = 8  # inlier label matches a registration needs
INLIER_TOLERANCE = 0.012  # fraction of the page: a matched label this far off its fit is an outlier
PAD = 0.004  # added round each field rectangle (fraction of the page)
LABEL_RADIUS = 0.02  # a word this close to a label's registered place, reading the same, is that label
IDENTITY_MIN_INSIDE = 0.9  # share of a text layer's words that must sit in the form's widgets
IDENTITY_MIN_FIELD_WORDS = 4


class TemplateMissing(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class FormTemplate:
    name: str
    version: str
    page_size: tuple[float, float]
    fields: dict[str, dict[str, Any]]
    widgets: tuple[tuple[float, float, float, float], ...]
    labels: tuple[tuple[str, tuple[float, float, float, float], bool], ...]  # text, bbox, anchor

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormTemplate:
        return cls(
            name=data["name"],
            version=str(data["version"]),
            page_size=(float(data["page_size"][0]), float(data["page_size"][1])),
            fields=data["fields"],
            widgets=tuple(tuple(r) for r in data["widgets"]),  # type: ignore[misc]
            labels=tuple((lab["text"], tuple(lab["bbox"]), bool(lab["anchor"])) for lab in data["labels"]),  # type: ignore[misc]
        )


@lru_cache(maxsize=8)
def load_template(name: str, folder: Path = TEMPLATE_DIR) -> FormTemplate:
    path = folder / f"{name}.json"
    if not path.is_file():
        raise TemplateMissing(f"no form template {name!r} in {folder}; write it with manage.py form_template")
    return FormTemplate.from_json(json.loads(path.read_text()))


Affine = tuple[float, float, float, float, float, float]  # x' = a x + b y + c ; y' = d x + e y + f
IDENTITY: Affine = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True, slots=True)
class Registration:
    page: int
    kind: str  # "identity" | "anchors"
    transform: Affine  # template -> page, normalised coordinates
    anchors: int  # inlier label matches (0 for identity)
    residual: float  # RMS distance of the inliers after the fit (fraction of the page)
    matched: int = 0  # label words matched to the template before outliers were dropped

    @property
    def loose(self) -> bool:
        """Most matched labels did not fit: the page's word boxes are unreliable (a page read
        upside down places words wrongly within their lines), so unchecked values are doubtful."""
        return self.kind == "anchors" and self.anchors < 0.5 * self.matched

    @property
    def quality(self) -> float:
        """1.0 for an exact identity; for anchors, lower with fewer matches and a looser fit."""
        if self.kind == "identity":
            return 1.0
        count = min(1.0, self.anchors / 30.0)
        tight = max(0.0, 1.0 - self.residual / INLIER_TOLERANCE)
        return round(0.85 + 0.1 * count * tight, 4)


def _apply(t: Affine, x: float, y: float) -> tuple[float, float]:
    return t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]


def _rect(t: Affine, rect: tuple[float, float, float, float] | list[float], pad: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = rect
    corners = [_apply(t, x, y) for x in (x0, x1) for y in (y0, y1)]
    return (min(c[0] for c in corners) - pad, min(c[1] for c in corners) - pad,
            max(c[0] for c in corners) + pad, max(c[1] for c in corners) + pad)


def _centre(box: tuple[float, float, float, float] | list[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _inside(point: tuple[float, float], rect: tuple[float, float, float, float]) -> bool:
    return rect[0] <= point[0] <= rect[2] and rect[1] <= point[1] <= rect[3]


def _solve3(m: list[list[float]], v: list[float]) -> list[float] | None:
    """Solve a 3x3 linear system by Cramer's rule; None when singular."""
    def det(a: list[list[float]]) -> float:
        return (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
                - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
    d = det(m)
    if abs(d) < 1e-12:
        return None
    out = []
    for col in range(3):
        mc = [row[:] for row in m]
        for r in range(3):
            mc[r][col] = v[r]
        out.append(det(mc) / d)
    return out


def fit_affine(pairs: list[tuple[tuple[float, float], tuple[float, float]]]) -> Affine | None:
    """Least-squares affine from template points to page points (at least three, not collinear)."""
    if len(pairs) < 3:
        return None
    sxx = sxy = sx = syy = sy = 0.0
    n = float(len(pairs))
    bx = [0.0, 0.0, 0.0]
    by = [0.0, 0.0, 0.0]
    for (x, y), (u, v) in pairs:
        sxx += x * x
        sxy += x * y
        sx += x
        syy += y * y
        sy += y
        bx[0] += x * u
        bx[1] += y * u
        bx[2] += u
        by[0] += x * v
        by[1] += y * v
        by[2] += v
    normal = [[sxx, sxy, sx], [sxy, syy, sy], [sx, sy, n]]
    row_x = _solve3(normal, bx)
    row_y = _solve3(normal, by)
    if row_x is None or row_y is None:
        return None
    return (row_x[0], row_x[1], row_x[2], row_y[0], row_y[1], row_y[2])


def _plausible(t: Affine) -> bool:
    """A scan of the form: each axis scaled by 0.5-2 (margins, aspect), turned by a multiple of
    90 degrees (a page the OCR's orientation step left upside down still registers) plus at most
    ~6 degrees of skew, and not mirrored."""
    sx = math.hypot(t[0], t[3])
    sy = math.hypot(t[1], t[4])
    if not (0.5 <= sx <= 2.0 and 0.5 <= sy <= 2.0):
        return False
    angle_x = math.degrees(math.atan2(t[3], t[0]))
    angle_y = math.degrees(math.atan2(t[4], t[1]))
    turn = (angle_y - angle_x) % 360.0
    if abs(turn - 90.0) > 6.0:  # the y axis must stay a quarter turn after the x axis
        return False
    off = angle_x % 90.0
    return min(off, 90.0 - off) <= 6.0


def _invert(t: Affine) -> Affine:
    a, b, c, d, e, f = t
    det = a * e - b * d
    return (e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det)


def _residual(t: Affine, pair: tuple[tuple[float, float], tuple[float, float]]) -> float:
    (x, y), (u, v) = pair
    px, py = _apply(t, x, y)
    return float(((px - u) ** 2 + (py - v) ** 2) ** 0.5)


def _anchor_pairs(template: FormTemplate, page: PageWords) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Template anchor centre -> page word centre, for anchors read exactly once on the page."""
    seen: dict[str, list[Word]] = {}
    for w in page.words:
        key = anchor_key(w.text)
        if len(key) >= 4:
            seen.setdefault(key, []).append(w)
    pairs = []
    for text, bbox, anchor in template.labels:
        if not anchor:
            continue
        found = seen.get(anchor_key(text), [])
        if len(found) == 1:
            pairs.append((_centre(bbox), _centre(found[0].bbox)))
    return pairs


def register_by_anchors(template: FormTemplate, page: PageWords, *, seed: int = 0) -> Registration | None:
    pairs = _anchor_pairs(template, page)
    if len(pairs) < MIN_ANCHORS:
        return None
    rng = random.Random(seed)  # deterministic: the same page always registers the same way
    best: list[int] = []
    for _ in range(300):
        sample = rng.sample(range(len(pairs)), 3)
        t = fit_affine([pairs[i] for i in sample])
        if t is None or not _plausible(t):
            continue
        inliers = [i for i, p in enumerate(pairs) if _residual(t, p) <= INLIER_TOLERANCE]
        if len(inliers) > len(best):
            best = inliers
    if len(best) < MIN_ANCHORS:
        return None
    # Refit on the inliers, then once more on those still within tolerance.
    t = fit_affine([pairs[i] for i in best])
    for _ in range(2):
        if t is None:
            return None
        kept = [p for p in pairs if _residual(t, p) <= INLIER_TOLERANCE]
        if len(kept) < MIN_ANCHORS:
            return None
        t = fit_affine(kept)
    if t is None or not _plausible(t):
        return None
    kept = [p for p in pairs if _residual(t, p) <= INLIER_TOLERANCE]
    if len(kept) < MIN_ANCHORS:
        return None
    rms = (sum(_residual(t, p) ** 2 for p in kept) / len(kept)) ** 0.5
    return Registration(page.page, "anchors", t, len(kept), round(rms, 5), matched=len(pairs))


def _field_rects(template: FormTemplate) -> list[tuple[float, float, float, float]]:
    return [tuple(part["rect"]) for spec in template.fields.values() for part in spec["parts"]]  # type: ignore[misc]


def register_identity(template: FormTemplate, page: PageWords) -> Registration | None:
    """A digital fill's text layer: the form's page shape, and its words inside the widgets."""
    if not page.words or page.source != "text-layer":
        return None
    if abs(page.width / page.height - template.page_size[0] / template.page_size[1]) > 0.01:
        return None
    widgets = [(r[0] - PAD, r[1] - PAD, r[2] + PAD, r[3] + PAD) for r in template.widgets]
    inside = sum(1 for w in page.words if any(_inside(_centre(w.bbox), r) for r in widgets))
    if inside < IDENTITY_MIN_INSIDE * len(page.words):
        return None
    fields = [(r[0] - PAD, r[1] - PAD, r[2] + PAD, r[3] + PAD) for r in _field_rects(template)]
    in_fields = sum(1 for w in page.words if any(_inside(_centre(w.bbox), r) for r in fields))
    if in_fields < IDENTITY_MIN_FIELD_WORDS:
        return None
    return Registration(page.page, "identity", IDENTITY, 0, 0.0)


