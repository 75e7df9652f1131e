"""lib.analysis.claims: verdicts of paired differences, the answers across runs, Pareto sets (lib.core.pareto) with latency ties, the
settings a student used, and the pre-specified decisions file; lib.transfer.target_only: rules that use no source data."""

import numpy as np
import pandas as pd
import pytest

from lib.core import decisions, pareto, paths, stats
from lib.transfer import target_only
from lib.analysis import claims


def _comp(run, a, b, diff, lo, hi, note="", metric="accuracy", n=10):
    return {"run": run, "metric": metric, "a": a, "b": b, "question": "", "mean_diff": diff, "n_splits": n,
            "naive_ci_low": diff - (diff - lo) / 2, "naive_ci_high": diff + (hi - diff) / 2, "naive_p": 0.01,
            "corrected_ci_low": lo, "corrected_ci_high": hi, "corrected_p": 0.2, "note": note}


@pytest.mark.parametrize("lo, hi, verdict", [
    (0.001, 0.03, "a_better"), (-0.03, -0.001, "b_better"), (-0.015, 0.019, "equivalent"),
    (-0.01, 0.04, "non_inferior"), (-0.04, 0.01, "not_superior"), (-0.05, 0.05, "inconclusive"),
    (float("nan"), float("nan"), "untested")])
def test_read_interval_every_verdict(lo, hi, verdict):
    assert claims.read_interval(lo, hi, 0.02) == verdict
    assert verdict in claims.VERDICTS


def test_difference_identical_constant_missing_and_normal():
    comp = pd.DataFrame([_comp("w", "SM", "TM", 0.0, 0.0, 0.0, "identical on every split"),
                         _comp("w", "SM", "SM_scratch", 0.01, float("nan"), float("nan"), "constant difference on every split"),
                         _comp("w", "SM_INT8", "TM", -0.004, -0.012, 0.004)])
    same = claims.difference(comp, "w", "SM", "TM", "accuracy", 0.02)
    assert same.verdict == "identical" and same.low == same.high == 0.0
    const = claims.difference(comp, "w", "SM", "SM_scratch", "accuracy", 0.02)
    assert const.verdict == "constant" and const.value == 0.01
    assert claims.difference(comp, "w", "SM_INT8", "TM", "accuracy", 0.02).verdict == "equivalent"
    assert claims.difference(comp, "w", "SM_INT8", "TM", "accuracy", 0.005).verdict == "not_superior"
    assert claims.difference(comp, "b", "SM", "TM", "accuracy", 0.02).verdict == "missing"


def _claim(run, verdict, lo=-0.01, hi=0.01, value=0.0, question="non_inferiority", family="exploratory", name="x"):
    c = claims.Claim(name, run, verdict, value=value, low=lo, high=hi, margin=0.02, n=10)
    return claims.judge(c, question, family)


def test_judge_words_each_question():
    ni = _claim("w", "non_inferior", -0.015, 0.03, 0.007)
    assert ni.answer == "shown" and ni.question == "non_inferiority" and ni.family == "exploratory"
    assert _claim("w", "not_superior", -0.04, 0.01).answer == "not_shown"
    assert _claim("w", "equivalent", -0.015, 0.019, question="equivalence").answer == "shown"
    assert _claim("w", "non_inferior", -0.015, 0.03, question="equivalence").answer == "not_shown"
    assert _claim("w", "a_better", 0.001, 0.03, 0.01, question="difference").answer == "detected"
    assert _claim("w", "inconclusive", -0.05, 0.05, question="difference").answer == "not_detected"
    assert _claim("w", "inconclusive", -0.05, 0.05, family="descriptive").answer == "descriptive"
    assert _claim("w", "missing", float("nan"), float("nan")).answer == "no_test"
    assert _claim("w", "identical", 0, 0, question="difference").answer == "not_detected"
    with pytest.raises(claims.ClaimsError, match="unknown question"):
        _claim("w", "equivalent", question="bigger")


