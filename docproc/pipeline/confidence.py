"""One confidence per field from the extractor's belief, grounding, OCR confidence and checks.

The combination is a documented, monotone score; calibration to an observed accuracy per
document type and field is applied on top of it where a calibration table exists.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .grounding import Grounding
from .types import Candidate, DocumentText


def field_signals(candidate: Candidate, grounding: Grounding, document: DocumentText, messages: tuple[str, ...],
                  check: float | None = None, plausible: float | None = None) -> dict[str, float]:
    """The evidence about one field, each in [0, 1]: ``model`` (the extractor's belief: for an
    LLM the geometric mean of its value's token probabilities), ``grounding``, ``ocr`` (the
    weakest word), ``valid``; when known, ``model_min`` (the least likely token), ``check``
    (a field-specific check, see ``evidence.field_check``), ``plausible`` (no word of a text
    value looks like an OCR slip, see ``evidence.text_plausibility``) and ``snapped`` (the
    value was replaced by the printed line it was read from)."""
    by_id = {w.id: w for w in document.words()}
    ocr = [by_id[i].confidence for i in grounding.word_ids if i in by_id]
    signals = {
        "model": float(candidate.model_confidence),
        "grounding": float(grounding.score),
        "ocr": min(ocr) if ocr else (1.0 if candidate.value is None else 0.0),
        "valid": 0.0 if messages else 1.0,
    }
    if "p_min" in candidate.extra:
        signals["model_min"] = float(candidate.extra["p_min"])
    if check is not None:
        signals["check"] = float(check)
    if plausible is not None:
        signals["plausible"] = float(plausible)
    if "snap" in candidate.extra:
        model_value = candidate.extra.get("model_value")
        signals["snapped"] = 0.0 if model_value is None or model_value == candidate.value else 1.0
    return signals


def combine(signals: dict[str, float]) -> float:
    """Product of the extractor's belief and penalties; never above the weakest evidence."""
    score = signals["model"]
    score *= 0.4 + 0.6 * signals["grounding"]
    score *= 0.5 + 0.5 * signals["ocr"]
    score *= 1.0 if signals["valid"] >= 1.0 else 0.6
    return round(max(0.0, min(1.0, score)), 4)


# --- calibration ---------------------------------------------------------------------------
# A calibration maps a field's signals to the probability that its value is right, fitted on
# labelled documents per (document type, field) for one model and prompt version (Platt
# scaling: logistic regression on the signals, with a ridge penalty because labelled sets
# are small). Reviewer outcomes can be appended to the same samples and refitted later.

