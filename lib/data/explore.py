"""Computations behind the data-exploration notebook (01)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from lib.data import preprocess


def class_balance(ds) -> pd.DataFrame:
    n = len(ds.y)
    counts = pd.Series(ds.y).value_counts().reindex([0, 1], fill_value=0)
    names = ds.labels
    return pd.DataFrame({"class": [f"0 {names[0]}", f"1 {names[1]}"], "n": counts.to_numpy(),
                         "share": np.round(counts.to_numpy() / n, 4)})


def missing_values(ds) -> pd.DataFrame:
    miss = ds.X.isna().sum()
    miss = miss[miss > 0]
    return pd.DataFrame({"feature": miss.index, "missing": miss.to_numpy(),
                         "rows_affected_share": np.round(miss.to_numpy() / len(ds.y), 4)})


def feature_summary(ds) -> pd.DataFrame:
    """Per feature: class means and SDs, missing count, standardized mean difference (Cohen's d)."""
    X, y = ds.X, ds.y
    g0, g1 = X[y == 0], X[y == 1]
    pooled = np.sqrt(((len(g0) - 1) * g0.var() + (len(g1) - 1) * g1.var()) / (len(g0) + len(g1) - 2))
    d = (g1.mean() - g0.mean()) / pooled.replace(0, np.nan)
    out = pd.DataFrame({"feature": X.columns, "mean_neg": g0.mean().to_numpy(), "sd_neg": g0.std().to_numpy(),
                        "mean_pos": g1.mean().to_numpy(), "sd_pos": g1.std().to_numpy(),
                        "missing": X.isna().sum().to_numpy(), "cohens_d": d.to_numpy()})
    out["abs_d"] = out["cohens_d"].abs()
    return out.sort_values("abs_d", ascending=False, kind="stable").reset_index(drop=True)


def pca_variance(params, ds, split) -> pd.DataFrame:
    """Explained-variance ratio of the PCA the protocol fits (paper: all rows, unscaled; rigorous: the first
    split's training rows after imputation and scaling), plus, for contrast, the other way."""
    X = ds.X.to_numpy(dtype=float)
    rows = []
    complete = ~np.isnan(X).any(axis=1)
    unscaled = PCA(svd_solver="full").fit(X[complete])
    scaled_pipe = preprocess.rigorous_pipeline(None).fit(X[split.train])
    scaled = PCA(svd_solver="full").fit(scaled_pipe.transform(X[split.train]))
    for name, pca in (("all rows, unscaled (paper)", unscaled), ("train rows, scaled (rigorous)", scaled)):
        r = pca.explained_variance_ratio_
        for k, v in enumerate(r, start=1):
            rows.append({"fit": name, "component": k, "explained": v, "cumulative": r[:k].sum()})
    return pd.DataFrame(rows)


def repeated_rows(ds) -> dict:
    """Rows that repeat a sample: sample IDs on more than one row (BCD: the folds keep each ID on one side,
    ``lib.data.splits``), and rows whose feature values equal another row's (expected for BCD's discrete 1-10 scores;
    reported, not grouped by)."""
    out = {"ids_on_several_rows": 0, "rows_of_those_ids": 0}
    if ds.groups is not None:
        counts = pd.Series(ds.groups).value_counts()
        out = {"ids_on_several_rows": int((counts > 1).sum()), "rows_of_those_ids": int(counts[counts > 1].sum())}
    out["rows_sharing_features_with_another"] = int(ds.X.duplicated(keep=False).sum())
    return out
