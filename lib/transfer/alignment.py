"""Cross-dataset transfer WDBC -> BCD (reference README, section 8): feature construction and the authors' interval.

The authors trained on WDBC (569 rows, 30 nuclear-morphometry features) and evaluated on all 683 complete rows of
BCD (9 cytology scores, 1-10). The two feature sets have nothing in common, so they "aligned" them with a
**separate** ``PCA(k)`` on each dataset, raw and unscaled, and fed PC j of BCD where the model had learnt PC j of
WDBC. That has two problems this module makes explicit:

1. **Signs.** A principal component is defined only up to sign: if v is an eigenvector of the covariance, so is
   -v. Which one a solver returns is a convention (scikit-learn < 1.5 made the largest-|score| row positive,
   ``svd_flip(u_based_decision=True)``; >= 1.5 makes the largest-|loading| feature positive). So whether BCD's
   PC j points "towards malignant" like WDBC's PC j is a coin flip per component, and the authors' transfer
   depended on k such coin flips (and on the scikit-learn version they happened to run).
2. **Order and meaning.** Even with signs fixed, PC j of one dataset need not correspond to PC j of the other:
   PC1 of both is roughly "overall abnormality" (every feature loads with the same sign), but later components
   are contrasts between unrelated measurements. Only PC1 has a defensible correspondence.

Also the scales: unscaled WDBC scores are dominated by the area features (SDs of PC1..PC6 ~ 666, 85, 27, 7, 6,
2) while BCD's are ~ 7, 2.3, 2.1, 1.8, 1.7, 1.6, so the authors' model sees every BCD row squeezed near WDBC's
centre (where WDBC is benign-ish): predictions near the all-benign 65.0% are what one should expect.

Pure functions (no training) return ``(X_wdbc_train, X_wdbc_holdout, X_bcd)``, float32 of shape (n, k, 1):

- :func:`authors_features`: exactly the authors' features;
- :func:`signed_features`: a label-free alternative (own scaler per dataset, PCA fit on WDBC training rows and on
  BCD, signs fixed by "loadings sum positive", unit-variance scores per dataset);
- :func:`authors_orientation`: the solver's sign of each of the authors' components relative to "loadings sum
  positive" (the starting point of the sign-flip analysis in :mod:`lib.transfer.experiment`);
- :func:`authors_split`, :func:`majority_baseline`, :func:`authors_ci`, :func:`interval_table`.

The training loop over seeds and k and the sign-flip analysis live in :mod:`lib.transfer.experiment`, the outputs' tables in
:mod:`lib.transfer.transfer_data`.

Data: ``lib.data.datasets.load_wdbc()`` (B/M -> 0/1) and ``lib.data.datasets.load_bcd(dropna=True)`` (2/4 -> 0/1; 683 rows,
444 benign = 65.0%, the accuracy of always answering "benign").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from lib.core import stats
from lib.data.preprocess import as_model_input as _model_input

AUTHORS_TEST_SIZE = 0.4  # the notebook's train_test_split (the xlsx says 0.3; the code says 0.4)
AUTHORS_CI_N = 13  # CONFIDENCE.NORM(0.05, SD, 13) for 10 runs
AUTHORS_K_RANGE = tuple(range(3, 10))  # PCA 3..9, 10 runs each; k = 6 was reported (best SM target accuracy)


def _as_float(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D feature table, got shape {X.shape}")
    if np.isnan(X).any():
        raise ValueError("the features hold missing values; load BCD with load_bcd(dropna=True) as the authors did")
    return X


def _check(wdbc_X, bcd_X, k, train_idx, holdout_idx):
    W, B = _as_float(wdbc_X), _as_float(bcd_X)
    if not 1 <= k <= min(W.shape[1], B.shape[1]):
        raise ValueError(f"k = {k}: need 1 <= k <= {min(W.shape[1], B.shape[1])} (BCD has {B.shape[1]} features)")
    tr, ho = np.asarray(train_idx, dtype=int), np.asarray(holdout_idx, dtype=int)
    if np.intersect1d(tr, ho).size:
        raise ValueError("train_idx and holdout_idx overlap")
    return W, B, tr, ho


def authors_split(y_wdbc, seed: int, test_size: float = AUTHORS_TEST_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, holdout_idx) of WDBC: the authors' stratified ``train_test_split(test_size=0.4)`` (341/228),
    seeded (they set none)."""
    idx = np.arange(len(y_wdbc))
    tr, ho = train_test_split(idx, test_size=test_size, stratify=np.asarray(y_wdbc), random_state=seed)
    return np.sort(tr), np.sort(ho)


