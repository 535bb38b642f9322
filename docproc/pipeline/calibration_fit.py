"""Refitting a calibration on reviewer outcomes and proposing the thresholds that go with it.

Framework-free: the service (docproc/services/calibration.py) loads the outcomes, calls
``propose`` and stores what it returns. What a proposal promises is measured on held-out
outcomes only: the outcomes are split into k folds by document (a document's fields stay in one
fold), each fold is scored by the calibration fitted on the other folds, and the thresholds and
the expected automation and precision are read from those held-out scores.

The shipped calibration (fitted on the project's labelled data sets, docproc/pipeline/calibrations/)
is the prior: the fit is a logistic regression whose ridge penalty pulls each weight towards the
shipped one instead of towards zero, so a field with few outcomes keeps the shipped behaviour and
one with many follows the client's documents. Without a shipped calibration (the rules backend)
the prior is zero, the usual ridge.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .confidence import FEATURES, MONOTONE, Calibration, feature_vector

THRESHOLDS: tuple[float, ...] = (*(round(0.5 + 0.01 * i, 2) for i in range(50)), 0.995, 0.999)
NEVER = 1.01  # a threshold no confidence reaches: the field always goes to a person


@dataclass(frozen=True, slots=True)
class OutcomeSample:
    """One reviewed field: its signals when it was extracted, whether the machine's value was
    right, and how much it counts (2 for a value auto-accepted and then corrected)."""

    key: str  # "doctype.field"
    group: str  # the document, so that its fields share a fold
    signals: dict[str, float]
    correct: bool
    has_value: bool  # the machine found a value (a missing one has no signals to calibrate)
    eligible: bool  # a value was found and no check failed: only such a field is ever auto-accepted
    confidence: float  # as extracted (under the calibration and threshold then in force)
    threshold: float
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class FieldFigures:
    """Automation and precision of one field at one threshold (``precision`` None: nothing accepted)."""

    threshold: float
    n: int
    automation: float
    precision: float | None
    accepted: int

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "n": self.n, "automation": self.automation,
                "precision": self.precision, "accepted": self.accepted}


@dataclass(frozen=True, slots=True)
class Proposal:
    """A refitted calibration, its thresholds and what both versions do on the outcomes."""

    calibration: Calibration
    thresholds: dict[str, float]  # "doctype.field" -> threshold
    proposed: dict[str, FieldFigures]  # held out (cross-validated)
    current: dict[str, FieldFigures]  # as the fields were routed when extracted
    folds: int
    outcomes: int
    totals: dict[str, dict[str, float | None]] = field(default_factory=dict)


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None for no observation."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def fold_of(group: str, folds: int) -> int:
    """A document's fold, stable across runs (a hash of its id)."""
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % folds


def fit_with_prior(samples: Sequence[OutcomeSample], prior: Sequence[float] | None, *, ridge: float = 1.0,
                   steps: int = 100) -> list[float]:
    """Weighted logistic regression of correctness on the signals, each weight penalised towards
    ``prior`` (zeros when None; the bias only lightly). Weights a monotone signal would get below
    zero (better evidence lowering the confidence) are held at zero and the rest refitted."""
    import numpy as np

    x = np.array([feature_vector(s.signals) for s in samples], dtype=float)
    y = np.array([1.0 if s.correct else 0.0 for s in samples])
    weights = np.array([s.weight for s in samples], dtype=float)
    centre = np.array(list(prior) if prior is not None else [0.0] * len(FEATURES), dtype=float)
    penalty = np.full(len(FEATURES), ridge)
    penalty[FEATURES.index("bias")] = 1e-3
    free = np.ones(len(FEATURES), dtype=bool)
    while True:
        w = np.where(free, centre, 0.0)
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
            grad = x.T @ (weights * (p - y)) + penalty * (w - np.where(free, centre, 0.0))
            hess = (x.T * (weights * p * (1 - p))) @ x + np.diag(penalty)
            grad[~free] = 0.0
            hess[~free, :] = 0.0
            hess[:, ~free] = 0.0
            hess[~free, ~free] = 1.0
            step = np.linalg.solve(hess, grad)
            w -= step
            if float(np.abs(step).max()) < 1e-8:
                break
        negative = [i for i, name in enumerate(FEATURES) if name in MONOTONE and free[i] and w[i] < 0]
        if not negative:
            return [round(float(v), 6) for v in w]
        free[negative] = False


