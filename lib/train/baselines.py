"""The simple baselines of notebook 03: a penalised logistic regression (``LR``) and a random forest (``RF``) on the
same splits and the same preprocessing as the CNNs (the fitted ``lib.data.preprocess`` transform of each split),
each tuned on the inner validation part with as many cells as it needs, class-weighted where the run is
(``class_weight``), with their operating point from out-of-fold predictions of the training part
(:mod:`lib.core.operating`). Rows are models of the results contract with format ``sklearn``.

If a 518-parameter CNN does not beat a logistic regression with 27 coefficients (wdbc), distillation is not what
a clinic needs; notebook 03 shows them side by side.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from lib.core import metrics, operating, results

NAMES = ("LR", "RF")
GRIDS = {
    "LR": [{"C": c} for c in (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)],
    "RF": [{"min_samples_leaf": leaf, "max_features": mf} for leaf in (1, 3, 10) for mf in ("sqrt", 0.5)],
}
RF_TREES = 200


def make(name: str, cfg: dict, seed: int, balanced: bool):
    cw = "balanced" if balanced else None
    if name == "LR":
        return LogisticRegression(C=cfg["C"], class_weight=cw, max_iter=10_000)
    if name == "RF":
        return RandomForestClassifier(n_estimators=RF_TREES, class_weight=cw, random_state=seed, n_jobs=1, **cfg)
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(NAMES)}")


def outputs(model, X) -> np.ndarray:
    """(n, 2) (P(benign), P(malignant)), the shape every metric of the study takes."""
    p = model.predict_proba(_flat(X))[:, list(model.classes_).index(1)]
    return np.c_[1 - p, p]


def _flat(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return X.reshape(len(X), -1)


def n_params(model) -> int:
    if isinstance(model, LogisticRegression):
        return int(model.coef_.size + model.intercept_.size)
    return int(sum(t.tree_.node_count for t in model.estimators_))  # nodes of the forest


def _score(y, out, balanced: bool) -> dict:
    m = metrics.classify(y, out)
    return {"accuracy": m["balanced_accuracy"] if balanced else m["accuracy"],
            "bce": float(np.mean(-np.log(np.clip(np.where(np.asarray(y) == 1, out[:, 1], out[:, 0]), 1e-7, 1))))}


def fit(P, name: str, prep, seed: int):
    """(model fitted on the training rows with the cell chosen on the validation part, the chosen cell)."""
    balanced = P.class_weight is not None
    scored = []
    for k, cfg in enumerate(GRIDS[name]):
        model = make(name, cfg, seed, balanced).fit(_flat(prep.X_train), prep.y_train)
        scored.append({"cell": k, **_score(prep.y_val, outputs(model, prep.X_val), balanced), "model": model})
    best = sorted(scored, key=lambda r: (-r["accuracy"], r["bce"], r["cell"]))[0]
    return best["model"], GRIDS[name][best["cell"]]


def oof(P, name: str, cfg: dict, prep, fold: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold outputs of the training rows: the chosen cell refit without each fold."""
    out = np.zeros((len(prep.y_train), 2))
    X = _flat(prep.X_train)
    for j in np.unique(fold):
        model = make(name, cfg, seed, P.class_weight is not None).fit(X[fold != j], prep.y_train[fold != j])
        out[fold == j] = outputs(model, X[fold == j])
    return out


def rows_of_split(P, s, prep, fold: np.ndarray | None) -> tuple[list[dict], dict]:
    """Contract rows of LR and RF on split ``s`` and their malignancy scores on its test rows (``{name:
    scores}``, for ``predictions.csv``). ``fold``: the out-of-fold assignment of the training rows that sets each
    one's operating point (:func:`lib.core.operating.fit` on :func:`oof`), None without one."""
    rows, scores = [], {}
    for name in NAMES:
        t0 = time.perf_counter()
        model, cfg = fit(P, name, prep, s.seed)
        out = outputs(model, prep.X_test)
        m = metrics.classify(prep.y_test, out)
        if fold is not None:
            m.update(operating.fields(prep.y_test, out, operating.fit(P, prep.y_train,
                                                                      oof(P, name, cfg, prep, fold, s.seed))))
        rows.append(results.row(P, s, name, "sklearn", m, params=n_params(model),
                                train_accuracy=metrics.classify(prep.y_train, outputs(model, prep.X_train))["accuracy"],
                                train_time_s=round(time.perf_counter() - t0, 2),
                                baseline_config=" ".join(f"{k}={v}" for k, v in cfg.items())))
        scores[name] = metrics.malignancy_score(out)
    return rows, scores