def test_fragility_counts_the_rows_that_flip_an_answer():
    # ten splits of 100 test rows whose differences sit just above the margin: few rows flip it
    d = np.array([0.0, 0.01, -0.01, 0.0, 0.02, -0.02, 0.0, 0.01, -0.01, 0.0])
    near = claims.judge(claims.Claim("x", "w", "non_inferior", value=d.mean(), low=-0.0185, high=0.0185, margin=0.02, n=10),
                        "non_inferiority", "exploratory", split_diffs=d - 0.001, split_rows=[100] * 10,
                        n_train=400, n_test=100)
    far = claims.judge(claims.Claim("x", "w", "non_inferior", value=0.05, low=0.03, high=0.07, margin=0.02, n=10),
                       "non_inferiority", "exploratory", split_diffs=d + 0.05, split_rows=[100] * 10,
                       n_train=400, n_test=100)
    assert 1 <= near.fragility < far.fragility
    # moving the rows it names does flip it: the count is an upper bound that the greedy path reaches
    from lib.core import stats
    gap = lambda lo, hi: np.asarray(lo) + 0.02
    k = stats.fragility(d - 0.001, [100] * 10, 400, 100, gap)
    assert k == near.fragility
    assert stats.fragility(d, [100] * 10, 400, 100, gap, cap=1) in (1, 2)  # cap + 1 means "more than cap"


def test_primary_family_is_holm_adjusted_one_sided():
    # four non-inferiority claims; one-sided p from the interval, adjusted together
    cs = [claims.Claim(f"SM-TM:{m}", r, "non_inferior", value=v, low=lo, high=hi, margin=0.02, n=10)
          for r, m, v, lo, hi in (("wdbc", "accuracy", 0.03, 0.005, 0.055), ("bcd", "accuracy", 0.0, -0.015, 0.015),
                                  ("wdbc", "sensitivity", 0.0, -0.018, 0.018), ("bcd", "sensitivity", -0.01, -0.06, 0.04))]
    out = claims.primary(cs, 0.05)
    p = [claims.ni_p(c) for c in cs]
    assert all(o.family == "primary" and o.question == "non_inferiority" for o in out)
    assert p[0] < p[1] < p[2] < p[3]
    assert [o.p_holm for o in out] == pytest.approx([min(1, 4 * p[0]), max(4 * p[0], 3 * p[1]),
                                                     max(4 * p[0], 3 * p[1], 2 * p[2]),
                                                     max(4 * p[0], 3 * p[1], 2 * p[2], p[3])])
    assert [o.answer for o in out] == ["shown" if o.p_holm < 0.025 else "not_shown" for o in out]
    assert out[0].answer == "shown" and out[3].answer == "not_shown"
    # the third: its 95% bound is inside the margin (shown unadjusted) but not at its Holm level
    assert cs[2].low > -0.02 and out[2].detail["low_adjusted"] < cs[2].low
    assert claims.judge(cs[2], "non_inferiority", "exploratory").answer == "shown"


def test_sample_size_and_predictive_values():
    # 33 discordant of 569 at a 2-point margin, 80% power, one-sided 2.5%: about 1,140 patients
    assert stats.sample_size(33 / 569, 0.02, 0.025, 0.8) == pytest.approx(1140, abs=3)
    assert stats.sample_size(0.0, 0.02, 0.025, 0.8) is None
    assert stats.sample_size(0.1, 0.02, 0.025, 0.8) > stats.sample_size(0.05, 0.02, 0.025, 0.8)
    ppv, npv = stats.ppv_npv(0.95, 0.9, 0.044)
    assert ppv == pytest.approx(0.95 * 0.044 / (0.95 * 0.044 + 0.1 * 0.956))
    assert npv == pytest.approx(0.9 * 0.956 / (0.9 * 0.956 + 0.05 * 0.044))
    assert stats.ppv_npv(0.95, 0.9, 0.31)[0] > ppv  # higher prevalence, higher PPV