def figures_at(scored: Sequence[tuple[OutcomeSample, float]], threshold: float) -> FieldFigures:
    """Automation (share of fields accepted) and precision (weighted share of the accepted that
    were right) when the fields with confidence ``>= threshold`` are accepted."""
    accepted = [(s, c) for s, c in scored if s.eligible and c >= threshold]
    weight = sum(s.weight for s, _ in accepted)
    right = sum(s.weight for s, _ in accepted if s.correct)
    n = len(scored)
    return FieldFigures(threshold=threshold, n=n, automation=round(len(accepted) / n, 4) if n else 0.0,
                        precision=round(right / weight, 4) if weight else None, accepted=len(accepted))


def pick_threshold(scored: Sequence[tuple[OutcomeSample, float]], target: float, floor: float) -> float:
    """The lowest threshold (at least ``floor``) whose accepted fields reach ``target`` precision
    on ``scored``; NEVER when none does."""
    for t in THRESHOLDS:
        if t < floor:
            continue
        fig = figures_at(scored, t)
        if fig.precision is not None and fig.precision >= target:
            return t
    return NEVER


def propose(samples: Sequence[OutcomeSample], *, shipped: Calibration | None, version: str, engine: str, model: str,
            prompt_version: str, target: float, floor: float, folds: int = 5, ridge: float = 1.0) -> Proposal:
    """Refit every field of ``samples`` (k-fold cross-validated, ``folds`` at most, one per
    document at least) and propose per-field thresholds reaching ``target`` precision on the
    held-out scores, never under ``floor``. Fields without a value score nothing (their confidence
    stays as extracted). Raises ValueError for fewer than two documents."""
    groups = sorted({s.group for s in samples})
    if len(groups) < 2:
        raise ValueError("a cross-validated refit needs outcomes from at least two documents")
    k = max(2, min(folds, len(groups)))
    fold = {g: fold_of(g, k) for g in groups}
    if len(set(fold.values())) < 2:  # every document hashed into one fold: deal them out in turn
        fold = {g: i % k for i, g in enumerate(groups)}
    by_key: dict[str, list[OutcomeSample]] = {}
    for s in samples:
        by_key.setdefault(s.key, []).append(s)
    coefficients: dict[str, list[float]] = {}
    thresholds: dict[str, float] = {}
    proposed: dict[str, FieldFigures] = {}
    current: dict[str, FieldFigures] = {}
    for key, rows in sorted(by_key.items()):
        prior = shipped.coefficients.get(key) if shipped else None
        valued = [s for s in rows if s.has_value]
        held_out: list[tuple[OutcomeSample, float]] = []
        for f in range(k):
            train = [s for s in valued if fold[s.group] != f]
            test = [s for s in rows if fold[s.group] == f]
            weights = fit_with_prior(train, prior, ridge=ridge) if train else list(prior or [0.0] * len(FEATURES))
            trial = Calibration(version, engine, model, prompt_version, {key: weights})
            for s in test:
                held_out.append((s, _score(trial, key, s)))
        threshold = pick_threshold(held_out, target, floor)
        thresholds[key] = threshold
        proposed[key] = figures_at(held_out, threshold)
        current[key] = _as_routed(rows)
        if valued:
            coefficients[key] = fit_with_prior(valued, prior, ridge=ridge)
    calibration = Calibration(version, engine, model, prompt_version, coefficients)
    totals = {"current": _total(current), "proposed": _total(proposed)}
    return Proposal(calibration, thresholds, proposed, current, k, len(samples), totals)


def _score(calibration: Calibration, key: str, s: OutcomeSample) -> float:
    doctype, _, name = key.partition(".")
    if not s.has_value:
        return s.confidence  # no value: nothing to calibrate
    return calibration.score(doctype, name, s.signals) or 0.0


def _as_routed(rows: Sequence[OutcomeSample]) -> FieldFigures:
    """What happened: each field accepted or not at the confidence and threshold it had."""
    accepted = [s for s in rows if s.eligible and s.confidence >= s.threshold]
    weight = sum(s.weight for s in accepted)
    right = sum(s.weight for s in accepted if s.correct)
    thresholds = sorted({s.threshold for s in rows})
    return FieldFigures(threshold=thresholds[-1] if thresholds else NEVER, n=len(rows),
                        automation=round(len(accepted) / len(rows), 4) if rows else 0.0,
                        precision=round(right / weight, 4) if weight else None, accepted=len(accepted))


def _total(figures: dict[str, FieldFigures]) -> dict[str, float | None]:
    n = sum(f.n for f in figures.values())
    accepted = sum(f.accepted for f in figures.values())
    # Precision over every field's accepted values, each field's weighted precision weighted by its count.
    right = sum((f.precision or 0.0) * f.accepted for f in figures.values())
    return {"n": n, "automation": round(accepted / n, 4) if n else 0.0,
            "precision": round(right / accepted, 4) if accepted else None}
