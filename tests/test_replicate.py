"""Training-seed replicates (lib.replicate): the variance decomposition, the seed mean, the per-seed frames, how
alike seeds choose, the stability labels, the replicates file and the params key."""
import numpy as np
import pandas as pd
import pytest

from lib.core import params, results, stats
from lib.replicate import stability

ROW = dict(run="w", dataset="wdbc", protocol="rigorous", n_test=100, balanced_accuracy=0.9, sensitivity=0.9,
           specificity=0.9, precision=0.9, f1=0.9, roc_auc=0.95, brier=0.05, mcc=0.8, params=518, size_bytes=np.nan,
           size_gzip_bytes=np.nan, tp=36, fp=4, tn=54, fn=6)


def _res(rows):
    return results.validate(pd.DataFrame([{**ROW, **r} for r in rows]))


def _run():
    """Two splits; TM and SM (keras, tflite) replicated once, LR not."""
    base = [dict(seed=42 + i, fold=f"r0f{i}", model=m, format=f, accuracy=a + i / 100)
            for i in range(2) for m, f, a in (("TM", "keras", 0.90), ("TM", "tflite", 0.90), ("SM", "tflite", 0.80),
                                              ("LR", "sklearn", 0.85))]
    reps = [dict(seed=42 + i, fold=f"r0f{i}", model=m, format=f, accuracy=a + i / 100, replicate=1,
                 training_seed=1042 + i, tp=37, fn=5)
            for i in range(2) for m, f, a in (("TM", "keras", 0.94), ("TM", "tflite", 0.94), ("SM", "tflite", 0.86))]
    return _res(base), results.validate(pd.DataFrame([{**ROW, **r} for r in reps]), "replicates", stability.KEYS + ["replicate"])


def test_variance_components_by_the_analysis_of_variance():
    vc = stats.variance_components([[1, 3], [5, 7]])  # within-split variance 2, split means 2 and 6
    assert vc["seed_var"] == pytest.approx(2) and vc["ms_between"] == pytest.approx(16)
    assert vc["split_var"] == pytest.approx(7) and vc["split_share"] == pytest.approx(7 / 9)
    assert vc["seed_share"] == pytest.approx(2 / 9) and (vc["splits"], vc["seeds"]) == (2, 2)
    only_seed = stats.variance_components([[1, 3], [3, 1]])  # split means equal: no split variance, floored at 0
    assert only_seed["split_var"] == 0 and only_seed["seed_share"] == 1
    assert np.isnan(stats.variance_components([[1, 1], [1, 1]])["split_share"])
    rng = np.random.default_rng(0)  # a large split effect is found as such
    big = stats.variance_components(rng.normal(size=(200, 1)) * 3 + rng.normal(size=(200, 5)))
    assert big["split_var"] == pytest.approx(9, rel=0.2) and big["seed_var"] == pytest.approx(1, rel=0.1)
    with pytest.raises(ValueError, match="2 splits x 2 seeds"):
        stats.variance_components([[1, 2, 3]])
    with pytest.raises(ValueError, match="NaN"):
        stats.variance_components([[1, np.nan], [2, 3]])


def test_seed_mean_averages_replicated_rows_only():
    res, reps = _run()
    m = stability.seed_mean(res, reps).set_index(["fold", "model", "format"])
    assert m.loc[("r0f0", "TM", "keras"), "accuracy"] == pytest.approx(0.92)
    assert m.loc[("r0f1", "SM", "tflite"), "accuracy"] == pytest.approx(0.84)
    assert m.loc[("r0f0", "LR", "sklearn"), "accuracy"] == pytest.approx(0.85)  # not replicated: as it was
    assert m.loc[("r0f0", "TM", "keras"), "seeds"] == 2 and m.loc[("r0f0", "LR", "sklearn"), "seeds"] == 1
    assert m.loc[("r0f0", "TM", "keras"), "tp"] == pytest.approx(36.5)  # a mean count: the column turns float
    assert m.loc[("r0f0", "TM", "keras"), "params"] == 518 and pd.api.types.is_integer_dtype(m["params"])
    assert m.loc[("r0f0", "TM", "keras"), "seed"] == 42  # the split's identity is not averaged
    assert len(m) == len(res)
    assert stability.seed_mean(res, None)["seeds"].eq(1).all()
    # the operating point and the chosen cells are replicate 0's, never a mean (a mean of cells is no cell)
    res2 = res.assign(kd_alpha=0.1, op_threshold=0.3)
    reps2 = reps.assign(kd_alpha=0.5, op_threshold=np.nan)
    m2 = stability.seed_mean(res2, reps2)
    assert (m2.kd_alpha == 0.1).all() and (m2.op_threshold == 0.3).all()


