"""Intervals and tests over splits (notebook 08 builds on these).

- :func:`t_interval`: mean and 95% t-interval over the per-split values (the naive interval: it treats the splits
  as independent, which overlapping training sets are not).
- :func:`paired`: the difference of two models on the same splits, with the naive paired t-test and the
  Nadeau & Bengio (2003) corrected resampled t-test, whose variance is inflated by (1/J + n_test/n_train) to
  account for the overlap of training sets across folds and repeats.
- :func:`wilson`: Wilson score interval of a pooled proportion (sensitivity / specificity counts).
- :func:`friedman`, :func:`nemenyi`, :func:`critical_difference`, :func:`average_ranks`: rank tests of many models
  over the splits (optimistic: CV folds are not independent blocks).
- :func:`mcnemar`: exact and continuity-corrected McNemar test of two models on the same test rows.
- :func:`rm_anova` (one dataset, splits as subjects) and :func:`mixed_model` (across datasets, random intercept
  per dataset:split): the model effect, and why the authors' AnovaRM design cannot test it.
- :func:`reliability`, :func:`brier_decomposition`: calibration of the malignancy score.
- :func:`inflation`: paper-protocol minus rigorous-protocol mean of a metric, with a Welch interval.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats as st
from statsmodels.stats.anova import AnovaRM


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of a t-interval; (mean, nan, nan) with fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return (float(v.mean()) if len(v) else float("nan"), float("nan"), float("nan"))
    half = st.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def describe(df: pd.DataFrame, metrics: list[str], by: str | None = None) -> pd.DataFrame:
    """Mean, SD, 95% t-interval and n of each metric (per ``by`` group if given)."""
    groups = df.groupby(by, sort=False) if by else [(None, df)]
    rows = []
    for key, g in groups:
        for m in metrics:
            mean, lo, hi = t_interval(g[m])
            rows.append({**({by: key} if by else {}), "metric": m, "mean": mean, "sd": float(g[m].std(ddof=1)),
                         "ci_low": lo, "ci_high": hi, "n": int(g[m].notna().sum())})
    return pd.DataFrame(rows)


def paired(a, b, n_train: int, n_test: int, level: float = 0.95) -> dict:
    """Compare models A and B on the same J splits (arrays in split order): mean of A - B, the naive paired
    t-test and the Nadeau-Bengio corrected one (CI and two-sided p-value), and a ``note``.

    Splits where either value is NaN are left out. The degenerate cases have no test, and say so in ``note``:
    fewer than 2 splits (everything NaN); a difference that is 0 on every split (p = 1, interval [0, 0]); a
    constant nonzero difference (no variance: p and intervals NaN, never 'p = 0')."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[~np.isnan(d)]
    J = len(d)
    nan = float("nan")
    out = {"mean_diff": float(d.mean()) if J else nan, "n_splits": J}
    keys = [f"{n}_{k}" for n in ("naive", "corrected") for k in ("ci_low", "ci_high", "p")]
    if J < 2:
        return {**out, **{k: nan for k in keys}, "note": "fewer than 2 splits: no test"}
    if np.allclose(d, d[0]):
        if d[0] == 0:
            return {**out, "mean_diff": 0.0, **{k: (1.0 if k.endswith("_p") else 0.0) for k in keys},
                    "note": "identical on every split"}
        return {**out, **{k: nan for k in keys},
                "note": f"constant difference {d[0]:+.4f} on every split: no variance, no test"}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    tcrit = st.t.ppf(0.5 + level / 2, J - 1)
    for name, var in (("naive", sd ** 2 / J), ("corrected", (1 / J + n_test / n_train) * sd ** 2)):
        se = float(np.sqrt(var))
        out.update({f"{name}_ci_low": mean - tcrit * se, f"{name}_ci_high": mean + tcrit * se,
                    f"{name}_p": float(2 * st.t.sf(abs(mean / se), J - 1))})
    out["note"] = ""
    return out


def holm(p) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok):
        order = ok[np.argsort(p[ok])]
        m = len(ok)
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[i]))
            out[i] = running
    return out