FEATURES = ("logit_mean", "logit_min", "grounding", "ocr", "valid", "check", "snapped", "plausible", "bias")
CALIBRATION_DIR = Path(__file__).resolve().parent / "calibrations"


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def feature_vector(signals: dict[str, float]) -> list[float]:
    return [
        _logit(signals.get("model", 0.0)),
        _logit(signals.get("model_min", signals.get("model", 0.0))),
        signals.get("grounding", 0.0),
        signals.get("ocr", 0.0),
        signals.get("valid", 0.0),
        signals.get("check", 0.5),
        signals.get("snapped", 0.0),
        signals.get("plausible", 1.0),
        1.0,
    ]


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt coefficients per field for one (engine, model, prompt version)."""

    version: str
    engine: str
    model: str
    prompt_version: str
    coefficients: dict[str, list[float]]  # "doctype.field" -> weights over FEATURES
    # "doctype.field" -> the review threshold that goes with these weights (a refit on reviewer
    # outcomes proposes them); a field not listed keeps its document type's threshold.
    thresholds: dict[str, float] = field(default_factory=dict)

    def applies_to(self, engine: str, engine_version: str, prompt_version: str) -> bool:
        return engine == self.engine and engine_version.endswith(self.model) and prompt_version == self.prompt_version

    def score(self, doctype: str, field: str, signals: dict[str, float]) -> float | None:
        weights = self.coefficients.get(f"{doctype}.{field}")
        if weights is None:
            return None
        z = sum(w * x for w, x in zip(weights, feature_vector(signals), strict=True))
        return round(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))), 4)

    def threshold(self, doctype: str, field: str, default: float) -> float:
        return self.thresholds.get(f"{doctype}.{field}", default)

    def to_json(self) -> dict[str, Any]:
        out = {"version": self.version, "engine": self.engine, "model": self.model,
               "prompt_version": self.prompt_version, "features": list(FEATURES), "coefficients": self.coefficients}
        if self.thresholds:
            out["thresholds"] = self.thresholds
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError("calibration was fitted on other features")
        return cls(data["version"], data["engine"], data["model"], data["prompt_version"], dict(data["coefficients"]),
                   {k: float(v) for k, v in (data.get("thresholds") or {}).items()})


def fit_platt(samples: list[tuple[dict[str, float], bool]], *, ridge: float = 1.0, steps: int = 400) -> list[float]:
    """Logistic regression (Newton's method, L2 on every weight but the bias) of correctness
    on the signals. Returns weights over FEATURES."""
    import numpy as np

    x = np.array([feature_vector(s) for s, _ in samples], dtype=float)
    y = np.array([1.0 if ok else 0.0 for _, ok in samples])
    penalty = np.full(x.shape[1], ridge)
    penalty[-1] = 1e-3
    return [round(float(v), 6) for v in _newton(x, y, penalty, steps)]


def _newton(x: Any, y: Any, penalty: Any, steps: int) -> Any:
    """Weights of an L2-penalised logistic regression of ``y`` on ``x`` (Newton's method)."""
    import numpy as np

    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x.T * (p * (1 - p))) @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w


# Evidence whose weight is fitted per field; the other signals share one weight across the
# document type's fields, and each field's bias is a shared bias plus a penalised offset. A
# field with few wrong values in the labelled set (a receipt's date) then learns from the
# others what weak grounding or a low token probability means, instead of calling every
# value right.
PER_FIELD = ("check",)
MONOTONE = ("logit_mean", "logit_min", "grounding", "ocr", "valid", "check", "plausible")


def fit_platt_pooled(samples: dict[str, list[tuple[dict[str, float], bool]]], *, ridge: float = 1.0,
                     steps: int = 400) -> dict[str, list[float]]:
    """Logistic regression over every field's samples at once. Returns, per field, weights
    over FEATURES (so that ``Calibration.score`` reads them like ``fit_platt``'s)."""
    import numpy as np

    names = sorted(k for k, v in samples.items() if v)
    bias = FEATURES.index("bias")
    shared = [i for i, f in enumerate(FEATURES) if f not in PER_FIELD]  # includes the shared bias
    own = [FEATURES.index(f) for f in PER_FIELD] + [bias]  # per field: its own slopes and a bias offset
    width = len(shared) + len(own) * len(names)
    rows, ys = [], []
    for n, name in enumerate(names):
        for signals, ok in samples[name]:
            v = feature_vector(signals)
            row = [v[i] for i in shared] + [0.0] * (len(own) * len(names))
            for k, i in enumerate(own):
                row[len(shared) + n * len(own) + k] = v[i]
            rows.append(row)
            ys.append(1.0 if ok else 0.0)
    x, y = np.array(rows, dtype=float), np.array(ys)
    penalty = np.full(width, ridge)
    penalty[shared.index(bias)] = 1e-3
    # Better evidence never lowers the confidence: a signal that comes out with a negative weight
    # (collinear with others on a small set) is left out and the rest refitted.
    column_feature = [FEATURES[i] for i in shared] + [FEATURES[i] for _ in names for i in own]
    free = np.ones(width, dtype=bool)
    while True:
        w = np.zeros(width)
        cols = np.flatnonzero(free)
        w[cols] = _newton(x[:, cols], y, penalty[cols], steps)
        negative = [j for j in cols if column_feature[j] in MONOTONE and w[j] < 0]
        if not negative:
            break
        free[negative] = False
    out: dict[str, list[float]] = {}
    for n, name in enumerate(names):
        weights = [0.0] * len(FEATURES)
        for j, i in enumerate(shared):
            weights[i] = float(w[j])
        for k, i in enumerate(own):
            weights[i] += float(w[len(shared) + n * len(own) + k])
        out[name] = [round(v, 6) for v in weights]
    return out


_loaded: list[Calibration] | None = None


def load_calibrations(folder: Path = CALIBRATION_DIR) -> list[Calibration]:
    global _loaded
    if _loaded is None or folder != CALIBRATION_DIR:
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(Calibration.from_json(json.loads(path.read_text())))
            except (ValueError, KeyError):
                continue  # a file for other features is ignored, not fatal
        if folder != CALIBRATION_DIR:
            return found
        _loaded = found
    return _loaded


def calibration_for(engine: str, engine_version: str, prompt_version: str) -> Calibration | None:
    for cal in load_calibrations():
        if cal.applies_to(engine, engine_version, prompt_version):
            return cal
    return None