def test_student_matches_teacher_answers():
    yes = claims.student_matches_teacher([_claim("w", "equivalent"), _claim("b", "non_inferior", -0.015, 0.03)])
    assert yes.verdict == "yes" and yes.low == -0.015
    no = claims.student_matches_teacher([_claim("w", "equivalent"), _claim("b", "b_better", -0.05, -0.01)])
    assert no.verdict == "no" and no.detail["worse_runs"] == ["b"]
    open_ = claims.student_matches_teacher([_claim("w", "equivalent"), _claim("p", "inconclusive", -0.09, 0.05)])
    assert open_.verdict == "not_shown" and open_.detail["unresolved_runs"] == ["p"] and open_.low == -0.09
    assert claims.student_matches_teacher([_claim("w", "identical", 0, 0)]).verdict == "yes"
    # a descriptive run does not count either way, and is listed
    d = claims.student_matches_teacher([_claim("w", "equivalent"), _claim("p", "b_better", -0.09, -0.01, family="descriptive")])
    assert d.verdict == "yes" and d.detail["descriptive_runs"] == ["p"]


def test_kd_beats_scratch_answers():
    diff = lambda *a, **k: _claim(*a, question="difference", **k)
    assert claims.kd_beats_scratch([diff("w", "a_better", 0.01, 0.03, 0.02), diff("b", "equivalent")]).verdict == "yes"
    no = claims.kd_beats_scratch([diff("w", "equivalent", -0.01, 0.006), diff("b", "not_superior", -0.03, 0.004)])
    assert no.verdict == "no" and no.high == 0.006 and no.family == "exploratory"
    assert claims.kd_beats_scratch([diff("w", "b_better", -0.03, -0.01, -0.02)]).verdict == "scratch_better"
    assert claims.kd_beats_scratch([diff("w", "constant", value=-0.02)]).verdict == "scratch_better"


def _eff():
    return pd.DataFrame({"model": ["SM", "SM_INT8", "TM_PTQ", "TM_pruned"], "accuracy": [0.961, 0.960, 0.95, 0.94],
                         "size_bytes": [5804, 2688, 764416, 2994616],
                         "median_us": [2.9, 2.8, 40.0, 80.0], "median_us_min": [2.8, 2.7, 39.0, 78.0],
                         "median_us_max": [3.0, 2.9, 41.0, 82.0]})


def test_pareto_front_and_latency_ties():
    e = _eff()
    assert pareto.front(e, "size_bytes") == ["SM", "SM_INT8"]
    assert pareto.front(e, "median_us") == ["SM", "SM_INT8"]  # overlapping ranges: neither dominates
    assert pareto.fastest_ties(e) == ["SM_INT8", "SM"]
    apart = e.assign(median_us_min=[3.5, 2.7, 39, 78], median_us_max=[3.6, 2.9, 41, 82], median_us=[3.55, 2.8, 40, 80])
    assert pareto.fastest_ties(apart) == ["SM_INT8"]
    # a model that is faster beyond its range and at least as accurate dominates
    dom = e.assign(accuracy=[0.961, 0.962, 0.95, 0.94], median_us_min=[3.5, 2.7, 39, 78], median_us_max=[3.6, 2.9, 41, 82])
    assert pareto.front(dom, "median_us") == ["SM_INT8"]
    with pytest.raises(claims.ClaimsError, match="median_us_min"):
        claims.latency_ranges(pd.DataFrame({"model": ["SM"], "batch": [1], "median_us": [3.0]}))