# ------------------------------------------------------------------------------------------------ authors
def _orient(components: np.ndarray, fit_scores: np.ndarray, convention: str) -> np.ndarray:
    """Per-component signs (+1/-1) under a PCA solver's sign convention."""
    if convention == "v":  # scikit-learn >= 1.5: the largest-|loading| feature of each component is positive
        pick = components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)]
    elif convention == "u":  # scikit-learn < 1.5: the largest-|score| row (over the fit rows) is positive
        pick = fit_scores[np.argmax(np.abs(fit_scores), axis=0), np.arange(fit_scores.shape[1])]
    else:
        raise ValueError(f"sign convention must be 'v' (scikit-learn >= 1.5) or 'u' (< 1.5), got {convention!r}")
    return np.where(pick < 0, -1.0, 1.0)


def _authors_pca_scores(X: np.ndarray, k: int, convention: str) -> np.ndarray:
    pca = PCA(n_components=k, svd_solver="full").fit(X)
    scores = pca.transform(X)
    return scores * _orient(pca.components_, scores, convention)


def authors_orientation(X, k: int, sign_convention: str = "v") -> np.ndarray:
    """Signs (+1 / -1) of the authors' first ``k`` components of ``X`` (raw PCA on all rows, the solver's sign
    under ``sign_convention``) relative to the label-free orientation of :func:`orient_by_loadings`: +1 where the
    solver's component already has loadings summing positive (larger score = larger, i.e. more abnormal, feature
    values), -1 where it points the other way. Multiplying the authors' scores by this pattern gives the
    loadings-oriented scores; the sign-flip analysis enumerates every other pattern from there."""
    X = _as_float(X)
    pca = PCA(n_components=k, svd_solver="full").fit(X)
    scores = pca.transform(X)
    components = pca.components_ * _orient(pca.components_, scores, sign_convention)[:, None]
    return orient_by_loadings(components)


def authors_features(wdbc_X, bcd_X, k: int, train_idx, holdout_idx, sign_convention: str = "v"):
    """The authors' cross-dataset features: ``PCA(k).fit_transform`` on ALL rows of raw (unscaled) WDBC and,
    separately, on all rows of raw BCD; WDBC scores split into training and holdout rows afterwards.

    Their notebook also ran StandardScaler on both datasets, but those scaled outputs were computed and never
    used: the models saw the raw PCA scores, so no scaler is applied here either.

    ``sign_convention`` picks the PCA solver's arbitrary sign per component: ``"v"`` = scikit-learn >= 1.5 (the
    installed one; largest-|loading| positive), ``"u"`` = scikit-learn < 1.5 (largest-|score| row positive), which
    is what the authors most likely ran (their scikit-learn version is not recorded). For k = 6 the two differ
    on WDBC PCs 4-6 and BCD PCs 2-5: the authors' result is one draw of these signs.

    Returns ``(X_wdbc_train, X_wdbc_holdout, X_bcd)``, float32 arrays of shape (n, k, 1).
    """
    W, B, tr, ho = _check(wdbc_X, bcd_X, k, train_idx, holdout_idx)
    Zw = _authors_pca_scores(W, k, sign_convention)  # leakage as in the paper: holdout rows shape the PCA
    Zb = _authors_pca_scores(B, k, sign_convention)  # the target's own PCA, fit on the target
    return _model_input(Zw[tr]), _model_input(Zw[ho]), _model_input(Zb)


# ------------------------------------------------------------------------------------------------ signed
def orient_by_loadings(components: np.ndarray) -> np.ndarray:
    """Per-component signs that make each component's loadings sum to a positive number.

    In WDBC (size, shape and texture of nuclei) and in BCD (cytology scores, 1 = normal, 10 = most abnormal)
    larger feature values mean more abnormal cells, so after standardizing, "loadings sum positive" points each
    component towards "more abnormal" without looking at any label. It is decisive for PC1 (all loadings share a
    sign in both datasets); for contrast components the sum can be small, and when it is ~0 (|sum| < 1e-8 x the
    sum of |loadings|) the largest-|loading| feature is made positive instead. The result is the same whichever
    sign the solver returned, since -v gives the opposite sum.
    """
    C = np.asarray(components, dtype=float)
    s = C.sum(axis=1)
    tiny = np.abs(s) < 1e-8 * np.abs(C).sum(axis=1)
    fallback = C[np.arange(len(C)), np.argmax(np.abs(C), axis=1)]
    return np.where(np.where(tiny, fallback, s) < 0, -1.0, 1.0)