def test_frames_give_each_replicate_its_own_rows_and_the_others_as_they_are():
    res, reps = _run()
    f = stability.frames(res, reps)
    assert sorted(f) == [0, 1] and f[0] is res
    one = f[1].set_index(["fold", "model", "format"])
    assert one.loc[("r0f0", "TM", "keras"), "accuracy"] == pytest.approx(0.94)
    assert one.loc[("r0f0", "LR", "sklearn"), "accuracy"] == pytest.approx(0.85)
    assert len(f[1]) == len(res) and list(f[1].columns) == list(res.columns)
    assert list(stability.frames(res, None)) == [0]
    both = stability.combined(res, reps)
    assert sorted(both.replicate.unique()) == [0, 1] and set(both.model) == {"TM", "SM"}
    assert both[both.replicate == 0].training_seed.tolist() == both[both.replicate == 0].seed.tolist()


def test_variance_shares_and_a_seed_free_baseline():
    res, reps = _run()
    both = pd.concat([stability.combined(res, reps), res[res.model == "LR"].assign(replicate=0)])
    t = stability.variance_shares(both, [("SM", "TM"), ("SM", "LR"), ("SM", "RF")]).set_index("comparison")
    assert list(t.index) == ["SM - TM", "SM - LR"]  # RF is absent
    # SM - TM: -0.10 with seed 0, -0.08 with seed 1 on both splits: all the variance is the seed's
    assert t.loc["SM - TM", "mean_diff"] == pytest.approx(-0.09) and t.loc["SM - TM", "split_var"] == 0
    assert t.loc["SM - TM", "seed_share"] == pytest.approx(1)
    assert t.loc["SM - LR", "seeds"] == 2  # LR's one row per split stands for every seed
    assert stability.variance_shares(stability.combined(res, None), [("SM", "TM")]).empty


def test_selection_agreement_counts_alike_choices():
    both = pd.DataFrame({"run": "w", "model": "SM", "format": "keras", "fold": ["a"] * 3 + ["b"] * 3,
                         "replicate": [0, 1, 2] * 2, "kd_alpha": [0.1, 0.1, 0.5, 0.3, 0.3, 0.3],
                         "kd_temperature": [2.0] * 6})
    t = stability.selection_agreement(both).iloc[0]
    assert t.choice == "SM (alpha, T)" and t.splits == 2 and t.seeds == 3
    assert t.modal_share == pytest.approx((2 / 3 + 1) / 2) and t.all_alike == 1 and t.cells_seen == 3
    assert stability.selection_agreement(pd.DataFrame()).empty


RULE = {"agreement": 0.8, "min_fragility": 3}


def _c(answer="shown", fragility=5.0, run="w", subject="SM - TM", name="SM-TM:accuracy", **kw):
    return {"name": name, "run": run, "verdict": "non_inferior", "answer": answer, "subject": subject,
            "fragility": fragility, "question": "non_inferiority", **kw}


def _lab(main, rows, runs=("w",)):
    out = stability.label(main, rows, RULE, list(runs))
    return out["stability"], out["agreeing"], out["seeds"], out["unstable_because"]


def test_stability_labels_follow_the_pre_registered_rule():
    main = _c()
    five = [_c() for _ in range(5)]
    assert _lab(main, five) == ("firm", 5, 5, "")
    assert _lab(main, [_c()] * 4 + [_c("not_shown")])[0] == "firm"  # 4 of 5 = 80%
    assert _lab(main, [_c()] * 3 + [_c("not_shown")] * 2) == ("unstable", 3, 5, "seeds")
    assert _lab(_c(fragility=2.0), five) == ("unstable", 5, 5, "rows")  # too few rows
    assert _lab(_c(fragility=np.nan), five)[3] == "rows"  # rows unknown
    assert _lab(_c(fragility=1.0), [_c()] * 3 + [_c("not_shown")] * 2) == ("unstable", 3, 5, "seeds, rows")  # both
    assert _lab(main, five, runs=())[0] == "not replicated"  # the run has no replicate
    assert _lab(_c(run="all"), five)[0] == "firm"  # an answer across runs
    missing = [_c()] + [None] * 4  # a replicate teacher has no operating point: one seed states the claim
    assert _lab(main, missing)[0] == "not replicated"
    assert _lab(_c("descriptive"), five)[0] == ""
    lr = _c(subject="LR pooled sensitivity at its threshold vs the target", name="operating_point_sensitivity:LR")
    assert _lab(lr, five)[0] == ""  # no training seed moves LR
    front = {"name": "pareto_size", "run": "w", "verdict": "front", "question": "front", "detail": "models=SM, TM",
             "fragility": 4.0, "subject": np.nan, "answer": np.nan}
    assert _lab(front, [front] * 4 + [{**front, "detail": "models=SM"}]) == ("firm", 4, 5, "")