def test_kd_settings_read_from_results():
    res = pd.DataFrame({"model": ["SM"] * 4 + ["TM"], "format": ["keras"] * 5, "fold": ["r0f0", "r0f1", "r1f0", "r1f1", "r0f0"],
                        "kd_alpha": [0.1, 0.5, 0.5, 0.3, np.nan], "kd_temperature": [7.0, 2.0, 2.0, 5.0, np.nan]})
    k = claims.kd_settings(res)
    assert k["first"] == (0.1, 7.0) and k["first_split"] == "r0f0" and k["n_splits"] == 4 and not k["fixed"]
    assert k["counts"][0] == (0.5, 2.0, 2)
    assert claims.kd_settings(res.assign(kd_alpha=0.1, kd_temperature=10.0))["fixed"]
    assert claims.kd_settings(res.drop(columns=["kd_alpha"]))["first"] is None


# ------------------------------------------------------------------------------------------------ decisions
def test_the_repositorys_decisions_load_with_rationales():
    d = decisions.load_decisions()
    assert d.source == str(decisions.DECISIONS_FILE)
    assert 0 < d.margin_accuracy < 0.1 and 0 < d.margin_sensitivity < 0.2
    assert d.transfer_cell == {"features": "signed", "k": 1, "model": "LR"}
    assert set(d.rationale) == set(decisions.DECISION_KEYS) and all(len(v) > 20 for v in d.rationale.values())
    assert d.stated["transfer_cell"] == "before any result" and d.stated["margin_accuracy"] == "after earlier results"


def test_decisions_moved_from_pending_keep_their_date_and_are_checked(tmp_path):
    d = decisions.load_decisions()
    assert d.pending == {}  # training_seeds and verdict_stability were pending on 2026-12-06, applied since 2026-12-07
    assert d.training_seeds == 5 and d.verdict_stability == {"agreement": 0.8, "min_fragility": 3}
    assert d.stated["training_seeds"] == d.stated["verdict_stability"] == "before any result"
    assert d.dates["training_seeds"] == d.dates["verdict_stability"] == "2026-12-06"
    assert {"primary_family", "operating_point", "calibration", "prevalences", "sample_size", "pbcnt_role"} <= set(d.rationale)
    assert d.dates["primary_family"] == "2026-12-06" and d.stated["primary_family"] == "after earlier results"
    assert "the operating-point rule" in d.in_words("after earlier results")
    assert "the verdict stability rule" in d.in_words("before any result")
    good = (paths.ROOT / decisions.DECISIONS_FILE).read_text()
    with pytest.raises(decisions.DecisionsError, match="calibration.*date"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("date: 2026-12-06\n    rationale: \"Class", "date: soon\n    rationale: \"Class")))
    with pytest.raises(decisions.DecisionsError, match="verdict_stability.*date"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("date: 2026-12-06\n    rationale: \"A verdict is firm", "date: soon\n    rationale: \"A verdict is firm")))
    with pytest.raises(decisions.DecisionsError, match="verdict_stability needs"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("{agreement: 0.8, min_fragility: 3}", "{agreement: 80, min_fragility: 3}")))
    with pytest.raises(decisions.DecisionsError, match="training_seeds"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("value: 5\n", "value: 1\n")))
    with pytest.raises(decisions.DecisionsError, match="training_seeds.*int"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("value: 5\n", "value: five\n")))
    with pytest.raises(decisions.DecisionsError, match="primary_family"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("test: non-inferiority", "test: superiority")))
    with pytest.raises(decisions.DecisionsError, match="calibration must be"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("value: platt", "value: isotonic")))
    with pytest.raises(decisions.DecisionsError, match="prevalences"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("screening_recall: 0.044", "screening_recall: 4.4")))
    both = good.replace("pending: {}", "pending:\n  interval:\n    value: x\n    stated: before any result\n    date: 2026-12-06\n    rationale: a rationale")
    with pytest.raises(decisions.DecisionsError, match="both applied and pending"):
        decisions.load_decisions(_decisions(tmp_path, both))
    undated = good.replace("pending: {}", "pending:\n  later_rule:\n    value: 1\n    stated: before any result\n    rationale: a rationale")
    with pytest.raises(decisions.DecisionsError, match="later_rule.*date"):
        decisions.load_decisions(_decisions(tmp_path, undated))
    with pytest.raises(decisions.DecisionsError, match="unknown top-level"):
        decisions.load_decisions(_decisions(tmp_path, good + "later:\n  x: 1\n"))


