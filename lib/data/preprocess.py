"""Preprocessing per split, in the order each protocol prescribes.

- ``rigorous``: median imputer -> StandardScaler -> PCA(n) -> StandardScaler, a scikit-learn Pipeline fit on the
  split's ``train`` rows only; validation and test rows are only transformed.
- ``paper`` (the authors' order, leakage included): ``PCA(n).fit_transform`` on *all* rows, unscaled; then a
  StandardScaler fit on the training rows. (BCD's incomplete rows were already dropped by the loader.)

Inputs reach the 1-D CNNs as float32 arrays of shape (n, features, 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


@dataclass
class Prepared:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    transform: object  # fitted: raw feature rows (DataFrame/ndarray) -> model inputs (n, F, 1)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def rigorous_pipeline(pca_components) -> Pipeline:
    steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
    if pca_components:
        steps += [("pca", PCA(n_components=pca_components, svd_solver="full")), ("rescale", StandardScaler())]
    return Pipeline(steps)


class PaperTransform:
    """The authors' preprocessing: PCA fit on every row (given at construction), scaler fit on train."""

    def __init__(self, X_all: np.ndarray, pca_components):
        if np.isnan(X_all).any():
            raise ValueError("paper protocol: the data hold missing values; the authors dropped such rows")
        self.pca = PCA(n_components=pca_components, svd_solver="full").fit(X_all) if pca_components else None
        self.scaler = StandardScaler()

    def _project(self, X):
        X = np.asarray(X, dtype=float)
        return self.pca.transform(X) if self.pca is not None else X

    def fit(self, X_train):
        self.scaler.fit(self._project(X_train))
        return self

    def transform(self, X):
        return self.scaler.transform(self._project(X))


def as_model_input(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float32)[..., np.newaxis]


def prepare(params, ds, split) -> Prepared:
    """Fit the protocol's preprocessing on ``split.train`` and transform the three parts."""
    X = ds.X.to_numpy(dtype=float)
    if params.pca_components and params.pca_components > len(split.train):
        raise ValueError(f"run '{params.run}': pca_components = {params.pca_components} exceeds the "
                         f"{len(split.train)} training rows of split {split.id}; lower it or use fewer folds")
    if params.is_paper:
        tf = PaperTransform(X, params.pca_components).fit(X[split.train])
    else:
        tf = rigorous_pipeline(params.pca_components).fit(X[split.train])
    parts = {k: as_model_input(tf.transform(X[getattr(split, k)])) for k in ("train", "val", "test")}
    return Prepared(parts["train"], ds.y[split.train], parts["val"], ds.y[split.val], parts["test"],
                    ds.y[split.test], tf)