def test_outcomes_keep_the_direction_and_the_aggregate_verdict():
    diff = dict(name="SM-SM_scratch:accuracy", question="difference", answer="detected")
    assert stability.outcome({**diff, "verdict": "a_better"}) != stability.outcome({**diff, "verdict": "b_better"})
    ni = dict(name="SM-TM:accuracy", question="non_inferiority", answer="not_shown")
    assert stability.outcome({**ni, "verdict": "b_better"}) != stability.outcome({**ni, "verdict": "inconclusive"})
    assert stability.outcome({**ni, "verdict": "inconclusive"}) == stability.outcome({**ni, "verdict": "not_superior"})
    agg = dict(name="student_matches_teacher", question="non_inferiority", answer="not_shown")
    assert stability.outcome({**agg, "verdict": "no"}) != stability.outcome({**agg, "verdict": "not_shown"})


def test_index_keys_claims_by_name_and_run():
    t0 = pd.DataFrame([_c(), {**_c(), "name": "other"}, {**_c(), "run": "p"}])
    t1 = pd.DataFrame([_c("not_shown"), {**_c(), "run": "p"}])
    idx = stability.index({0: t0, 1: t1})
    assert [r["answer"] if r else None for r in idx[("SM-TM:accuracy", "w")]] == ["shown", "not_shown"]
    assert idx[("other", "w")][1] is None
    # a run without replicate 1 (its frame repeats replicate 0) does not count it
    idx = stability.index({0: t0, 1: t1}, {"w": [0, 1], "p": [0]})
    assert idx[("SM-TM:accuracy", "p")][1] is None and idx[("SM-TM:accuracy", "w")][1] is not None


def test_replicates_file_round_trip_and_errors(tmp_path, monkeypatch):
    from lib.replicate import seeds
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(tmp_path))
    (tmp_path / "w").mkdir()
    _, reps = _run()
    seeds.write("w", reps.to_dict("records"))
    back = seeds.load("w")
    assert len(back) == len(reps) and set(back.replicate) == {1}
    seeds.write("w", [])  # a run with one training seed: a header alone
    assert seeds.load("w") is None
    (tmp_path / "w" / seeds.FILE).write_text("run,fold\nw,r0f0\n")
    with pytest.raises(results.ContractError, match="replicate"):
        seeds.load("w")
    dup = pd.concat([reps, reps.iloc[:1]])
    with pytest.raises(results.ContractError, match="duplicate"):
        seeds.write("w", dup.to_dict("records"))
    s = type("S", (), {"seed": 43})()
    assert seeds.training_seed(s, 0) == 43 and seeds.training_seed(s, 2) == 2043
    assert seeds.tag(0) == "" and seeds.tag(3) == "@3"


def test_training_seeds_param_is_checked():
    p = params.load("wdbc")
    assert p.training_seeds == 5 and params.load("wdbc-fast").training_seeds == 2
    assert params.load("wdbc-paper").training_seeds == 1
    with pytest.raises(params.ParamsError, match="training_seeds"):
        params.Params(**{**p.__dict__, "training_seeds": 0})
    with pytest.raises(params.ParamsError, match="paper protocol"):
        params.Params(**{**params.load("wdbc-paper").__dict__, "training_seeds": 3})


def test_comparisons_with_models_of_the_runs_own_seed_are_like_for_like():
    comp = pd.DataFrame({"run": "w", "metric": "accuracy", "a": ["SM", "SM", "SM_INT8"], "b": ["TM", "TM_PTQ", "SM_DEPLOY"],
                         "mean_diff": [0.02, 0.035, 0.0]})
    own = comp.assign(mean_diff=[0.03, 0.032, 0.001])
    out = stability.like_for_like(comp, own)
    assert list(out.b) == ["TM", "TM_PTQ", "SM_DEPLOY"]  # order kept
    assert list(out.mean_diff) == [0.02, 0.032, 0.001]  # the compressed teacher and SM_DEPLOY: the run's own seed
    assert stability.like_for_like(comp.iloc[:1], own).mean_diff.tolist() == [0.02]


def test_stability_wording_names_each_reason():
    from lib.analysis import claims as cl, documents
    macro = documents._env().get_template("claims.j2").module.stab
    words = {why: str(macro(cl.Claim("x", "w", "non_inferior", stability="unstable", agreeing=1, seeds=2,
                                     unstable_because=why)))
             for why in ("seeds", "rows", "seeds, rows")}
    assert words == {"seeds": "unstable: 1 of 2 training seeds agree",
                     "rows": "unstable: too few rows decide it, 1 of 2 training seeds agree",
                     "seeds, rows": "unstable: too few rows decide it, only 1 of 2 training seeds agree"}
