"""Calibration of scores read as probabilities: Platt scaling fitted on training rows only, and the calibration
intercept and slope that say how far a score is from a probability.

Class-weighted training distorts scores (each class weighs as much as the other, whatever the prevalence), so a
score of 0.9 is not a 90% chance of cancer. Platt scaling maps a score s to
``sigmoid(a * logit(s) + b)``, two parameters fitted by maximum likelihood (no penalty) on out-of-fold scores of
the split's training part, the same scores that set the operating point (:mod:`lib.core.operating`). It is
monotone, so the operating point's decisions do not change; only the probabilities do.

On test rows, :func:`intercept_slope` gives the two usual summaries (Van Calster et al., J Clin Epidemiol 2016;
74:167-176): the calibration slope (the coefficient of ``logit(p)`` in a logistic regression of the label on it:
1 is ideal, above 1 means the scores are too timid, below 1 too extreme) and the calibration intercept
(calibration-in-the-large: the logistic intercept with ``logit(p)`` as an offset: 0 is ideal, positive means the
scores underestimate the risk on average).
"""
from __future__ import annotations

import numpy as np

EPS = 1e-6  # scores are clipped to [EPS, 1 - EPS] before the logit: float32 sigmoids reach exactly 0 and 1


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _check(y, score):
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"calibration needs one score per label, got {y.shape} labels and {score.shape} scores")
    if not np.isfinite(score).all() or (score < 0).any() or (score > 1).any():
        raise ValueError("calibration needs scores in [0, 1]")
    if set(np.unique(y)) - {0, 1}:
        raise ValueError("calibration needs labels 0 and 1")
    return y, score


def platt(y, score) -> tuple[float, float]:
    """(a, b) of ``sigmoid(a * logit(score) + b)`` fitted to labels ``y`` as Platt (1999) does it: maximum
    likelihood against the smoothed targets (N+ + 1) / (N+ + 2) for cancers and 1 / (N- + 2) for the others,
    which keeps the fit finite when the scores separate the classes (common on the out-of-fold scores of a
    PBCNT training part, which holds 7-8 normal rows). Raises ValueError when ``y`` holds one class only (nothing to fit)."""
    from scipy.optimize import minimize

    y, score = _check(y, score)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if not n_pos or not n_neg:
        raise ValueError("Platt scaling needs rows of both classes")
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = logit(score)

    def loss(ab):
        z = ab[0] * x + ab[1]
        # cross-entropy against t, written stably: log(1 + e^z) - t z
        value = np.sum(np.logaddexp(0, z) - t * z)
        r = 1 / (1 + np.exp(-z)) - t
        return value, np.array([np.sum(r * x), np.sum(r)])

    fit = minimize(loss, np.array([1.0, 0.0]), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
    return float(fit.x[0]), float(fit.x[1])


def apply_platt(score, a: float, b: float) -> np.ndarray:
    """Scores mapped by the fitted Platt scaling: ``sigmoid(a * logit(score) + b)``."""
    z = a * logit(score) + b
    return 1.0 / (1.0 + np.exp(-z))


SLOPE_LIMIT = 20.0  # |slope| at or above it: the scores (nearly) separate the rows, no finite fit


def intercept_slope(y, p) -> dict:
    """Calibration intercept (calibration-in-the-large: the logistic intercept with ``logit(p)`` as an offset,
    slope fixed at 1) and calibration slope (the coefficient of ``logit(p)``) of probabilities ``p`` on labels
    ``y`` (statsmodels GLM, no penalty). NaN where the rows hold one class only, or where the scores (nearly)
    separate the rows: the likelihood has no finite maximum, and a fitted slope of :data:`SLOPE_LIMIT` or more
    (e.g. 225 on 86 rows of one paper-protocol split) is where the optimiser stopped, not a property."""
    import warnings

    import statsmodels.api as sm

    nan = {"calibration_intercept": float("nan"), "calibration_slope": float("nan")}
    y, p = _check(y, p)
    if len(np.unique(y)) < 2:
        return nan
    lp = logit(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slope = float(sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1])
            intercept = float(sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit().params[0])
    except Exception:  # perfect separation or no convergence
        return nan
    if not (np.isfinite(slope) and np.isfinite(intercept) and abs(slope) < SLOPE_LIMIT):
        return nan
    return {"calibration_intercept": intercept, "calibration_slope": slope}
