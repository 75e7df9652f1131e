"""lib.core.stats: every function against hand computations or a reference implementation."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from lib.core import stats

Z = st.norm.ppf(0.975)


# ------------------------------------------------------------------------------------------------ existing API
def test_existing_functions_unchanged():
    mean, lo, hi = stats.t_interval([1.0, 2.0, 3.0])
    half = st.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((2.0, 2 - half, 2 + half))
    d = stats.describe(pd.DataFrame({"m": ["a", "a", "b", "b"], "x": [1.0, 3.0, 2.0, 2.0]}), ["x"], by="m")
    assert list(d["mean"]) == [2.0, 2.0] and list(d["n"]) == [2, 2]
    p = stats.paired([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], n_train=80, n_test=20)
    assert p["mean_diff"] == 2.0 and p["corrected_p"] > p["naive_p"]


# ------------------------------------------------------------------------------------------------ wilson
def test_wilson_edges_by_hand():
    n = 20
    p, lo, hi = stats.wilson(0, n)
    assert (p, lo) == (0.0, 0.0) and hi == pytest.approx(Z ** 2 / (n + Z ** 2))
    p, lo, hi = stats.wilson(n, n)
    assert (p, hi) == (1.0, 1.0) and lo == pytest.approx(n / (n + Z ** 2))
    assert all(np.isnan(stats.wilson(0, 0)))
    with pytest.raises(ValueError):
        stats.wilson(5, 3)


@pytest.mark.parametrize("k, n, level", [(7, 20, 0.95), (31, 32, 0.95), (239, 683, 0.9)])
def test_wilson_matches_statsmodels(k, n, level):
    from statsmodels.stats.proportion import proportion_confint

    p, lo, hi = stats.wilson(k, n, level)
    assert p == k / n
    assert (lo, hi) == pytest.approx(proportion_confint(k, n, alpha=1 - level, method="wilson"), abs=1e-12)


# ------------------------------------------------------------------------------------------------ ranks
def _table(seed=0, n=10, k=4, ties=False):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, k)) + np.arange(k)[None, :] * 0.5
    if ties:
        v = np.round(v, 0)  # plenty of ties, like accuracies on small test folds
    return pd.DataFrame(v, columns=[f"M{i}" for i in range(k)], index=[f"r0f{i}" for i in range(n)])


@pytest.mark.parametrize("ties", [False, True])
def test_friedman_matches_scipy(ties):
    t = _table(ties=ties)
    ref = st.friedmanchisquare(*[t[c] for c in t.columns])
    out = stats.friedman(t)
    assert out["statistic"] == pytest.approx(ref.statistic) and out["p"] == pytest.approx(ref.pvalue)
    assert out["df"] == 3 and out["n_blocks"] == 10 and out["k"] == 4
    # Iman-Davenport from its formula
    N, k, c = 10, 4, ref.statistic
    assert out["iman_davenport_F"] == pytest.approx((N - 1) * c / (N * (k - 1) - c))


def test_friedman_ranks_best_is_one_and_missing_rows_dropped():
    t = pd.DataFrame({"A": [0.9, 0.8, 0.7, 0.9], "B": [0.8, 0.9, 0.6, np.nan], "C": [0.7, 0.7, 0.5, 0.1]})
    out = stats.friedman(t)
    assert out["n_blocks"] == 3  # the row with NaN is dropped
    # rows: A>B>C, B>A>C, A>B>C -> A: 1,2,1; B: 2,1,2; C: 3,3,3
    assert out["avg_ranks"].to_dict() == pytest.approx({"A": 4 / 3, "B": 5 / 3, "C": 3.0})
    assert list(out["avg_ranks"].index) == ["A", "B", "C"]  # best first
    tied = pd.DataFrame({"A": [1.0, 1.0], "B": [1.0, 0.0]})
    assert stats.average_ranks(tied).to_dict() == {"A": 1.25, "B": 1.75}


@pytest.mark.parametrize("k, q", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (10, 3.164)])
def test_critical_difference_matches_demsar_table(k, q):
    N = 10
    assert stats.critical_difference(k, N) == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * N)), abs=2e-3)


def test_nemenyi_two_models_is_normal_test_and_consistent_with_cd():
    t = _table(k=2, n=12)
    p = stats.nemenyi(t)
    R = t.rank(axis=1, ascending=False).mean()
    q = abs(R["M0"] - R["M1"]) / np.sqrt(2 * 3 / (6 * 12))
    assert p.loc["M0", "M1"] == pytest.approx(2 * st.norm.sf(q), rel=1e-6)
    t4 = _table(k=4, n=30, seed=3)
    p4 = stats.nemenyi(t4)
    assert np.allclose(p4.to_numpy(), p4.to_numpy().T) and (np.diag(p4) == 1).all()
    cd, R4 = p4.attrs["critical_difference"], p4.attrs["avg_ranks"]
    assert cd == pytest.approx(stats.friedman(t4)["critical_difference"])
    for a in t4.columns:
        for b in t4.columns:
            if a != b and abs(abs(R4[a] - R4[b]) - cd) > 1e-9:
                assert (p4.loc[a, b] < 0.05) == (abs(R4[a] - R4[b]) > cd)


# ------------------------------------------------------------------------------------------------ McNemar
def test_mcnemar_by_hand():
    # a right & b wrong: 1 row; a wrong & b right: 6 rows; both right: 10; both wrong: 3
    a = np.array([1] * 1 + [0] * 6 + [1] * 10 + [0] * 3, dtype=bool)
    b = np.array([0] * 1 + [1] * 6 + [1] * 10 + [0] * 3, dtype=bool)
    out = stats.mcnemar(a, b)
    assert (out["b"], out["c"], out["n"]) == (1, 6, 20)
    assert out["p_exact"] == pytest.approx(2 * (1 + 7) / 2 ** 7)  # 2 * P(X <= 1), X ~ Bin(7, 1/2) = 0.125
    assert out["chi2"] == pytest.approx(16 / 7)  # (|1 - 6| - 1)^2 / 7
    assert out["p_chi2"] == pytest.approx(st.chi2.sf(16 / 7, 1))
    assert (out["accuracy_a"], out["accuracy_b"]) == (11 / 20, 16 / 20)
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    ref = sm_mcnemar([[10, 1], [6, 3]], exact=True)
    assert out["p_exact"] == pytest.approx(ref.pvalue)


def test_mcnemar_identical_and_bad_input():
    a = np.array([True, False, True])
    out = stats.mcnemar(a, a)
    assert (out["b"], out["c"], out["p_exact"], out["p_chi2"]) == (0, 0, 1.0, 1.0)
    with pytest.raises(ValueError):
        stats.mcnemar(a, a[:2])


# ------------------------------------------------------------------------------------------------ ANOVA / mixed
def _long(n_folds=10, effects=(0.95, 0.96, 0.85), datasets=("wdbc",), seed=0, noise=0.01, interaction=None):
    rng = np.random.default_rng(seed)
    rows = []
    for ds in datasets:
        for f in range(n_folds):
            u = rng.normal(0, 0.02)  # split difficulty, shared by the models
            for m, e in zip(("TM", "SM", "SM_scratch"), effects):
                extra = interaction.get((ds, m), 0.0) if interaction else 0.0
                rows.append({"dataset": ds, "fold": f"r{f // 5}f{f % 5}", "model": m, "format": "keras",
                             "accuracy": e + extra + u + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_rm_anova_matches_hand_computation():
    df = _long()
    out = stats.rm_anova(df, "accuracy")
    wide = df.pivot(index="fold", columns="model", values="accuracy").to_numpy()
    n, k = wide.shape
    g = wide.mean()
    ss_model = n * ((wide.mean(axis=0) - g) ** 2).sum()
    ss_subj = k * ((wide.mean(axis=1) - g) ** 2).sum()
    ss_err = ((wide - g) ** 2).sum() - ss_model - ss_subj
    F = (ss_model / (k - 1)) / (ss_err / ((k - 1) * (n - 1)))
    row = out.loc["model"]
    assert row["F Value"] == pytest.approx(F) and row["Num DF"] == 2 and row["Den DF"] == 18
    assert row["Pr > F"] < 1e-8 and row["n_subjects"] == 10
    assert 1 / (k - 1) - 1e-12 <= row["epsilon"] <= 1 + 1e-12 and row["Pr > F (GG)"] >= row["Pr > F"]
    null = stats.rm_anova(_long(effects=(0.9, 0.9, 0.9), seed=1), "accuracy").loc["model"]
    assert null["Pr > F"] > 0.01


def test_rm_anova_refuses_duplicates_unbalanced_and_several_datasets():
    df = _long()
    with pytest.raises(ValueError, match="more than one row"):
        stats.rm_anova(pd.concat([df, df.assign(format="tflite")]), "accuracy")
    with pytest.raises(ValueError, match="unbalanced"):
        stats.rm_anova(df.iloc[1:], "accuracy")
    with pytest.raises(ValueError, match="one dataset"):
        stats.rm_anova(_long(datasets=("wdbc", "bcd")), "accuracy")


def test_gg_epsilon_bounds():
    rng = np.random.default_rng(0)
    assert stats._gg_epsilon(rng.normal(size=(10, 2))) == 1.0
    e = stats._gg_epsilon(rng.normal(size=(10, 4)) * [1, 1, 1, 10])
    assert 1 / 3 <= e < 1


def test_mixed_model_detects_model_effect_and_interaction():
    df = _long(datasets=("wdbc", "bcd", "pbcnt"), interaction={("pbcnt", "SM_scratch"): -0.3})
    out = stats.mixed_model(df, "accuracy")
    fe = out["fixed_effects"]
    assert {"coef", "se", "z", "p", "ci_low", "ci_high"} <= set(fe.columns)
    assert out["n_groups"] == 30 and out["n_obs"] == 90
    assert out["wald_model"]["df"] == 6 and out["wald_model"]["p"] < 1e-10
    assert out["wald_interaction"]["df"] == 4 and out["wald_interaction"]["p"] < 1e-10
    term = "C(model)[T.SM_scratch]:C(dataset)[T.pbcnt]"
    assert fe.loc[term, "coef"] == pytest.approx(-0.3, abs=0.03)


def test_mixed_model_null_and_refusals():
    df = _long(datasets=("wdbc", "bcd", "pbcnt"), effects=(0.9, 0.9, 0.9), seed=2)
    out = stats.mixed_model(df, "accuracy")
    assert out["wald_model"]["p"] > 0.001 and out["wald_interaction"]["p"] > 0.001
    with pytest.raises(ValueError, match="more than one row"):
        stats.mixed_model(pd.concat([df, df.assign(format="tflite")]), "accuracy")
    with pytest.raises(ValueError, match="two datasets"):
        stats.mixed_model(df[df.dataset == "wdbc"], "accuracy")


# ------------------------------------------------------------------------------------------------ calibration
def test_reliability_by_hand_with_ties():
    y = np.array([0, 0, 1, 0, 1, 1, 1, 0])
    s = np.array([0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.6])
    tab = stats.reliability(y, s, bins=4)
    # quartile edges of the sorted scores (.1 .1 .1 .1 .6 .9 .9 .9): .1, .1, .35, .9, .9 -> unique .1 .35 .9,
    # so two bins: the four tied 0.1s together, then {.6, .9, .9, .9}
    assert list(tab["count"]) == [4, 4] and list(tab["bin"]) == [0, 1]
    assert tab["mean_predicted"].tolist() == pytest.approx([0.1, (0.6 + 2.7) / 4])
    assert tab["observed_rate"].tolist() == [0.25, 0.75]
    assert (tab["low"].tolist(), tab["high"].tolist()) == ([0.1, 0.6], [0.1, 0.9])
    fine = stats.reliability(y, s, bins=8)  # edges .1 .35 .7125 .9: one bin per distinct score
    assert list(fine["count"]) == [4, 1, 3]
    const = stats.reliability(y, np.full(8, 0.5), bins=10)
    assert len(const) == 1 and const["observed_rate"].iloc[0] == 0.5
    even = stats.reliability(np.r_[np.zeros(50), np.ones(50)], np.linspace(0, 1, 100), bins=10)
    assert list(even["count"]) == [10] * 10


def test_brier_decomposition_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1, 1, 0])
    s = np.array([0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.6])
    out = stats.brier_decomposition(y, s, bins=8)
    from sklearn.metrics import brier_score_loss

    assert out["brier"] == pytest.approx(brier_score_loss(y, s))
    # bins: {0.1 x4: rate .25}, {0.6: rate 0}, {0.9 x3: rate 1}; base rate .5
    rel = (4 * (0.1 - 0.25) ** 2 + 1 * (0.6 - 0) ** 2 + 3 * (0.9 - 1) ** 2) / 8
    res = (4 * (0.25 - 0.5) ** 2 + 1 * (0 - 0.5) ** 2 + 3 * (1 - 0.5) ** 2) / 8
    assert out["reliability"] == pytest.approx(rel) and out["resolution"] == pytest.approx(res)
    assert out["uncertainty"] == 0.25 and out["n_bins"] == 3
    assert out["residual"] == pytest.approx(0.0, abs=1e-12)  # constant scores within bins: exact
    rng = np.random.default_rng(0)
    s2 = rng.uniform(size=500)
    y2 = (rng.uniform(size=500) < s2).astype(int)
    d2 = stats.brier_decomposition(y2, s2)
    assert d2["reliability"] - d2["resolution"] + d2["uncertainty"] + d2["residual"] == pytest.approx(d2["brier"])
    assert d2["reliability"] < 0.01  # calibrated by construction
    with pytest.raises(ValueError):
        stats.reliability([0, 1], [0.2, 1.3])


# ------------------------------------------------------------------------------------------------ inflation
def test_inflation_welch():
    paper = np.array([0.97, 0.95, 0.98, 0.96, 0.99, 0.94, 0.97, 0.98, 0.95, 0.96])
    rig = np.array([0.92, 0.93, 0.95, 0.90, 0.94, 0.93, 0.91, 0.96, 0.92, 0.93, 0.94, 0.90])
    out = stats.inflation(paper, rig)
    ref = st.ttest_ind(paper, rig, equal_var=False)
    assert out["diff"] == pytest.approx(paper.mean() - rig.mean())
    assert out["p"] == pytest.approx(ref.pvalue)
    se = np.sqrt(paper.var(ddof=1) / 10 + rig.var(ddof=1) / 12)
    half = st.t.ppf(0.975, out["df"]) * se
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((out["diff"] - half, out["diff"] + half))
    assert (out["n_paper"], out["n_rigorous"]) == (10, 12) and out["ci_low"] > 0
    assert np.isnan(stats.inflation([0.9], rig)["ci_low"])


def test_wilson_flip_counts_the_patients_that_decide_a_verdict_against_a_target():
    # wdbc TM at its operating point: 195 of 212 cancers found, upper bound 94.93% < 95%: below, and
    # one more detected cancer (196: upper bound 95.30%) makes it consistent
    assert stats.against_target(*stats.wilson(195, 212)[1:], 0.95) == "below"
    assert stats.wilson_flip(195, 212, 0.95) == (1, "consistent")
    assert stats.wilson_flip(196, 212, 0.95) == (1, "below")
    # far from the target: many patients
    d, v = stats.wilson_flip(150, 212, 0.95)
    assert v == "consistent" and d > 40 and stats.against_target(*stats.wilson(150 + d, 212)[1:], 0.95) == "consistent"
    assert stats.against_target(*stats.wilson(150 + d - 1, 212)[1:], 0.95) == "below"