@dataclass
class SignedPCA:
    """Standardize -> PCA(k) -> sign by loadings -> unit variance, all fitted on the rows given to :meth:`fit`."""

    k: int
    scaler: StandardScaler | None = None
    components: np.ndarray | None = None  # (k, n_features), oriented
    mean: np.ndarray | None = None  # PCA centre, in standardized units (0 on the fit rows)
    scale: np.ndarray | None = None  # SD of each oriented score over the fit rows

    def fit(self, X) -> "SignedPCA":
        X = _as_float(X)
        self.scaler = StandardScaler().fit(X)
        Z = self.scaler.transform(X)
        pca = PCA(n_components=self.k, svd_solver="full").fit(Z)
        self.components = pca.components_ * orient_by_loadings(pca.components_)[:, None]
        self.mean = pca.mean_
        scores = (Z - self.mean) @ self.components.T
        sd = scores.std(axis=0, ddof=1)
        self.scale = np.where(sd > 0, sd, 1.0)
        return self

    def transform(self, X) -> np.ndarray:
        Z = self.scaler.transform(_as_float(X))
        return (Z - self.mean) @ self.components.T / self.scale


def signed_features(wdbc_X, bcd_X, k: int, train_idx, holdout_idx):
    """A label-free, leakage-free alternative to :func:`authors_features`.

    - WDBC: StandardScaler and PCA(k) fit on the WDBC **training rows only**; holdout rows are only transformed.
    - BCD: its own StandardScaler and PCA(k), fit on all BCD rows. This uses BCD's feature distribution (as any
      unsupervised domain adaptation does) but never a BCD label: the signature takes none.
    - Each component's sign is fixed by :func:`orient_by_loadings` (loadings sum positive = towards more abnormal
      cells in both datasets), so the result does not depend on the solver's arbitrary sign; scores are divided
      by their SD (WDBC: over the training rows; BCD: over BCD) so both datasets reach the model on unit scale.

    What it cannot fix: component *order and meaning* need not correspond across datasets. PC1 ("overall
    abnormality") plausibly does; PC2..PCk are unrelated contrasts, so k = 1 is the only choice with a clear
    rationale and larger k should be read as a sensitivity analysis. The reference CNNs need k >= 3 (two valid
    Conv1D layers of kernel 2), so k = 1 or 2 needs another model (e.g. logistic regression on the scores).

    Returns ``(X_wdbc_train, X_wdbc_holdout, X_bcd)``, float32 arrays of shape (n, k, 1).
    """
    W, B, tr, ho = _check(wdbc_X, bcd_X, k, train_idx, holdout_idx)
    w = SignedPCA(k).fit(W[tr])
    b = SignedPCA(k).fit(B)
    return _model_input(w.transform(W[tr])), _model_input(w.transform(W[ho])), _model_input(b.transform(B))


# ------------------------------------------------------------------------------------------------ summaries
def majority_baseline(y_target) -> float:
    """Accuracy of always predicting the target's majority class (BCD: 444 / 683 = 0.650 by answering benign).
    A transfer accuracy near it means the model learnt nothing usable about the target."""
    y = np.asarray(y_target).ravel()
    if len(y) == 0:
        return float("nan")
    return float(pd.Series(y).value_counts(normalize=True).iloc[0])


def authors_ci(values, n: int = AUTHORS_CI_N, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) as in the authors' xlsx: mean +- z * SD / sqrt(n) with Excel's
    ``CONFIDENCE.NORM(0.05, STDEV(values), 13)``: a normal quantile and n = 13 although there were 10 runs, so
    the interval is too narrow twice over (z instead of t with 9 df, sqrt(13) instead of sqrt(10))."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    half = st.norm.ppf(0.5 + level / 2) * sd / np.sqrt(n)
    return mean, mean - half, mean + half


def interval_table(values, level: float = 0.95) -> pd.DataFrame:
    """The authors' interval next to the honest t-interval over the actual number of runs (:func:`lib.core.stats.
    t_interval`): columns method, n, mean, low, high, half_width."""
    v = np.asarray(values, dtype=float)
    rows = []
    for method, (m, lo, hi), n in (("authors: z, n=13", authors_ci(v, level=level), AUTHORS_CI_N),
                                   ("t, n=runs", stats.t_interval(v, level), int(np.sum(~np.isnan(v))))):
        rows.append({"method": method, "n": n, "mean": m, "low": lo, "high": hi, "half_width": (hi - lo) / 2})
    return pd.DataFrame(rows)