def _decisions(tmp_path, text):
    p = tmp_path / "decisions.yaml"
    p.write_text(text)
    return p


def test_bad_decisions_files_name_the_problem(tmp_path):
    good = (paths.ROOT / decisions.DECISIONS_FILE).read_text()
    with pytest.raises(decisions.DecisionsError, match="missing"):
        decisions.load_decisions(tmp_path / "none.yaml")
    with pytest.raises(decisions.DecisionsError, match="not valid YAML"):
        decisions.load_decisions(_decisions(tmp_path, "decisions: [unclosed"))
    applied, pending = good.split("\npending:")
    with pytest.raises(decisions.DecisionsError, match="unknown decision"):
        decisions.load_decisions(_decisions(tmp_path, applied + "\n  margin_typo:\n    value: 0.1\n    rationale: x\n"))
    with pytest.raises(decisions.DecisionsError, match="margin_accuracy.*number in"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("value: 0.02", "value: 2")))
    no_why = good.replace('rationale: "5 sensitivity points', 'rationale: ""\n    old: "5 sensitivity points')
    with pytest.raises(decisions.DecisionsError, match="margin_sensitivity.*rationale"):
        decisions.load_decisions(_decisions(tmp_path, no_why))
    with pytest.raises(decisions.DecisionsError, match="stated"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("stated: before any result", "stated: someday")))
    with pytest.raises(decisions.DecisionsError, match="transfer_cell"):
        decisions.load_decisions(_decisions(tmp_path, good.replace("{features: signed, k: 1, model: LR}", "{features: signed}")))


def test_claims_table_has_one_row_per_claim():
    t = claims.claims_table([_claim("w", "equivalent"), claims.Claim("pareto_size", "w", "front", detail={"models": ["SM"]})])
    assert list(t.name) == ["x", "pareto_size"] and t.detail.iloc[1] == "models=SM"


# ------------------------------------------------------------------------------------------------ target-only
def test_target_only_rules_on_separable_data():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(150, int)]
    X = rng.normal(size=(450, 5)) + 3 * y[:, None]  # every feature larger when malignant
    t = target_only.table(X, y, prevalences=(None, 0.1), seeds=range(3))
    asis = t[t.prevalence_target == "as is"].set_index("rule")
    assert (asis.accuracy > 0.95).all() and (asis.n_rows == 450).all()
    low = t[t.prevalence_target == "0.1"]
    assert (low.resamples == 3).all() and np.allclose(low.prevalence, 0.1, atol=0.01)
    idx = target_only.resample(y, 0.1, 0)
    assert (y[idx] == 0).sum() == 300 and (y[idx] == 1).sum() == 33
    with pytest.raises(ValueError, match="unknown target-only rule"):
        target_only.predict("oracle", X)
    with pytest.raises(ValueError, match="malignant rows"):
        target_only.resample(y, 0.9, 0)


def test_paired_comparison_of_a_cell_with_the_rules():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(300, int), np.ones(150, int)]
    X = rng.normal(size=(450, 4)) + 1.2 * y[:, None]
    perfect = np.stack([y, y])  # a "cell" that is always right, two seeds
    t = target_only.paired(perfect, X, y, prevalences=(None, 0.1), seeds=range(2))
    asis = t[t.prevalence_target == "as is"]
    assert len(asis) == 2 * 2 and (asis.c == 0).all() and (asis.cell_better).all() and not asis.rule_better.any()
    assert (t[t.prevalence_target == "0.1"].n_rows == 333).all()
    with pytest.raises(ValueError, match="only the signed-features LR cell"):
        target_only.configuration_predictions(None, {"features": "authors", "k": 6, "model": "SM"})