def sample_size(discordant: float, margin: float, alpha_one_sided: float, power: float,
                expected_difference: float = 0.0) -> int | None:
    """Patients (pairs) a paired non-inferiority test of a difference of proportions needs (Connor 1987, the
    normal approximation of McNemar's test): n = (z_(1-alpha) + z_power)^2 (p_disc - d^2) / (d + margin)^2, with
    p_disc the share of discordant pairs and d the expected difference (0: no true difference). None when there
    is no discordance to go on."""
    if not discordant > 0 or margin <= 0:
        return None
    z = st.norm.ppf(1 - alpha_one_sided) + st.norm.ppf(power)
    d = expected_difference
    return int(math.ceil(z ** 2 * (discordant - d ** 2) / (d + margin) ** 2))


def ppv_npv(sensitivity: float, specificity: float, prevalence: float) -> tuple[float, float]:
    """Positive and negative predictive values at ``prevalence`` (Bayes' rule on sensitivity and specificity)."""
    se, sp, pi = sensitivity, specificity, prevalence
    tp, fp, fn, tn = se * pi, (1 - sp) * (1 - pi), (1 - se) * pi, sp * (1 - pi)
    ppv = tp / (tp + fp) if tp + fp > 0 else float("nan")
    npv = tn / (tn + fn) if tn + fn > 0 else float("nan")
    return float(ppv), float(npv)


