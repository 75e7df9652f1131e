"""The operating point: a threshold on P(malignant) chosen for a target sensitivity on training rows only, then
applied to the test part; and the Platt calibration fitted on the same rows.

At argmax (0.5) a model may miss one cancer in ten; a screening tool fixes the share of cancers it must find
(``target_sensitivity`` in params, 0.95 in the rigorous runs) and clears as many benign cases as it can at that
sensitivity. The threshold comes from the split-conformal rule (:data:`RULE`, :func:`threshold`) on out-of-fold
predictions of the split's training part: with n cancers among those rows, it is the k-th highest cancer score,
k = ceil(target (n + 1)), so that a new cancer, exchangeable with them, scores at or above it with probability at
least the target whatever n is. With fewer than target / (1 - target) cancers (k > n: fewer than 19 at 0.95) no
score is low enough: the threshold is then 0.0 and every row is flagged.

Sources (``op_source``):

- ``oof``: out-of-fold predictions of the training part (``oof_folds`` folds, :func:`oof_fold`; grouped like the
  run's splits), each fold's rows predicted by a copy of the model trained as the model itself on the other
  training rows: TM (notebook 02: teachers ``TM_oof<j>``), SM, SM_scratch and SM_paperloss (notebook 03),
  LR and RF (the baselines), TM_PTQ, TM_PTQ_INT8 and SM_INT8 (notebook 05: the out-of-fold teachers and students
  converted as the model is, run in LiteRT);
- ``inherited``: a float TFLite conversion keeps its Keras source's point (same outputs to float rounding), and
  SM_DEPLOY keeps SM_INT8's.

The pruned teachers (TM_pruned, TM_pruned80, TM_pruned90) and TM_QAT have no operating point: their out-of-fold
copies would need every fine-tuning repeated per fold; they are compared at 0.5 only.

Limits of ``oof``: the out-of-fold students distil from the split's teacher, fitted on every training row (the
held-out rows included); the held-out rows' features join the BatchNorm batch statistics of the students while the
other rows train (their labels do not reach the members that hold them out); the preprocessing is fitted on all
training rows. The out-of-fold teachers stop early on the split's inner validation part, as the teacher does.

Calibration (``cal_a``, ``cal_b``): :func:`lib.core.calibration.platt` fitted on the same out-of-fold scores as the
threshold, so a row's calibrated probability is ``sigmoid(cal_a * logit(score) + cal_b)``; the threshold applies to
the raw score. :func:`fit` makes both from one set of out-of-fold outputs (a :class:`Point`), and :func:`fields`
gives a results row's columns from it.

The decision is ``score >= threshold`` (at 0.5 the study's argmax is ``score > 0.5``; the two differ only on
exact ties). :func:`fields` returns the contract's ``op_*`` and ``cal_*`` columns (docs/results.md).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from lib.core import calibration
from lib.core.metrics import malignancy_score

RULE = "conformal"
SOURCES = ("oof", "inherited")
WITHOUT = ("TM_pruned", "TM_pruned80", "TM_pruned90", "TM_QAT")  # the models that have no operating point
# the columns of a results row that has an operating point, in the order :func:`fields` gives them
COLUMNS = ("op_threshold", "op_source", "op_rule", "op_sensitivity", "op_specificity", "op_missed",
           "op_false_alarms", "cal_a", "cal_b")


def threshold(y, outputs, target: float) -> float:
    """The split-conformal threshold on P(malignant) of (y, outputs): with n cancers, the k-th highest cancer
    score, k = ceil(target (n + 1)). 0.0 (every row flagged) when k > n, too few cancers for the target; 0.5
    when y holds no cancer (nothing to set it on)."""
    if not 0 < target < 1:
        raise ValueError(f"target sensitivity must be in (0, 1), got {target}")
    y = np.asarray(y, dtype=int)
    score = malignancy_score(outputs)
    if len(y) != len(score):
        raise ValueError(f"{len(y)} labels for {len(score)} predictions")
    pos = np.sort(score[y == 1])[::-1]
    if not len(pos):
        return 0.5
    k = int(np.ceil(target * (len(pos) + 1) - 1e-9))  # 1e-9: 0.55 * 100 is 55.00000000000001 in floats
    return 0.0 if k > len(pos) else float(pos[k - 1])


@dataclass(frozen=True)
class Point:
    """An operating point: the threshold, where it came from (:data:`SOURCES`), the rule that set it and the Platt
    map (``cal_a``, ``cal_b``; NaN where the rows held one class) fitted on the same scores."""
    threshold: float
    source: str = "oof"
    cal_a: float = float("nan")
    cal_b: float = float("nan")
    rule: str = RULE

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"threshold source must be one of {SOURCES}, got {self.source!r}")

    def inherited(self) -> "Point":
        """The same point, as a model with the same outputs carries it (a float conversion, SM_DEPLOY)."""
        return replace(self, source="inherited")


def fit(P, y, outputs, source: str = "oof") -> Point | None:
    """The operating point of a model from its out-of-fold outputs on the training rows (y, outputs): the
    conformal threshold for ``P.target_sensitivity`` and the Platt map of the same scores. None in a run without
    a target sensitivity."""
    if P.target_sensitivity is None:
        return None
    y = np.asarray(y, dtype=int)
    t = threshold(y, outputs, P.target_sensitivity)
    a = b = float("nan")
    if len(np.unique(y)) == 2:
        a, b = calibration.platt(y, malignancy_score(outputs))
    return Point(t, source, a, b)


def at(y, outputs, t: float) -> dict:
    """Sensitivity, specificity, missed cancers and false alarms of the decision ``score >= t``."""
    y = np.asarray(y, dtype=int)
    pred = malignancy_score(outputs) >= t
    tp, fn = int(np.sum(pred & (y == 1))), int(np.sum(~pred & (y == 1)))
    tn, fp = int(np.sum(~pred & (y == 0))), int(np.sum(pred & (y == 0)))
    return {"op_sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "op_specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "op_missed": fn, "op_false_alarms": fp}


def fields(y_test, out_test, point: Point | None) -> dict:
    """The operating point's columns of one results row (:data:`COLUMNS`): the threshold, its source and rule,
    the test part's numbers at it, and the Platt map. ``point`` None (a run without a target sensitivity, or a
    model without an operating point): no columns."""
    if point is None:
        return {}
    return {"op_threshold": float(point.threshold), "op_source": point.source, "op_rule": point.rule,
            **at(y_test, out_test, point.threshold), "cal_a": float(point.cal_a), "cal_b": float(point.cal_b)}


def point_of(row) -> Point | None:
    """The operating point a results row (a dict or a Series) carries, as a model with the same outputs inherits
    it (source ``inherited``); None where the row has none."""
    t = row.get("op_threshold", np.nan)
    if t is None or pd.isna(t):
        return None
    a, b = (float(v) if v is not None and not pd.isna(v) else float("nan")
            for v in (row.get("cal_a"), row.get("cal_b")))
    rule = row.get("op_rule")
    return Point(float(t), "inherited", a, b, rule if isinstance(rule, str) else RULE)


def oof_fold(P, ds, s, y_train) -> np.ndarray:
    """Out-of-fold part of each training row of split ``s`` (:func:`oof_folds` with the run's ``oof_folds`` and
    the split's seed, grouped by sample ID where the data have IDs): the folds every model's out-of-fold copies
    share."""
    groups = None if ds.groups is None else np.asarray(ds.groups)[s.train]
    return oof_folds(y_train, groups, P.oof_folds, s.seed)


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
    """{(fold, model): :class:`Point`} of results rows (a DataFrame) that carry an operating point, as inherited
    (:func:`point_of`): what a float TFLite conversion takes from its Keras source (same outputs to float
    rounding)."""
    if "op_threshold" not in rows:
        return {}
    have = rows[rows["op_threshold"].notna()]
    return {(r["fold"], r["model"]): point_of(r) for r in have.to_dict("records")}


def check(rows, target: bool) -> None:
    """Raise ValueError, naming the first offending row, unless results rows (a DataFrame) carry operating points
    as this module says: with a ``target`` sensitivity every row of a model outside :data:`WITHOUT` has a
    threshold, a source of :data:`SOURCES`, the rule :data:`RULE` and a finite ``cal_a`` and ``cal_b``, and no row
    of :data:`WITHOUT` has a threshold; without a target no row has one."""
    has = rows["op_threshold"].notna() if "op_threshold" in rows else pd.Series(False, index=rows.index)
    want = ~rows["model"].isin(WITHOUT) & target
    name = lambda r: f"{r['model']} ({r['format']}, split {r['fold']})"  # noqa: E731
    for i in rows.index[has != want]:
        r = rows.loc[i]
        raise ValueError(f"{name(r)}: " + ("no operating point" if want[i] else
                                           "an operating point, where " + ("the model has none (WITHOUT)" if target
                                                                           else "the run has no target sensitivity")))
    for i in rows.index[has]:
        r = rows.loc[i]
        if r.get("op_source") not in SOURCES or r.get("op_rule") != RULE:
            raise ValueError(f"{name(r)}: op_source {r.get('op_source')!r} / op_rule {r.get('op_rule')!r}; expected "
                             f"one of {SOURCES} and {RULE!r}")
        if not all(np.isfinite(float(r.get(c, np.nan))) for c in ("cal_a", "cal_b")):
            raise ValueError(f"{name(r)}: an operating point without its calibration (cal_a, cal_b)")


def pool(g) -> dict:
    """Pooled counts of results rows ``g`` (one model, several splits) at 0.5 and at the operating point: the
    cancers and normal rows, missed cancers and false alarms at both, the thresholds' range and their source.
    Rows that average training seeds (:func:`lib.replicate.stability.seed_mean`) hold mean counts: their sums are
    rounded to the nearest whole patient."""
    def n(x) -> int:
        return int(round(float(x.sum())))
    return {"splits": len(g), "source": "/".join(sorted(set(g["op_source"]))),
            "threshold_min": float(g["op_threshold"].min()), "threshold_median": float(g["op_threshold"].median()),
            "threshold_max": float(g["op_threshold"].max()),
            "cancers": n(g["tp"] + g["fn"]), "normals": n(g["tn"] + g["fp"]),
            "missed_05": n(g["fn"]), "missed_op": n(g["op_missed"]),
            "false_alarms_05": n(g["fp"]), "false_alarms_op": n(g["op_false_alarms"])}


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