def test_latency_noise_widens_the_ties():
    # SM and SM_scratch are one network: their 1.7x gap is the host's, so a model within it is not told apart
    e = pd.DataFrame({"model": ["SM_INT8", "SM", "SM_scratch", "TM_PTQ"], "accuracy": [0.96, 0.965, 0.97, 0.93],
                      "median_us": [2.2, 3.8, 2.2, 40.0], "median_us_min": [1.9, 3.7, 2.2, 39.0],
                      "median_us_max": [3.4, 3.9, 3.3, 41.0]})
    assert pareto.latency_noise(e) == pytest.approx(3.8 / 2.2)
    assert pareto.fastest_ties(e) == ["SM_INT8", "SM_scratch"]  # ranges alone: SM's 3.7 lies above 3.4
    assert pareto.fastest_ties(e, pareto.latency_noise(e)) == ["SM_INT8", "SM_scratch", "SM"]
    assert "TM_PTQ" not in pareto.fastest_ties(e, pareto.latency_noise(e))  # 18x slower stays apart
    assert pareto.latency_noise(e[e["model"] != "SM_scratch"]) == 1.0  # one timed copy of the network: no measure


def test_templates_read_only_detail_keys_the_answers_have():
    """Every ``<x>.answer.detail.<key>`` the summary template reads is a key :func:`claims.as_good_as` writes
    (a renamed key once broke the 'yes' branch, which no run had reached)."""
    import re
    text = (paths.ROOT / "lib" / "analysis" / "templates" / "summary.md.j2").read_text()
    used = set(re.findall(r"answer\.detail\.(\w+)", text))
    c = claims.as_good_as([_claim("w", "non_inferior")], "student_as_good_as_LR", "SM_INT8 - LR")
    assert used and used <= set(c.detail), used - set(c.detail)


def test_aggregate_fragility_counts_either_direction():
    # 'not shown' flips to 'yes' when its unshown claim is shown, or to 'no' when a claim turns to 'teacher better':
    # the fewer rows of the two. A claim whose upper bound sits just above zero turns to 'teacher better' first.
    d = np.array([-0.06, -0.02, -0.08, -0.03, 0.01, -0.07, -0.03, 0.0, -0.05, -0.02]) + 0.005
    lo, hi = -0.0695, 0.0095  # the corrected 95% interval of d: upper bound just above 0, lower far below -2 points
    kw = dict(split_diffs=d, split_rows=[100] * 10, n_train=400, n_test=100)
    near_worse = claims.judge(claims.Claim("x", "w", "inconclusive", value=float(d.mean()), low=lo, high=hi,
                                           margin=0.02, n=10), "non_inferiority", "exploratory", **kw)
    to_worse = near_worse.detail["rows_to_b_better"]
    assert 1 <= to_worse < near_worse.fragility  # nearer to 'teacher better' than to 'shown'
    agg = claims.as_good_as([near_worse], "x", "SM - TM")
    assert agg.verdict == "not_shown" and agg.fragility == to_worse
    # a 'no' flips back when every claim that shows the teacher better stops showing it: their sum
    worse = claims.judge(claims.Claim("x", "b", "b_better", value=-0.05, low=-0.07, high=-0.001, margin=0.02, n=10),
                         "non_inferiority", "exploratory", **{**kw, "split_diffs": d - 0.05})
    no = claims.as_good_as([worse, worse], "x", "SM - TM")
    assert no.verdict == "no" and no.fragility == 2 * worse.detail["rows_to_b_better"]


def test_claims_csv_names_the_two_sided_p():
    c = claims.Claim("x", "w", "a_better", value=0.02, p=0.03, p_holm=0.2, detail={"k": 1.0})
    t = claims.claims_table([c])
    assert "p" not in t and t.p_two_sided.iloc[0] == 0.03 and t.p_holm.iloc[0] == 0.2
    assert set(t.columns) == set(c.row()) and t.detail.iloc[0] == "k=1"
