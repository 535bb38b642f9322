"""OCR engines. Each is a class with ``name``, ``version`` and ``read(page) -> PageWords``.

Guarantees every engine gives: every word has a box in the page coordinate system of
``types.BBox`` and a confidence in [0, 1]; words come in reading order with line numbers;
no engine downloads weights at run time (a missing model raises ``MissingModel`` naming
the setting to set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..types import PageImage, PageWords

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class OcrCapabilities:
    """What an engine offers beyond ``read``; the runner asks this, never the engine's attributes.

    ``target_char_height``: the median character height in pixels the engine's models read best
    (the page is resized toward it), None to keep the rendered size. ``upright_score(gray)``:
    > 0 when text running along rows reads upright, < 0 upside down, 0 unsure.
    ``orientation(gray)``: the quarter turns counter-clockwise that make the page upright, or
    None when unsure (the pixels then decide)."""

    target_char_height: float | None = None
    upright_score: Callable[[np.ndarray], float] | None = None
    orientation: Callable[[np.ndarray], int | None] | None = None


class OcrEngine(Protocol):
    name: str
    version: str
    capabilities: OcrCapabilities

    def read(self, page: PageImage) -> PageWords: ...
