"""The cross-dataset question's data and tables, without TensorFlow: WDBC and BCD as the authors used them, the
aligned features of each method, the logistic-regression baseline, and the columns and summary of 03b's outputs
(``transfer.csv``, ``transfer_summary.csv``, ``sign_flips.csv``). Notebook 08 reads them through this module."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from lib.core import metrics, paths, stats
from lib.data import datasets
from lib.transfer import alignment
from lib.transfer.transfer_params import FEATURES, TransferParams


CNN_MODELS = ("TM", "SM_scratch", "SM")


MODELS = (*CNN_MODELS, "LR")


PARTS = ("wdbc_train", "wdbc_holdout", "target")


METRIC_COLUMNS = ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc", "brier")


SUMMARY_METRICS = ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc")


TRANSFER_COLUMNS = ("run", "features", "k", "seed", "model", "part", "n", *METRIC_COLUMNS, "tp", "fp", "tn", "fn")


SUMMARY_COLUMNS = ("run", "features", "k", "model", "part", "metric", "mean", "sd", "ci_low", "ci_high", "n",
                   "majority", "authors_low", "authors_high")


FLIP_COLUMNS = ("run", "features", "k", "seed", "model", "pattern", "accuracy", "sensitivity", "specificity",
                "solver", "convention", "matches_wdbc")


SIGN_FLIP_K = 6  # the paper's reported setting


LR_K_VALUES = tuple(range(1, 10))  # logistic regression on the signed scores: k = 1 allowed


LR_RANDOM_STATE = 0


@dataclass
class Data:
    W: np.ndarray  # source features (569 x 30)
    y_source: np.ndarray
    B: np.ndarray  # target features (683 x 9, complete rows)
    y_target: np.ndarray
    source_features: list
    target_features: list


def load_data(TP: TransferParams) -> Data:
    """WDBC (the run's ``data_path`` if any) and the 683 complete rows of BCD, as the authors used them."""
    w = datasets.load_wdbc(TP.params.resolved_data_path())
    b = datasets.load_bcd(dropna=True)
    return Data(w.X.to_numpy(float), w.y, b.X.to_numpy(float), b.y, w.feature_names, b.feature_names)


def features(method: str, D: Data, k: int, train_idx, holdout_idx, sign_convention: str = "v"):
    """(X_wdbc_train, X_wdbc_holdout, X_target) of a feature method; no target label is ever passed."""
    if method == "authors":
        return alignment.authors_features(D.W, D.B, k, train_idx, holdout_idx, sign_convention=sign_convention)
    if method == "signed":
        return alignment.signed_features(D.W, D.B, k, train_idx, holdout_idx)
    raise ValueError(f"unknown feature method {method!r}; expected one of {', '.join(FEATURES)}")


# ============================================================================================== metrics


def metric_row(y, outputs) -> dict:
    m = metrics.classify(y, outputs)
    row = {"n": m["n_test"], **{k: m[k] for k in ("accuracy", "sensitivity", "specificity")}}
    row["balanced_accuracy"] = (m["sensitivity"] + m["specificity"]) / 2
    row.update({k: m[k] for k in ("roc_auc", "brier", "tp", "fp", "tn", "fn")})
    return row


def sign_patterns(k: int) -> np.ndarray:
    """All 2^k sign patterns (+1 / -1) of k components, shape (2^k, k); row 0 is all +1."""
    return np.array(list(itertools.product((1.0, -1.0), repeat=k)))


def pattern_string(signs) -> str:
    return "".join("+" if s > 0 else "-" for s in signs)


def output_paths(run: str) -> dict[str, Path]:
    d = paths.run_dir(run)
    return {"transfer": d / "transfer.csv", "summary": d / "transfer_summary.csv", "sign_flips": d / "sign_flips.csv"}


def logistic_rows(TP: TransferParams, D: Data, k_values=LR_K_VALUES) -> list[dict]:
    """A transparent label-free baseline: scikit-learn's LogisticRegression (default C, fixed random_state) on
    the signed scores, same seeds and splits as the CNNs, for every k (k = 1 is PC1, "overall abnormality")."""
    rows = []
    for k in k_values:
        for s in TP.seed_list:
            tr, ho = alignment.authors_split(D.y_source, seed=s, test_size=TP.holdout_size)
            Xtr, Xho, Xt = (x[..., 0] for x in features("signed", D, k, tr, ho))
            lr = LogisticRegression(random_state=LR_RANDOM_STATE).fit(Xtr, D.y_source[tr])
            for part, X, y in (("wdbc_train", Xtr, D.y_source[tr]), ("wdbc_holdout", Xho, D.y_source[ho]),
                               ("target", Xt, D.y_target)):
                rows.append({"run": TP.run, "features": "signed", "k": k, "seed": s, "model": "LR", "part": part,
                             **metric_row(y, lr.predict_proba(X))})
    return rows


def majority_metrics(y_target) -> dict:
    """Each summary metric of the majority-class rule on the target (BCD: always 'benign': accuracy 0.650,
    sensitivity 0, specificity 1, balanced accuracy 0.5, ROC AUC 0.5)."""
    y = np.asarray(y_target, dtype=int)
    majority_class = int(np.mean(y) > 0.5)
    m = metric_row(y, np.full(len(y), float(majority_class)))
    return {k: m[k] for k in SUMMARY_METRICS}


def summarize(df: pd.DataFrame, y_target) -> pd.DataFrame:
    """One row per (features, k, model, part, metric): mean, SD, 95% t-interval over seeds, n seeds, the
    majority-class rule's value of the metric on the target (NaN for the WDBC parts) and, for the authors' SM
    target accuracy, the authors' z / n = 13 interval (:func:`lib.transfer.alignment.authors_ci`)."""
    maj = majority_metrics(y_target)
    rows = []
    keys = ["features", "k", "model", "part"]
    order = df.assign(_f=df.features.map(FEATURES.index), _m=df.model.map(MODELS.index),
                      _p=df.part.map(PARTS.index)).sort_values(["_f", "k", "_m", "_p", "seed"], kind="stable")
    for (f, k, m, part), g in order.groupby(keys, sort=False):
        for metric in SUMMARY_METRICS:
            v = g[metric].to_numpy(float)
            mean, lo, hi = stats.t_interval(v)
            ok = v[~np.isnan(v)]
            a_lo = a_hi = np.nan
            if (f, m, part, metric) == ("authors", "SM", "target", "accuracy") and len(ok) > 1:
                _, a_lo, a_hi = alignment.authors_ci(ok)
            rows.append({"run": g.run.iloc[0], "features": f, "k": int(k), "model": m, "part": part,
                         "metric": metric, "mean": mean, "sd": float(ok.std(ddof=1)) if len(ok) > 1 else np.nan,
                         "ci_low": lo, "ci_high": hi, "n": int(len(ok)),
                         "majority": maj[metric] if part == "target" else np.nan,
                         "authors_low": a_lo, "authors_high": a_hi})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def read_outputs(run: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(transfer, summary, sign_flips) as written by :func:`experiment`."""
    out = {k: p for k, p in output_paths(run).items()}
    missing = [str(p) for p in out.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: run notebooks/03b_cross_dataset.ipynb for run "
                                f"'{run}' first (make outputs/{run}/03b_cross_dataset.ipynb)")
    return tuple(pd.read_csv(out[k]) for k in ("transfer", "summary", "sign_flips"))
