"""The operating point: a threshold on P(malignant) chosen for a target sensitivity on training rows only, then
applied to the test part.

At argmax (0.5) a model may miss one cancer in ten; a screening tool fixes the share of cancers it must find
(``target_sensitivity`` in params, 0.95 in the rigorous runs) and clears as many benign cases as it can at that
sensitivity. The threshold is the highest score t with ``sensitivity(score >= t) >= target`` on rows the model
was not fitted on and that are not test rows:

- ``oof``: out-of-fold predictions of the training part (``oof_folds`` folds; grouped like the run's splits) for
  the models that are cheap to refit: the students, SM_INT8 and the baselines. An inner validation part of a
  PBCNT split holds about one normal row, too few to place a threshold;
- ``val``: the inner validation part, for the teacher, SM_paperloss and the teacher's compressed variants (refitting a 748k-parameter
  teacher per inner fold would cost more than the whole study): with ~13 cancers in a PBCNT validation part
  (~26 in WDBC, ~29 in BCD), the threshold lands on one of few positives and the test sensitivity varies more.

Limits of ``oof``: the out-of-fold students distil from the split's teacher, fitted on every training row (the
held-out rows included); the held-out rows' features join the BatchNorm batch statistics while the other rows
train (their labels do not reach the members that hold them out); the preprocessing is fitted on all training
rows. ``inherited``: a float TFLite conversion keeps its Keras source's threshold, and SM_DEPLOY keeps SM_INT8's.

The decision is ``score >= threshold`` (at 0.5 the study's argmax is ``score > 0.5``; the two differ only on
exact ties). :func:`fields` returns the contract's ``op_*`` columns (docs/results.md).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from lib.core.metrics import malignancy_score

SOURCES = ("oof", "val", "inherited")


def threshold(y, outputs, target: float) -> float:
    """The highest threshold t on P(malignant) whose sensitivity on (y, outputs) is at least ``target``;
    0.5 when y holds no cancer (nothing to set it on)."""
    if not 0 < target < 1:
        raise ValueError(f"target sensitivity must be in (0, 1), got {target}")
    y = np.asarray(y, dtype=int)
    score = malignancy_score(outputs)
    if len(y) != len(score):
        raise ValueError(f"{len(y)} labels for {len(score)} predictions")
    pos = np.sort(score[y == 1])[::-1]
    if not len(pos):
        return 0.5
    need = int(np.ceil(target * len(pos) - 1e-9))  # cancers that must score >= t
    return float(pos[max(need, 1) - 1])


def at(y, outputs, t: float) -> dict:
    """Sensitivity, specificity, missed cancers and false alarms of the decision ``score >= t``."""
    y = np.asarray(y, dtype=int)
    pred = malignancy_score(outputs) >= t
    tp, fn = int(np.sum(pred & (y == 1))), int(np.sum(~pred & (y == 1)))
    tn, fp = int(np.sum(~pred & (y == 0))), int(np.sum(pred & (y == 0)))
    return {"op_sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "op_specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "op_missed": fn, "op_false_alarms": fp}


def fields(y_test, out_test, t: float | None, source: str) -> dict:
    """The ``op_*`` columns of one results row: the threshold, where it came from, and the test part's numbers
    at it. ``t`` None (a run without a target sensitivity): no columns."""
    if t is None:
        return {}
    if source not in SOURCES:
        raise ValueError(f"threshold source must be one of {SOURCES}, got {source!r}")
    return {"op_threshold": float(t), "op_source": source, **at(y_test, out_test, t)}


def choose(P, y_fit, out_fit) -> float | None:
    """The run's threshold from training-only predictions (None without ``target_sensitivity``)."""
    return None if P.target_sensitivity is None else threshold(y_fit, out_fit, P.target_sensitivity)


def oof_folds(y, groups, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) of every training row for out-of-fold predictions: stratified, and grouped by sample
    ID where the dataset has IDs (``groups`` of the training rows, or None)."""
    y = np.asarray(y, dtype=int)
    k = min(k, int(np.bincount(y, minlength=2).min())) if len(np.unique(y)) == 2 else k
    if k < 2:
        raise ValueError("out-of-fold predictions need at least 2 rows of each class in the training part")
    fold = np.full(len(y), -1)
    splitter = (StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed) if groups is not None
                else StratifiedKFold(n_splits=k, shuffle=True, random_state=seed))
    for j, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
        fold[held] = j
    return fold


def int8_rule(t: float, zero_point: int, positive: str = "malignant") -> str:
    """The decision ``score >= t`` in a full-integer model's output scale: both sigmoid outputs share one scale
    s and zero point z, so P(malignant) = (q1 - z) / (q0 + q1 - 2z) >= t  <=>  (1 - t)(q1 - z) >= t (q0 - z).
    ``positive`` names class 1 in the rule."""
    return f"{positive} if {1 - t:.6g} * (q1 - ({zero_point})) >= {t:.6g} * (q0 - ({zero_point}))"


def thresholds_of(rows) -> dict:
    """{(fold, model): threshold} of results rows (a DataFrame) that carry one: what a float TFLite conversion
    inherits from its Keras source (same outputs to float rounding)."""
    if "op_threshold" not in rows:
        return {}
    have = rows[rows["op_threshold"].notna()]
    return {(f, m): float(t) for f, m, t in zip(have["fold"], have["model"], have["op_threshold"])}


def pool(g) -> dict:
    """Pooled counts of results rows ``g`` (one model, several splits) at 0.5 and at the operating point: the
    cancers and normal rows, missed cancers and false alarms at both, the thresholds' range and their source."""
    return {"splits": len(g), "source": "/".join(sorted(set(g["op_source"]))),
            "threshold_min": float(g["op_threshold"].min()), "threshold_median": float(g["op_threshold"].median()),
            "threshold_max": float(g["op_threshold"].max()),
            "cancers": int((g["tp"] + g["fn"]).sum()), "normals": int((g["tn"] + g["fp"]).sum()),
            "missed_05": int(g["fn"].sum()), "missed_op": int(g["op_missed"].sum()),
            "false_alarms_05": int(g["fp"].sum()), "false_alarms_op": int(g["op_false_alarms"].sum())}


def summary(rows):
    """Per model and format, pooled over splits: cancers missed and benign cases cleared at 0.5 and at the
    operating point, and the thresholds' range (a DataFrame for the notebooks; rows without an operating point
    are left out)."""
    if "op_threshold" not in rows:
        return pd.DataFrame()
    df = rows[rows["op_threshold"].notna()]
    out = []
    for (model, fmt), g in df.groupby(["model", "format"], sort=False, observed=True):
        c = pool(g)
        pos, neg = c["cancers"], c["normals"]
        out.append({"model": model, "format": fmt, "splits": c["splits"], "source": c["source"],
                    "threshold_min": c["threshold_min"], "threshold_median": c["threshold_median"],
                    "threshold_max": c["threshold_max"],
                    "sensitivity@0.5": 1 - c["missed_05"] / pos if pos else np.nan,
                    "sensitivity@op": 1 - c["missed_op"] / pos if pos else np.nan,
                    "specificity@0.5": 1 - c["false_alarms_05"] / neg if neg else np.nan,
                    "specificity@op": 1 - c["false_alarms_op"] / neg if neg else np.nan,
                    "missed@0.5": c["missed_05"], "missed@op": c["missed_op"], "cancers": pos})
    return pd.DataFrame(out).set_index(["model", "format"])
