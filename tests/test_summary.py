"""lib.summary (notebook 08) and lib.predictions: intervals, degenerate paired tests, first-pass pooling,
efficiency, transfer verdict, the markdown and the model card, and clear errors on bad inputs."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from lib import predictions, results, stats, summary
from lib.metrics import METRICS


# ------------------------------------------------------------------------------------------------ fixtures
def _results(run="wdbc", protocol="rigorous", folds=("r0f0", "r0f1", "r1f0", "r1f1"), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    base = {"TM": 0.94, "SM_scratch": 0.95, "SM": 0.955, "SM_INT8": 0.954, "TM_PTQ": 0.94, "TM_pruned": 0.93}
    sizes = {"TM": 2_994_616, "SM_scratch": 5_804, "SM": 5_804, "SM_INT8": 2_688, "TM_PTQ": 764_416,
             "TM_pruned": 2_994_616}
    for i, f in enumerate(folds):
        for m, a in base.items():
            for fmt in (("keras", "tflite") if m not in ("SM_INT8", "TM_PTQ") else ("tflite",)):
                v = float(np.clip(a + rng.normal(0, 0.01), 0, 1))
                rows.append({"run": run, "dataset": "wdbc", "protocol": protocol, "seed": 42 + i, "fold": f,
                             "model": m, "format": fmt, "n_test": 114, **{k: v for k in METRICS},
                             "params": 1, "size_bytes": sizes[m] if fmt == "tflite" else np.nan,
                             "size_gzip_bytes": sizes[m] / 2 if fmt == "tflite" else np.nan,
                             "train_accuracy": 1.0})
    return results.validate(pd.DataFrame(rows))


def _write_run(root, run, protocol="rigorous", folds=("r0f0", "r0f1", "r1f0", "r1f1")):
    d = root / run
    d.mkdir(parents=True)
    _results(run, protocol, folds).to_csv(d / "results_02.csv", index=False)
    splits = [{"id": f, "repeat": 0, "fold": i, "seed": 42 + i, "train": list(range(400)), "val": list(range(400, 455)),
               "test": list(range(455, 569))} for i, f in enumerate(folds)]
    (d / "splits.json").write_text(json.dumps({"header": {"run": run, "protocol": protocol}, "splits": splits}))
    return d


# ------------------------------------------------------------------------------------------------ intervals
def test_corrected_interval_by_hand_and_wider_than_naive():
    v = np.array([0.95, 0.96, 0.94, 0.97, 0.93])
    mean, lo, hi = summary.corrected_interval(v, n_train=455, n_test=114)
    half = st.t.ppf(0.975, 4) * v.std(ddof=1) * math.sqrt(1 / 5 + 114 / 455)
    assert mean == pytest.approx(v.mean()) and lo == pytest.approx(v.mean() - half) and hi == pytest.approx(v.mean() + half)
    from lib import stats
    _, nlo, nhi = stats.t_interval(v)
    assert hi - lo > nhi - nlo
    assert all(math.isnan(x) for x in summary.corrected_interval([0.9], 10, 2)[1:])


def test_summary_table_has_contract_columns_and_every_metric():
    res = _results()
    t = summary.summary_table(res, 455, 114)
    assert set(summary.SUMMARY_COLUMNS) <= set(t.columns)
    assert set(t.metric) == set(METRICS)
    assert (t.n == 4).all()
    ok = t.dropna(subset=["ci_low"])
    assert ((ok.corrected_low <= ok.ci_low + 1e-12) & (ok.corrected_high >= ok.ci_high - 1e-12)).all()


# ------------------------------------------------------------------------------------------------ paired
def test_paired_degenerate_cases_are_flagged_not_p0():
    same = stats.paired([0.9, 0.95, 0.92], [0.9, 0.95, 0.92], 455, 114)
    assert same["corrected_p"] == 1.0 and same["note"] == "identical on every split"
    const = stats.paired([0.91, 0.96, 0.93], [0.90, 0.95, 0.92], 455, 114)
    assert math.isnan(const["corrected_p"]) and math.isnan(const["naive_p"]) and "constant" in const["note"]
    assert math.isnan(const["corrected_ci_low"]) and math.isnan(const["naive_ci_high"])  # no interval either
    one = stats.paired([0.9], [0.8], 455, 114)
    assert math.isnan(one["corrected_p"]) and one["n_splits"] == 1
    normal = stats.paired([0.91, 0.97, 0.93, 0.95], [0.90, 0.95, 0.94, 0.92], 455, 114)
    assert 0 < normal["corrected_p"] <= 1 and normal["corrected_p"] > normal["naive_p"] and normal["note"] == ""
    assert same["corrected_ci_low"] == same["corrected_ci_high"] == 0.0
    gap = stats.paired([0.9, np.nan, 0.95, 0.92], [0.88, 0.9, 0.94, 0.9], 455, 114)  # a NaN split is left out
    assert gap["n_splits"] == 3 and gap["mean_diff"] == pytest.approx((0.02 + 0.01 + 0.02) / 3)


def test_holm_by_hand():
    adj = summary.holm([0.01, 0.04, np.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, 0.06, 0.06 (monotone)
    assert adj[0] == pytest.approx(0.03) and adj[3] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)
    assert math.isnan(adj[2])


def test_comparisons_cover_the_questions_and_skip_absent_models():
    comp = summary.comparisons(_results(), 455, 114)
    acc = comp[comp.metric == "accuracy"]
    pairs = set(zip(acc.a, acc.b))
    assert {("SM", "SM_scratch"), ("SM", "TM"), ("SM_INT8", "SM"), ("SM_INT8", "TM"), ("SM", "TM_PTQ"),
            ("SM", "TM_pruned")} <= pairs
    assert ("SM", "TM_QAT") not in pairs  # not in these results
    assert (acc.corrected_p_holm >= acc.corrected_p - 1e-12).all()


# ------------------------------------------------------------------------------------------------ per row
def _pred(protocol="rigorous"):
    rows = []
    folds = ["r0f0", "r0f1", "r1f0"] if protocol == "rigorous" else ["s43", "s42"]
    for f in folds:
        rows_idx = {"r0f0": range(0, 4), "r0f1": range(4, 8), "r1f0": range(0, 8), "s42": range(0, 4),
                    "s43": range(2, 6)}[f]
        for r in rows_idx:
            y = r % 2
            for m, wrong in (("TM", {1}), ("SM", set()), ("SM_INT8", {3}), ("SM_scratch", {1, 3})):
                pred = 1 - y if r in wrong else y
                rows.append({"run": "x", "fold": f, "seed": 0, "row": r, "y": y, "model": m,
                             "score": 0.9 if pred else 0.1, "pred": pred})
    return pd.DataFrame(rows)


def test_first_pass_counts_every_row_once():
    p = summary.first_pass(_pred(), "rigorous")
    assert sorted(p.fold.unique()) == ["r0f0", "r0f1"]
    assert not p.duplicated(["row", "model"]).any()
    q = summary.first_pass(_pred("paper"), "paper")
    assert list(q.fold.unique()) == ["s42"]  # the first seed, whatever the file order


def test_diagnostic_pooled_counts_and_wilson():
    res = _results(folds=("r0f0", "r0f1", "r1f0"))
    d = summary.diagnostic(_pred(), res, "rigorous").set_index("model")
    # TM gets row 1 (malignant) wrong: tp 3 of 4 malignant rows (1, 3, 5, 7), tn 4 of 4
    assert (d.loc["TM", "tp"], d.loc["TM", "fn"], d.loc["TM", "tn"], d.loc["TM", "fp"]) == (3, 1, 4, 0)
    assert d.loc["TM", "sensitivity_pooled"] == pytest.approx(0.75)
    assert d.loc["SM", "sensitivity_wilson_high"] == 1.0 and d.loc["SM", "sensitivity_wilson_low"] < 1


def test_mcnemar_table_names_models_apart_from_counts():
    mc = summary.mcnemar_table(_pred("paper"))
    r = mc[(mc.fold == "s42") & (mc.model_a == "SM") & (mc.model_b == "TM")].iloc[0]
    assert (r.b, r.c) == (1, 0) and r.model_a == "SM"


def test_calibration_rows():
    cal = summary.calibration(_pred(), "rigorous")
    assert set(cal.model) == {"TM", "SM", "SM_INT8"}
    sm = cal.set_index("model").loc["SM"]
    assert sm.brier == pytest.approx(0.01)


# ------------------------------------------------------------------------------------------------ efficiency
def test_pareto_and_best_compressed():
    res = _results()
    lat = pd.DataFrame({"model": ["TM", "SM", "SM_INT8", "TM_PTQ", "TM_pruned", "SM_scratch"], "batch": 1,
                        "median_us": [90, 2.7, 2.6, 51, 94, 2.7]})
    eff = summary.efficiency(res, lat).set_index("model")
    assert eff.loc["SM_INT8", "pareto_size_bytes"] and not eff.loc["TM_pruned", "pareto_size_bytes"]
    best = summary.best_compressed(eff.reset_index()).iloc[0]
    assert best.best_per_byte == "SM_INT8" and best.best_per_us == "SM_INT8"
    flags = summary.pareto(pd.Series([0.9, 0.9, 0.8]), pd.Series([1.0, 1.0, 2.0]))
    assert flags.tolist() == [True, True, False]  # ties are not dominated


# ------------------------------------------------------------------------------------------------ transfer
def _transfer(low):
    rows = []
    for f in ("authors", "signed"):
        for k in (3, 6):
            for m in ("TM", "SM"):
                for metric, mean in (("accuracy", 0.66), ("sensitivity", 0.1), ("specificity", 0.95)):
                    lo = low if (f, k, m, metric) == ("signed", 3, "SM", "accuracy") else mean - 0.05
                    rows.append({"run": "t", "features": f, "k": k, "model": m, "part": "target", "metric": metric,
                                 "mean": mean if lo < 0.66 else 0.8, "sd": 0.1, "ci_low": lo, "ci_high": 0.9,
                                 "n": 10, "majority": 0.65})
    return pd.DataFrame(rows)


def test_transfer_verdict_needs_interval_above_majority():
    no = summary.transfer_verdict(_transfer(0.60))
    assert not no["transfers"] and no["n_above"] == 0 and "No cell" in no["text"]
    yes = summary.transfer_verdict(_transfer(0.70))
    assert yes["transfers"] and yes["n_above"] == 1 and "selection on the test set" in yes["text"]
    assert "73.97" in yes["text"]  # the paper's number beside the authors' k = 6 cell
    t = summary.transfer_table(_transfer(0.6))
    assert list(t.columns) == [3, 6]
    assert no["by_features"] == {"authors": (0, 4), "signed": (0, 4)}
    assert "does not transfer" in summary.transfer_answer(no)
    pre = pd.DataFrame([{"run": "t", "features": "signed", "k": 1, "model": "LR", "part": "target", "metric": m,
                         "mean": 0.95, "sd": 0.01, "ci_low": 0.94, "ci_high": 0.96, "n": 10, "majority": 0.65}
                        for m in ("accuracy", "sensitivity", "specificity")])
    v = summary.transfer_verdict(pd.concat([_transfer(0.6), pre], ignore_index=True))
    assert v["prespecified"] is not None and "logistic regression" in summary.transfer_answer(v)
    assert "Pre-specified" in v["text"]


def test_transfer_results_missing_and_malformed(scratch_outputs):
    assert summary.transfer_results("wdbc-to-bcd") is None
    (scratch_outputs / "wdbc-to-bcd").mkdir()
    (scratch_outputs / "wdbc-to-bcd" / "transfer_summary.csv").write_text("features,k\nauthors,3\n")
    with pytest.raises(summary.SummaryError, match="missing column"):
        summary.transfer_results("wdbc-to-bcd")


# ------------------------------------------------------------------------------------------------ inputs
def test_load_results_gathers_stage_files_and_errors(scratch_outputs):
    _write_run(scratch_outputs, "wdbc")
    df = summary.load_results("wdbc")  # no results.csv yet: merged from the stage file
    assert (scratch_outputs / "wdbc" / "results.csv").exists() and len(df) > 0
    with pytest.raises(summary.SummaryError, match="no results"):
        summary.load_results("bcd")
    assert summary.available(["wdbc", "bcd"]) == (["wdbc"], ["bcd"])
    assert summary.split_sizes("wdbc") == {"n_train": 400, "n_test": 114, "protocol": "rigorous", "n_splits": 4}
    (scratch_outputs / "wdbc" / "splits.json").write_text("{not json")
    with pytest.raises(summary.SummaryError, match="splits.json"):
        summary.split_sizes("wdbc")
    with pytest.raises(summary.SummaryError, match="unknown profile"):
        summary.profile("huge")


def test_markdown_and_model_card_answer_the_questions(scratch_outputs):
    prof = summary.profile("fast")
    runs = ["wdbc-fast", "wdbc-paper-fast"]
    res = {"wdbc-fast": _results("wdbc-fast"), "wdbc-paper-fast": _results("wdbc-paper-fast", "paper", ("s42", "s43", "s44"), seed=1)}
    table = pd.concat([summary.summary_table(res[r], 455, 114) for r in runs], ignore_index=True)
    comp = pd.concat([summary.comparisons(res[r], 455, 114) for r in runs], ignore_index=True)
    pr = _pred()
    diag = pd.concat([summary.diagnostic(pr.assign(run=r), res[r], "rigorous") for r in runs], ignore_index=True)
    cal = pd.concat([summary.calibration(pr.assign(run=r), "rigorous") for r in runs], ignore_index=True)
    eff = pd.concat([summary.efficiency(res[r], None) for r in runs], ignore_index=True)
    best = summary.best_compressed(eff)
    infl = summary.inflation_table(res["wdbc-paper-fast"], res["wdbc-fast"], {("SM", "tflite", "accuracy"): (0.9767, "abstract")})
    verdict = summary.transfer_verdict(_transfer(0.6))
    ranks = {r: summary.rank_tests(res[r]) for r in runs}
    md = summary.markdown(prof, runs, ["bcd-fast"], table, comp, diag, cal, infl, eff, best, verdict, ranks)
    for q in ("Does the student match the teacher?", "beat training the student from scratch",
              "best accuracy per byte and per microsecond", "transfer from WDBC to BCD", "97.67%", "Fast profile",
              "not available: bcd-fast"):
        assert q in md, q
    card = summary.model_card(prof, table, diag, cal, eff, {"wdbc-fast": {"n_splits": 4, "n_train": 400, "n_test": 114}}, verdict)
    for s in ("Not a diagnostic device", "Intended use", "Limitations", "2,688 bytes", "sensitivity"):
        assert s in card, s


# ------------------------------------------------------------------------------------------------ predictions
def test_predictions_roundtrip_and_bad_files(scratch_outputs):
    df = _pred().assign(run="wdbc")
    predictions.write("wdbc", df)
    back = predictions.load("wdbc")
    assert back[predictions.COLUMNS].equals(df[predictions.COLUMNS].reset_index(drop=True))
    path = scratch_outputs / "wdbc" / "predictions.csv"
    bad = df.copy(); bad.loc[3, "score"] = 1.5
    bad.to_csv(path, index=False)
    with pytest.raises(predictions.PredictionsError, match="data row 4"):
        predictions.load("wdbc")
    df.drop(columns="pred").to_csv(path, index=False)
    with pytest.raises(predictions.PredictionsError, match="missing column"):
        predictions.load("wdbc")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(predictions.PredictionsError):
        predictions.load("wdbc")
    path.unlink()
    with pytest.raises(predictions.PredictionsError, match="run notebook 06"):
        predictions.load("wdbc")


def test_predictions_agree_with_results():
    pr = _pred().assign(run="x")
    res = pd.DataFrame({"fold": ["r0f0", "r0f0"], "model": ["SM", "TM"], "format": "tflite", "accuracy": [1.0, 0.75]})
    chk = predictions.agreement_with_results(pr, res)
    assert chk.equal.all() and len(chk) == 2
