"""Classification metrics, written once for every model and format.

Models output the authors' pair of sigmoid probabilities (benign, malignant). The predicted class is the argmax
(as the authors did); the malignancy *score* used for ROC AUC and the Brier score is p1 / (p0 + p1), which
agrees with the argmax (score > 0.5 exactly when p1 > p0) and lies in [0, 1].
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, confusion_matrix, matthews_corrcoef, roc_auc_score

# In [0, 1]; ``mcc`` (Matthews correlation, in [-1, 1]) is the contract's one signed metric (SIGNED).
METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc", "brier")
SIGNED = ("mcc",)


def malignancy_score(outputs: np.ndarray) -> np.ndarray:
    """(n, 2) sigmoid pair -> P(malignant) in [0, 1]; an (n,) array is taken as that score already."""
    out = np.asarray(outputs, dtype=float)
    if out.ndim == 1:
        return out
    if out.ndim != 2 or out.shape[1] != 2:
        raise ValueError(f"expected model outputs of shape (n, 2) or (n,), got {out.shape}")
    total = out.sum(axis=1)
    return np.divide(out[:, 1], total, out=np.full(len(out), 0.5), where=total > 0)


def classify(y_true, outputs) -> dict:
    """All metrics of the results contract for one model on one test part (malignant = positive class)."""
    y = np.asarray(y_true, dtype=int)
    score = malignancy_score(outputs)
    pred = (score > 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()

    def ratio(a, b):
        return float(a / b) if b else float("nan")

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    specificity = ratio(tn, tn + fp)
    return {
        "n_test": int(len(y)),
        "accuracy": ratio(tp + tn, len(y)),
        # the mean of the two class recalls (scikit-learn's definition); with one class present, that recall
        "balanced_accuracy": float(np.nanmean([recall, specificity])) if len(y) else float("nan"),
        "mcc": float(matthews_corrcoef(y, pred)),
        "sensitivity": recall,
        "specificity": specificity,
        "precision": precision,
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan"),
        "brier": float(brier_score_loss(y, score)),
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
    }