def corrected_bounds(d, n_train: int, n_test: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Nadeau-Bengio corrected interval of the mean of each row of ``d`` (candidates x splits), vectorised:
    what :func:`paired` computes for one row, for many at once (the same formula)."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    J = d.shape[1]
    mean, sd = d.mean(axis=1), d.std(axis=1, ddof=1)
    half = st.t.ppf(0.5 + level / 2, J - 1) * np.sqrt((1 / J + n_test / n_train)) * sd
    return mean - half, mean + half


def fragility(d, rows, n_train: int, n_test: int, gap, level: float = 0.95, cap: int = 200) -> int | None:
    """The fewest test rows whose change flips a verdict read from the corrected interval of the per-split
    differences ``d``: one row of split j moves its difference by ``1 / rows[j]`` either way (one patient more or
    less right for one of the two models). ``gap(low, high)`` is positive when the verdict holds and negative
    when it does not (vectorised over arrays of bounds). Greedy: each step takes the single move that brings the
    verdict nearest to flipping (in ``gap``); the count is exact for a shift of the mean and an upper bound
    otherwise. ``cap + 1`` when no ``cap`` rows flip it ("more than cap"); None with fewer than 2 splits."""
    d = np.asarray(d, dtype=float)
    step = 1.0 / np.asarray(rows, dtype=float)
    keep = ~np.isnan(d) & np.isfinite(step)
    d, step = d[keep], step[keep]
    J = len(d)
    if J < 2:
        return None
    holds = bool(gap(*corrected_bounds(d, n_train, n_test, level))[0] > 0)
    moves = np.vstack([np.diag(step), -np.diag(step)])  # (2J, J): one row more or less in one split
    for k in range(1, cap + 1):
        cand = np.clip(d[None, :] + moves, -1, 1)
        g = gap(*corrected_bounds(cand, n_train, n_test, level))
        if ((g > 0) != holds).any():
            return k
        best = int(np.argmin(g) if holds else np.argmax(g))
        d = cand[best]
    return cap + 1


# =============================================================================================================
# Added for notebook 08: proportions, rank tests over splits, paired per-sample tests, repeated-measures and
# mixed models, calibration, and the paper-vs-rigorous inflation of a headline number.
# =============================================================================================================
def _z(level: float) -> float:
    return float(st.norm.ppf(0.5 + level / 2))


def wilson(k, n, level: float = 0.95) -> tuple[float, float, float]:
    """Wilson score interval for a binomial proportion: ``(p, low, high)`` with ``p = k / n``.

    Use it for pooled counts, e.g. sensitivity = sum(tp) / sum(tp + fn) over the test folds of one repeat (each
    row is tested once per repeat, so those counts are of distinct patients). Unlike the Wald interval it stays
    inside [0, 1] and is not degenerate at k = 0 or k = n (low = 0 exactly when k = 0, high = 1 when k = n).
    ``(nan, nan, nan)`` when n = 0.
    """
    k, n = float(k), float(n)
    if n <= 0:
        return (float("nan"),) * 3
    if not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    z = _z(level)
    p = k / n
    denom = 1 + z ** 2 / n
    centre = (p + z ** 2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return float(p), float(low), float(high)


def against_target(low: float, high: float, target: float) -> str:
    """An interval against a target: ``above`` (its lower bound above), ``below`` (its upper bound below) or
    ``consistent`` (the target inside)."""
    return "above" if low > target else "below" if high < target else "consistent"


def wilson_flip(k: int, n: int, target: float, level: float = 0.95) -> tuple[int, str]:
    """How fragile :func:`against_target` of a Wilson interval is: the smallest number of patients ``d`` whose
    outcome would have to change (``k`` -> ``k +- d``) for the verdict to change, and the verdict it changes to
    (the nearer one first if both are as near). A ``d`` of 1 is a verdict decided by one patient."""
    k, n = int(k), int(n)
    now = against_target(*wilson(k, n, level)[1:], target)
    for d in range(1, n + 1):
        for kk in (k + d, k - d):
            if 0 <= kk <= n and (v := against_target(*wilson(kk, n, level)[1:], target)) != now:
                return d, v
    return n + 1, now


# ------------------------------------------------------------------------------------------------- ranks
def _complete_table(table: pd.DataFrame, what: str) -> pd.DataFrame:
    t = pd.DataFrame(table).astype(float)
    t = t.dropna(axis=0, how="any")
    if t.shape[1] < 2 or t.shape[0] < 2:
        raise ValueError(f"{what}: need at least 2 complete blocks (rows) and 2 models (columns), got {t.shape}")
    return t


def average_ranks(table: pd.DataFrame) -> pd.Series:
    """Mean rank of each column over the rows; rank 1 = the highest value in a row, ties share the average."""
    t = _complete_table(table, "average_ranks")
    return t.rank(axis=1, ascending=False, method="average").mean(axis=0)


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks (Demsar 2006): q_alpha * sqrt(k(k+1) / (6N)), where q_alpha
    is the studentized range quantile (k groups, infinite df) divided by sqrt(2) (1.960 for k=2, 2.343 for k=3)."""
    q_alpha = st.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q_alpha * np.sqrt(k * (k + 1) / (6 * n_blocks)))


def friedman(table: pd.DataFrame) -> dict:
    """Friedman test of k models over N blocks.

    ``table``: rows = splits (blocks), columns = models, values = one metric (higher = better). Rows with a
    missing value are dropped. Returns ``statistic`` (chi-square, with the usual tie correction, identical to
    ``scipy.stats.friedmanchisquare``), ``p``, ``df`` (k - 1), ``n_blocks``, ``k``, ``avg_ranks`` (a Series,
    rank 1 = best = highest value, sorted best first), the Iman-Davenport F version (``iman_davenport_F``,
    ``iman_davenport_p``; less conservative, recommended by Demsar 2006) and ``critical_difference`` (Nemenyi,
    alpha = 0.05).

    Caveat: the folds of a repeated k-fold CV share most of their training rows (and each repeat re-uses the
    same patients), so they are **not independent blocks**; these p-values are optimistic. Read them as a
    descriptive ranking with a rough yardstick, not as a test over independent replications.
    """
    t = _complete_table(table, "friedman")
    N, k = t.shape
    ranks = t.rank(axis=1, ascending=False, method="average")
    R = ranks.sum(axis=0).to_numpy()
    chi2 = 12.0 / (N * k * (k + 1)) * np.sum(R ** 2) - 3.0 * N * (k + 1)
    # tie correction (as in scipy): 1 - sum(t^3 - t) / (N k (k^2 - 1)) over the tie groups of each row
    ties = sum(((c ** 3 - c).sum() for c in (np.unique(r, return_counts=True)[1].astype(float)
                                              for r in ranks.to_numpy())), 0.0)
    corr = 1.0 - ties / (N * k * (k * k - 1))
    chi2 = chi2 / corr if corr > 0 else float("nan")
    p = float(st.chi2.sf(chi2, k - 1))
    denom = N * (k - 1) - chi2
    F = (N - 1) * chi2 / denom if denom > 0 else float("inf")
    pF = float(st.f.sf(F, k - 1, (k - 1) * (N - 1))) if np.isfinite(F) else 0.0
    avg = (ranks.mean(axis=0)).sort_values()
    return {"statistic": float(chi2), "p": p, "df": k - 1, "n_blocks": int(N), "k": int(k), "avg_ranks": avg,
            "iman_davenport_F": float(F), "iman_davenport_p": pF,
            "critical_difference": critical_difference(k, N, 0.05)}


def nemenyi(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Nemenyi post-hoc test after :func:`friedman`: a symmetric models x models DataFrame of two-sided p-values.

    For models i, j with average ranks R_i, R_j over N blocks, q = |R_i - R_j| / sqrt(k(k+1) / (6N)) and
    p = P(Q > q * sqrt(2)) with Q the studentized range of k groups and infinite df
    (``scipy.stats.studentized_range``); for k = 2 this is the two-sided normal p-value. The diagonal is 1.
    ``result.attrs`` holds ``critical_difference`` (at ``alpha``), ``avg_ranks`` (dict) and ``n_blocks``: two
    models differ at ``alpha`` exactly when their average ranks differ by more than the critical difference.

    Same caveat as :func:`friedman`: CV folds are not independent blocks, so these p-values are optimistic.
    """
    t = _complete_table(table, "nemenyi")
    N, k = t.shape
    R = t.rank(axis=1, ascending=False, method="average").mean(axis=0)
    se = np.sqrt(k * (k + 1) / (6.0 * N))
    q = np.abs(R.to_numpy()[:, None] - R.to_numpy()[None, :]) / se
    p = st.studentized_range.sf(q * np.sqrt(2), k, np.inf)
    p = np.clip(np.where(q == 0, 1.0, p), 0.0, 1.0)
    out = pd.DataFrame(p, index=t.columns, columns=t.columns)
    out.attrs.update({"critical_difference": critical_difference(k, N, alpha), "alpha": alpha,
                      "avg_ranks": R.to_dict(), "n_blocks": int(N)})
    return out


# ------------------------------------------------------------------------------------------------- McNemar
def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's test of two classifiers scored on the **same** test rows (per-sample correctness arrays).

    b = rows A gets right and B wrong, c = rows A gets wrong and B right. ``p_exact``: two-sided exact binomial
    test of b ~ Binomial(b + c, 1/2) (``scipy.stats.binomtest``); ``chi2``/``p_chi2``: the continuity-corrected
    statistic (|b - c| - 1)^2 / (b + c) on 1 df. With b + c = 0 both p-values are 1. Also returns n and both
    accuracies. It tests one fitted pair on one test set: it says nothing about the variance due to training.
    """
    a = np.asarray(correct_a, dtype=bool)
    b_ = np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape or a.ndim != 1:
        raise ValueError(f"mcnemar: need two 1-D arrays of the same length, got {a.shape} and {b_.shape}")
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    if b + c == 0:
        p_exact, chi2, p_chi2 = 1.0, 0.0, 1.0
    else:
        p_exact = float(st.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
        chi2 = float(max(abs(b - c) - 1, 0) ** 2 / (b + c))
        p_chi2 = float(st.chi2.sf(chi2, 1))
    return {"b": b, "c": c, "n": int(len(a)), "accuracy_a": float(a.mean()) if len(a) else float("nan"),
            "accuracy_b": float(b_.mean()) if len(a) else float("nan"), "p_exact": min(p_exact, 1.0),
            "chi2": chi2, "p_chi2": p_chi2}


def mcnemar_flip(b: int, c: int, alpha: float = 0.05, cap: int = 200) -> int:
    """How many rows decide "A better than B" by McNemar's exact test (p < ``alpha`` and b > c): the fewest
    rows whose change flips it. One changed row of A moves b up by one (a row both got wrong) or c down by one (a
    row only B got right), or the reverse to undo a verdict; each step takes the move that gets nearer. ``cap +
    1`` when ``cap`` rows do not flip it."""
    def better(b, c):
        return b > c and b + c > 0 and st.binomtest(b, b + c, 0.5).pvalue < alpha

    now = better(b, c)
    for k in range(1, cap + 1):
        # towards "better": as many of the k moves as possible take c down (each also shrinks b + c), the rest
        # raise b; away from it: the reverse
        options = [(b + k - j, c - j) for j in range(0, min(k, c) + 1)] if not now else \
                  [(b - j, c + k - j) for j in range(0, min(k, b) + 1)]
        if any(better(bb, cc) != now for bb, cc in options if bb >= 0 and cc >= 0):
            return k
    return cap + 1


# ------------------------------------------------------------------------------------------------- ANOVA / mixed
def _gg_epsilon(wide: np.ndarray) -> float:
    """Greenhouse-Geisser epsilon from a subjects x conditions array (1 = sphericity holds)."""
    k = wide.shape[1]
    if k < 3:
        return 1.0
    S = np.cov(wide, rowvar=False)
    C = np.eye(k) - np.ones((k, k)) / k
    Sc = C @ S @ C
    denom = (k - 1) * np.trace(Sc @ Sc)
    return float(np.trace(Sc) ** 2 / denom) if denom > 0 else 1.0


def rm_anova(df: pd.DataFrame, metric: str, subject: str = "fold", within: str = "model") -> pd.DataFrame:
    """One-way repeated-measures ANOVA of ``metric`` for ONE dataset: splits are the subjects, ``within`` (the
    model) the within-subject factor (statsmodels ``AnovaRM``).

    ``df`` must hold exactly one row per (subject, within) pair with no missing metric (filter one run and one
    ``format`` first); otherwise a ValueError says what is wrong. Returns AnovaRM's table (``F Value``,
    ``Num DF``, ``Den DF``, ``Pr > F``) plus the Greenhouse-Geisser ``epsilon`` and ``Pr > F (GG)`` (AnovaRM
    assumes sphericity, which model accuracies with very different variances rarely satisfy; when there are
    more models than splits the covariance is singular and epsilon is only a rough guide), and ``n_subjects``.

    Caveat: the splits of a repeated CV are not independent subjects (overlapping training sets), so the
    p-values are optimistic; prefer :func:`paired` (Nadeau-Bengio) for specific pairs.
    """
    if "dataset" in df.columns and df["dataset"].nunique() > 1:
        raise ValueError(f"rm_anova: one dataset at a time (got {sorted(df['dataset'].unique())}); "
                         f"use mixed_model for several")
    d = df[[subject, within, metric]].copy()
    dup = d.duplicated([subject, within])
    if dup.any():
        r = d[dup].iloc[0]
        raise ValueError(f"rm_anova: more than one row for {subject}={r[subject]!r}, {within}={r[within]!r} "
                         f"(filter one run and one format first)")
    wide = d.pivot(index=subject, columns=within, values=metric)
    if wide.isna().any().any():
        bad = wide.index[wide.isna().any(axis=1)].tolist()
        raise ValueError(f"rm_anova: unbalanced: {subject}(s) {bad[:5]} lack {metric} for some {within}; "
                         f"AnovaRM needs every {within} in every {subject}")
    res = AnovaRM(d, depvar=metric, subject=subject, within=[within]).fit()
    table = res.anova_table.copy()
    eps = _gg_epsilon(wide.to_numpy(dtype=float))
    table["epsilon"] = eps
    table["Pr > F (GG)"] = st.f.sf(table["F Value"], eps * table["Num DF"], eps * table["Den DF"])
    table["n_subjects"] = wide.shape[0]
    return table


def mixed_model(df: pd.DataFrame, metric: str) -> dict:
    """Linear mixed model of ``metric`` across datasets: ``metric ~ C(model) * C(dataset)`` with a random
    intercept per ``dataset:fold`` group (statsmodels ``MixedLM``, REML).

    ``df`` holds results rows of several datasets (one protocol, one format, one row per dataset x fold x model).
    The random intercept absorbs how hard each split is (all models share its training and test rows); the
    fixed effects estimate every model x dataset cell, with the splits as replicates.

    Returns ``fixed_effects`` (DataFrame: coef, se, z, p, ci_low, ci_high), ``wald_model`` (chi-square test that
    all terms involving the model, main effects and model x dataset interactions, are zero: "the models do not
    differ on any dataset"), ``wald_interaction`` (that the model differences are the same on every dataset),
    ``group_var`` (random-intercept variance), ``scale`` (residual variance), ``converged``, ``warnings``,
    ``n_groups``, ``n_obs`` and the statsmodels ``result``.

    Why not the authors' design (reference section 10: ``AnovaRM`` with the 3 datasets as *subjects* and one
    value per Dataset x Model x Oversampling x AccuracyType cell)? In a repeated-measures ANOVA the error term
    of a within factor is the subject x factor interaction. With one value per cell there is no replicate, so
    the Dataset x Model interaction *is* the error term of the model effect: a model that fails on one dataset
    only (SM_scratch on PBCNT) inflates the "error" instead of showing up as an interaction, which cannot be
    estimated or tested at all. It also treats three hand-picked datasets as a random sample of subjects (F on
    (3-1) x (3-1) = 4 error df for the model effect). Here the splits supply replicates inside each dataset, so
    the interaction is tested against split-to-split variation.

    Caveat: splits of a repeated CV share training rows, so the residual variance is underestimated (as in the
    naive t-test; see :func:`paired`) and the p-values are optimistic.
    """
    need = {"dataset", "fold", "model", metric}
    if not need <= set(df.columns):
        raise ValueError(f"mixed_model: missing column(s) {sorted(need - set(df.columns))}")
    d = df[["dataset", "fold", "model", metric]].dropna().copy()
    dup = d.duplicated(["dataset", "fold", "model"])
    if dup.any():
        r = d[dup].iloc[0]
        raise ValueError(f"mixed_model: more than one row for dataset={r['dataset']!r}, fold={r['fold']!r}, "
                         f"model={r['model']!r} (filter one protocol and one format first)")
    if d["dataset"].nunique() < 2 or d["model"].nunique() < 2:
        raise ValueError("mixed_model: need at least two datasets and two models")
    d = d.rename(columns={metric: "y"})
    d["group"] = d["dataset"].astype(str) + ":" + d["fold"].astype(str)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm("y ~ C(model) * C(dataset)", d, groups=d["group"])
        result = model.fit(reml=True)
    fe = result.fe_params
    cov = result.cov_params().loc[fe.index, fe.index]
    se = np.sqrt(np.diag(cov))
    zval = fe.to_numpy() / np.where(se > 0, se, np.nan)
    zc = _z(0.95)
    table = pd.DataFrame({"coef": fe.to_numpy(), "se": se, "z": zval, "p": 2 * st.norm.sf(np.abs(zval)),
                          "ci_low": fe.to_numpy() - zc * se, "ci_high": fe.to_numpy() + zc * se}, index=fe.index)

    def wald(names):
        names = list(names)
        if not names:
            return {"chi2": float("nan"), "df": 0, "p": float("nan"), "terms": []}
        b = fe.loc[names].to_numpy()
        V = cov.loc[names, names].to_numpy()
        stat = float(b @ np.linalg.pinv(V) @ b)
        rank = int(np.linalg.matrix_rank(V))
        return {"chi2": stat, "df": rank, "p": float(st.chi2.sf(stat, rank)), "terms": names}

    model_terms = [n for n in fe.index if "C(model)" in n]
    return {"fixed_effects": table, "wald_model": wald(model_terms),
            "wald_interaction": wald([n for n in model_terms if "C(dataset)" in n]),
            "group_var": float(np.asarray(result.cov_re).ravel()[0]), "scale": float(result.scale),
            "converged": bool(getattr(result, "converged", True)) and not any(
                "converge" in str(w.message).lower() for w in caught),
            "warnings": sorted({str(w.message) for w in caught}), "n_groups": int(d["group"].nunique()),
            "n_obs": int(len(d)), "result": result}


# ------------------------------------------------------------------------------------------------- calibration
def _quantile_bins(score: np.ndarray, bins: int) -> np.ndarray:
    """Bin index per score: quantile edges, duplicates merged, so tied scores always share a bin."""
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)))
    inner = edges[1:-1]
    idx = np.searchsorted(inner, score, side="right")
    return np.unique(idx, return_inverse=True)[1]  # renumber 0..m-1 (no empty bins)


def _check_scores(y, score):
    y = np.asarray(y, dtype=float).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape or len(y) == 0:
        raise ValueError(f"need y and score of the same non-zero length, got {y.shape} and {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must be 0/1")
    if np.isnan(s).any() or (s < 0).any() or (s > 1).any():
        raise ValueError("scores must be probabilities in [0, 1] (use lib.core.metrics.malignancy_score)")
    return y, s


def reliability(y, score, bins: int = 10) -> pd.DataFrame:
    """Reliability-diagram table: per quantile bin of the score, ``bin``, ``low``/``high`` (score range),
    ``mean_predicted``, ``observed_rate`` (fraction positive) and ``count``.

    Bins are score quantiles so each holds about n / bins rows; equal scores never straddle a bin edge, so with
    heavy ties (saturated sigmoid outputs at 0 or 1) fewer than ``bins`` bins come back.
    """
    y, s = _check_scores(y, score)
    idx = _quantile_bins(s, bins)
    g = pd.DataFrame({"bin": idx, "s": s, "y": y}).groupby("bin")
    return pd.DataFrame({"bin": g.size().index, "low": g["s"].min().to_numpy(), "high": g["s"].max().to_numpy(),
                         "mean_predicted": g["s"].mean().to_numpy(), "observed_rate": g["y"].mean().to_numpy(),
                         "count": g.size().to_numpy()}).reset_index(drop=True)


def brier_decomposition(y, score, bins: int = 10) -> dict:
    """Murphy's decomposition of the Brier score over the bins of :func:`reliability`:
    brier ~= reliability - resolution + uncertainty.

    ``reliability`` = sum_k n_k (mean score_k - rate_k)^2 / n (calibration error, lower is better);
    ``resolution`` = sum_k n_k (rate_k - base rate)^2 / n (how much the bins separate the classes, higher is
    better); ``uncertainty`` = base rate (1 - base rate). ``brier`` is the exact mean squared error and
    ``residual`` = brier - (reliability - resolution + uncertainty), the within-bin spread that binning ignores
    (0 when scores are constant within bins). Also ``n_bins``.
    """
    y, s = _check_scores(y, score)
    tab = reliability(y, s, bins)
    n = len(y)
    base = y.mean()
    w = tab["count"].to_numpy() / n
    rel = float(np.sum(w * (tab["mean_predicted"] - tab["observed_rate"]) ** 2))
    res = float(np.sum(w * (tab["observed_rate"] - base) ** 2))
    unc = float(base * (1 - base))
    brier = float(np.mean((s - y) ** 2))
    return {"reliability": rel, "resolution": res, "uncertainty": unc, "brier": brier,
            "residual": brier - (rel - res + unc), "n_bins": int(len(tab))}


# ------------------------------------------------------------------------------------------------- inflation
def inflation(paper_values, rigorous_values, level: float = 0.95) -> dict:
    """How much the paper protocol inflates a headline number: mean(paper) - mean(rigorous) with a Welch
    t-interval and p-value (the two runs use different splits and are treated as independent samples).

    Returns ``mean_paper``, ``mean_rigorous``, ``diff``, ``ci_low``, ``ci_high``, ``p``, ``df`` (Welch-
    Satterthwaite), ``se``, ``n_paper``, ``n_rigorous``. The values inside each run are not independent either
    (overlapping training sets), so the interval is on the narrow side; read it as a scale, not a verdict.
    """
    a = np.asarray(paper_values, dtype=float)
    b = np.asarray(rigorous_values, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    out = {"mean_paper": float(a.mean()) if len(a) else float("nan"),
           "mean_rigorous": float(b.mean()) if len(b) else float("nan"), "n_paper": int(len(a)),
           "n_rigorous": int(len(b))}
    out["diff"] = out["mean_paper"] - out["mean_rigorous"]
    if len(a) < 2 or len(b) < 2:
        return {**out, "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan"), "df": float("nan"),
                "se": float("nan")}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0:
        return {**out, "ci_low": out["diff"], "ci_high": out["diff"], "p": 1.0 if out["diff"] == 0 else 0.0,
                "df": float("nan"), "se": 0.0}
    df = float((va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)))
    half = st.t.ppf(0.5 + level / 2, df) * se
    p = float(2 * st.t.sf(abs(out["diff"]) / se, df))
    return {**out, "ci_low": out["diff"] - half, "ci_high": out["diff"] + half, "p": p, "df": df, "se": se}


def variance_components(values) -> dict:
    """Split and seed shares of the variance of a quantity measured on every split with every training seed:
    ``values`` is (splits x seeds), one column per seed. The one-way random-effects model y_ij = mu + a_i + e_ij
    (a_i: the split, e_ij: the seed within the split) estimated by the analysis of variance (method of moments,
    balanced data): the seed variance is the within-split mean square, the split variance
    (MS_between - MS_within) / seeds, floored at 0. Returns both variances, their shares of the sum and the
    intraclass correlation (the split share); NaN shares when there is no variance at all."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 2:
        raise ValueError(f"variance_components needs at least 2 splits x 2 seeds, got shape {v.shape}")
    if np.isnan(v).any():
        raise ValueError("variance_components: a split lacks a seed's value (NaN)")
    n_split, n_seed = v.shape
    ms_within = float(v.var(axis=1, ddof=1).mean())
    ms_between = float(n_seed * v.mean(axis=1).var(ddof=1))
    split_var = max(0.0, (ms_between - ms_within) / n_seed)
    total = split_var + ms_within
    share = (lambda x: x / total) if total > 0 else (lambda x: float("nan"))
    return {"split_var": split_var, "seed_var": ms_within, "split_share": share(split_var),
            "seed_share": share(ms_within), "splits": n_split, "seeds": n_seed,
            "ms_between": ms_between, "ms_within": ms_within}
