"""Rules for the cross-dataset question that use no WDBC data at all (notebook 08): what a model trained on WDBC
must beat on BCD to count as transferring.

The signed-PCA features of BCD (:class:`lib.transfer.alignment.SignedPCA`) are fitted and standardised on all BCD
rows, with each component pointed towards "more abnormal" by its loadings. That alone may separate the classes:
a model trained on WDBC then only "transfers" if it beats what BCD's own feature distribution gives without any
WDBC row. Two such target-only rules, both label-free:

- ``pc1_sign``: malignant iff the standardised signed PC1 of BCD is > 0;
- ``two_means``: 2-means clustering of that PC1 (scikit-learn's KMeans), the cluster with the larger mean called
  malignant.

Both are scored on every complete BCD row, and again on BCD resampled to a lower prevalence of malignant rows
(all benign rows kept, malignant rows drawn without replacement), since a rule that splits at the centre of the
data depends on the class mix.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from lib.core import stats
from lib.transfer import alignment, transfer_data
from lib.transfer.alignment import SignedPCA

RULES = ("pc1_sign", "two_means")


def pc1(X) -> np.ndarray:
    """Standardised signed PC1 of the rows given (fit on those rows)."""
    return SignedPCA(1).fit(X).transform(X)[:, 0]


def predict(rule: str, X, seed: int = 0) -> np.ndarray:
    """0/1 predictions of a target-only rule on rows ``X`` (it is fitted on those rows, without labels)."""
    z = pc1(X)
    if rule == "pc1_sign":
        return (z > 0).astype(int)
    if rule == "two_means":
        km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(z.reshape(-1, 1))
        hi = int(np.argmax(km.cluster_centers_.ravel()))
        return (km.labels_ == hi).astype(int)
    raise ValueError(f"unknown target-only rule {rule!r}; known: {RULES}")


def score(y, pred) -> dict:
    y, pred = np.asarray(y).ravel().astype(int), np.asarray(pred).ravel().astype(int)
    n, k = len(y), int((y == pred).sum())
    _, lo, hi = stats.wilson(k, n)
    pos, neg = y == 1, y == 0
    return {"accuracy": k / n, "accuracy_low": lo, "accuracy_high": hi, "n_rows": n,
            "sensitivity": float((pred[pos] == 1).mean()) if pos.any() else float("nan"),
            "specificity": float((pred[neg] == 0).mean()) if neg.any() else float("nan"),
            "prevalence": float(pos.mean())}


def resample(y, prevalence: float, seed: int) -> np.ndarray:
    """Row indices with every benign row and malignant rows drawn (without replacement) to ``prevalence``."""
    y = np.asarray(y).ravel()
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    want = int(round(prevalence * len(neg) / (1 - prevalence)))
    if want > len(pos):
        raise ValueError(f"prevalence {prevalence} needs {want} malignant rows, only {len(pos)} exist")
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([neg, rng.choice(pos, size=want, replace=False)]))


def table(X, y, prevalences=(None, 0.10, 0.05), seeds=range(10)) -> pd.DataFrame:
    """Every rule on every prevalence: ``None`` = the data as they are; otherwise the mean over ``seeds``
    resamplings (the rule refitted on each, as it would be at a site with that case mix) with the range."""
    X, y = np.asarray(X, dtype=float), np.asarray(y).ravel().astype(int)
    rows = []
    for rule in RULES:
        for prev in prevalences:
            if prev is None:
                rows.append({"rule": rule, "prevalence_target": "as is", "resamples": 0, **score(y, predict(rule, X))})
                continue
            got = []
            for s in seeds:
                idx = resample(y, prev, s)
                got.append(score(y[idx], predict(rule, X[idx], s)))
            g = pd.DataFrame(got)
            rows.append({"rule": rule, "prevalence_target": f"{prev:g}", "resamples": len(got),
                         "accuracy": g["accuracy"].mean(), "accuracy_low": g["accuracy"].min(),
                         "accuracy_high": g["accuracy"].max(), "n_rows": int(g["n_rows"].iloc[0]),
                         "sensitivity": g["sensitivity"].mean(), "specificity": g["specificity"].mean(),
                         "prevalence": g["prevalence"].mean()})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ the WDBC cell
def configuration_predictions(TP, cell: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the 0/1 predictions on every target row of the pre-specified WDBC-trained cell (signed features,
    logistic regression: ``lib.transfer.transfer_data.logistic_rows``'s fit, same seeds, splits and random state), and the target
    labels. Notebook 03b keeps only their summary; the paired comparison with a target-only rule needs the rows."""
    if (cell["features"], cell["model"]) != ("signed", "LR"):
        raise ValueError(f"only the signed-features LR cell can be recomputed here, not {cell}")
    D = transfer_data.load_data(TP)
    preds = []
    for s in TP.seed_list:
        tr, ho = alignment.authors_split(D.y_source, seed=s, test_size=TP.holdout_size)
        Xtr, _, Xt = (x[..., 0] for x in transfer_data.features("signed", D, int(cell["k"]), tr, ho))
        lr = LogisticRegression(random_state=transfer_data.LR_RANDOM_STATE).fit(Xtr, D.y_source[tr])
        preds.append((lr.predict_proba(Xt)[:, 1] > 0.5).astype(int))
    return np.stack(preds), np.asarray(D.y_target).astype(int)


def paired(cell_pred: np.ndarray, X, y, alpha: float = 0.05, prevalences=(None, 0.10, 0.05), seeds=range(10)) -> pd.DataFrame:
    """The pre-specified cell against every target-only rule on the same rows, per seed of the cell: McNemar's
    exact test (b = rows only the cell gets right, c = rows only the rule gets right), on the target as it is and
    on the lower-prevalence resamples of :func:`table` (cell and rule scored on the same resampled rows; the rule
    refitted on them, the cell not: it never sees target rows)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y).ravel().astype(int)
    rows = []
    for rule in RULES:
        for prev in prevalences:
            samples = [(None, np.arange(len(y)))] if prev is None else [(s, resample(y, prev, s)) for s in seeds]
            for rs, idx in samples:
                rule_pred = predict(rule, X[idx], 0 if rs is None else rs)
                for k, cp in enumerate(cell_pred):
                    m = stats.mcnemar(cp[idx] == y[idx], rule_pred == y[idx])
                    rows.append({"rule": rule, "prevalence_target": "as is" if prev is None else f"{prev:g}",
                                 "resample": -1 if rs is None else rs, "cell_seed": k, "n_rows": len(idx),
                                 "cell_accuracy": m["accuracy_a"], "rule_accuracy": m["accuracy_b"],
                                 "difference": m["accuracy_a"] - m["accuracy_b"], "b": m["b"], "c": m["c"],
                                 "p_exact": m["p_exact"],
                                 "cell_better": bool(m["p_exact"] < alpha and m["b"] > m["c"]),
                                 "rule_better": bool(m["p_exact"] < alpha and m["c"] > m["b"])})
    return pd.DataFrame(rows)
