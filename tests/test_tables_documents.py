"""lib.analysis.tables (notebook 08) and lib.compress.predictions: intervals, degenerate paired tests, first-pass pooling,
efficiency, transfer verdict, the markdown and the model card, and clear errors on bad inputs."""
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from lib.core import pareto, results, stats
from lib.core.metrics import METRICS
from lib.compress import predictions
from lib.analysis import documents, tables


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
                             "model": m, "format": fmt, "n_test": 114, **{k: v for k in METRICS}, "mcc": 2 * v - 1,
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
    mean, lo, hi = tables.corrected_interval(v, n_train=455, n_test=114)
    half = st.t.ppf(0.975, 4) * v.std(ddof=1) * math.sqrt(1 / 5 + 114 / 455)
    assert mean == pytest.approx(v.mean()) and lo == pytest.approx(v.mean() - half) and hi == pytest.approx(v.mean() + half)
    from lib.core import stats
    _, nlo, nhi = stats.t_interval(v)
    assert hi - lo > nhi - nlo
    assert all(math.isnan(x) for x in tables.corrected_interval([0.9], 10, 2)[1:])


def test_summary_table_has_contract_columns_and_every_metric():
    res = _results()
    t = tables.summary_table(res, 455, 114)
    assert set(tables.SUMMARY_COLUMNS) <= set(t.columns)
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
    adj = stats.holm([0.01, 0.04, np.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, 0.06, 0.06 (monotone)
    assert adj[0] == pytest.approx(0.03) and adj[3] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)
    assert math.isnan(adj[2])


def test_comparisons_cover_the_questions_and_skip_absent_models():
    comp = tables.comparisons(_results(), 455, 114)
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
    p = tables.first_pass(_pred(), "rigorous")
    assert sorted(p.fold.unique()) == ["r0f0", "r0f1"]
    assert not p.duplicated(["row", "model"]).any()
    q = tables.first_pass(_pred("paper"), "paper")
    assert list(q.fold.unique()) == ["s42"]  # the first seed, whatever the file order


def test_diagnostic_pooled_counts_and_wilson():
    res = _results(folds=("r0f0", "r0f1", "r1f0"))
    d = tables.diagnostic(_pred(), res, "rigorous").set_index("model")
    # TM gets row 1 (malignant) wrong: tp 3 of 4 malignant rows (1, 3, 5, 7), tn 4 of 4
    assert (d.loc["TM", "tp"], d.loc["TM", "fn"], d.loc["TM", "tn"], d.loc["TM", "fp"]) == (3, 1, 4, 0)
    assert d.loc["TM", "sensitivity_pooled"] == pytest.approx(0.75)
    assert d.loc["SM", "sensitivity_wilson_high"] == 1.0 and d.loc["SM", "sensitivity_wilson_low"] < 1


def test_mcnemar_table_names_models_apart_from_counts():
    mc = tables.mcnemar_table(_pred("paper"))
    r = mc[(mc.fold == "s42") & (mc.model_a == "SM") & (mc.model_b == "TM")].iloc[0]
    assert (r.b, r.c) == (1, 0) and r.model_a == "SM"


def test_calibration_rows():
    cal = tables.calibration(_pred(), "rigorous")
    assert set(cal.model) == {"TM", "SM", "SM_INT8", "SM_scratch"}  # every student, as in the diagnostic table
    sm = cal.set_index("model").loc["SM"]
    assert sm.brier == pytest.approx(0.01)


# ------------------------------------------------------------------------------------------------ efficiency
def test_pareto_and_best_compressed():
    res = _results()
    lat = pd.DataFrame({"model": ["TM", "SM", "SM_INT8", "TM_PTQ", "TM_pruned", "SM_scratch"], "batch": 1,
                        "median_us": [90, 2.7, 2.6, 51, 94, 2.7], "median_us_min": [88, 2.6, 2.5, 50, 92, 2.6],
                        "median_us_max": [92, 2.8, 2.7, 52, 96, 2.8]})
    eff = tables.efficiency(res, lat).set_index("model")
    assert eff.loc["SM_INT8", "pareto_size_bytes"] and not eff.loc["TM_pruned", "pareto_size_bytes"]
    assert list(eff.columns[-3:]) == ["pareto_size_bytes", "pareto_median_us", "run"]  # no range columns added
    assert eff.pareto_size_bytes.dtype == bool and eff.pareto_median_us.dtype == bool
    best = tables.best_compressed(eff.reset_index()).iloc[0]
    assert best.best_per_byte == "SM_INT8" and best.best_per_us == "SM_INT8"
    # latency by lib.core.pareto's rule: the three students' ranges overlap, so none is faster than another
    front = set(eff.index[eff.pareto_median_us])
    assert front == set(pareto.front(eff.reset_index().merge(lat[["model", "median_us_min", "median_us_max"]]), "median_us"))
    assert not eff.loc["TM", "pareto_median_us"] and not eff.loc["TM_pruned", "pareto_median_us"]
    no_lat = tables.efficiency(res, None)
    assert no_lat.median_us.isna().all() and not no_lat.pareto_median_us.any()
    assert no_lat.pareto_size_bytes.tolist() == eff.pareto_size_bytes.tolist()
    with pytest.raises(ValueError, match="median_us_min"):  # an old latency.csv without the ranges: a clear error
        tables.efficiency(res, lat.drop(columns=["median_us_min"]))


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
    no = tables.transfer_verdict(_transfer(0.60))
    assert not no["transfers"] and no["n_above"] == 0 and "No cell" in no["text"]
    yes = tables.transfer_verdict(_transfer(0.70))
    assert yes["transfers"] and yes["n_above"] == 1 and "selection on the test set" in yes["text"]
    assert "73.97" in yes["text"]  # the paper's number beside the authors' k = 6 cell
    t = tables.transfer_table(_transfer(0.6))
    assert list(t.columns) == [3, 6]
    assert no["by_features"] == {"authors": (0, 4), "signed": (0, 4)}
    assert "0 of its 4 cells" in documents.transfer_claim(no, None, None, None)["answer"]
    assert documents.transfer_claim(no, None, None, None)["confound"] == ""
    assert documents.transfer_claim(no, None, None, ["learning-rate confound: x"])["confound"] == \
        "Notebook 03b's learning-rate confound: x."
    pre = pd.DataFrame([{"run": "t", "features": "signed", "k": 1, "model": "LR", "part": "target", "metric": m,
                         "mean": 0.95, "sd": 0.01, "ci_low": 0.94, "ci_high": 0.96, "n": 10, "majority": 0.65}
                        for m in ("accuracy", "sensitivity", "specificity")])
    v = tables.transfer_verdict(pd.concat([_transfer(0.6), pre], ignore_index=True))
    assert v["prespecified"] is not None and "Pre-specified cell (signed features, k = 1, LR)" in v["text"]
    other = tables.transfer_verdict(pd.concat([_transfer(0.6), pre.assign(features="authors")], ignore_index=True),
                                     prespecified=("authors", 1, "LR"))
    assert other["prespecified"] is not None  # the cell comes from the decisions, not from the code


def test_transfer_results_missing_and_malformed(scratch_outputs):
    assert tables.transfer_results("wdbc-to-bcd") is None
    (scratch_outputs / "wdbc-to-bcd").mkdir()
    (scratch_outputs / "wdbc-to-bcd" / "transfer_summary.csv").write_text("features,k\nauthors,3\n")
    with pytest.raises(tables.SummaryError, match="missing column"):
        tables.transfer_results("wdbc-to-bcd")


# ------------------------------------------------------------------------------------------------ inputs
def test_load_results_gathers_stage_files_and_errors(scratch_outputs):
    _write_run(scratch_outputs, "wdbc")
    df = tables.load_results("wdbc")  # no results.csv yet: merged from the stage file
    assert (scratch_outputs / "wdbc" / "results.csv").exists() and len(df) > 0
    with pytest.raises(tables.SummaryError, match="no results"):
        tables.load_results("bcd")
    assert tables.available(["wdbc", "bcd"]) == (["wdbc"], ["bcd"])
    assert tables.split_sizes("wdbc") == {"n_train": 400, "n_test": 114, "protocol": "rigorous", "n_splits": 4}
    (scratch_outputs / "wdbc" / "splits.json").write_text("{not json")
    with pytest.raises(tables.SummaryError, match="splits.json"):
        tables.split_sizes("wdbc")
    with pytest.raises(tables.SummaryError, match="unknown profile"):
        tables.profile("huge")


def test_markdown_and_model_card_answer_the_questions(scratch_outputs):
    prof = tables.profile("fast")
    runs = ["wdbc-fast", "wdbc-paper-fast"]
    res, table, comp, diag, cal, eff = _tables(runs, {"wdbc-fast": _results("wdbc-fast"),
                                                      "wdbc-paper-fast": _results("wdbc-paper-fast", "paper", ("s42", "s43", "s44"), seed=1)})
    best = tables.best_compressed(eff)
    infl = tables.inflation_table(res["wdbc-paper-fast"], res["wdbc-fast"], {("SM", "tflite", "accuracy"): (0.9767, "abstract")})
    verdict = tables.transfer_verdict(_transfer(0.6))
    ranks = {r: tables.rank_tests(res[r]) for r in runs}
    md, stated = documents.markdown(prof, runs, ["bcd-fast"], table, comp, diag, cal, infl, eff, best, verdict, ranks)
    for q in ("Does the student match the teacher?", "beat training the student from scratch",
              "best accuracy per byte and per microsecond", "from WDBC help on BCD", "97.67%", "Fast profile",
              "not available: bcd-fast", "## Answers at a glance", "| question | answer |"):
        assert q in md, q
    assert {c.name for c in stated} >= {"student_matches_teacher", "kd_beats_scratch"}
    card = documents.model_card(prof, table, diag, cal, eff, {"wdbc-fast": {"n_splits": 4, "n_train": 400, "n_test": 114}},
                              verdict, res=res["wdbc-fast"])
    for s in ("Not a diagnostic device", "Intended use", "Limitations", "2,688 bytes", "sensitivity",
              "mean [corrected 95% CI] | naive 95% CI"):
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


# ------------------------------------------------------------------------------------------------ the report's claims
def _tables(runs=("wdbc-fast", "bcd-fast"), res=None):
    """The tables notebook 08 builds, from synthetic results (``res``: {run: results rows}, default one per run)."""
    res = res or {r: _results(r, seed=i) for i, r in enumerate(runs)}
    table = pd.concat([tables.summary_table(res[r], 455, 114) for r in runs], ignore_index=True)
    comp = pd.concat([tables.comparisons(res[r], 455, 114) for r in runs], ignore_index=True)
    pr = _pred()
    diag = pd.concat([tables.diagnostic(pr.assign(run=r), res[r], "rigorous") for r in runs], ignore_index=True)
    cal = pd.concat([tables.calibration(pr.assign(run=r), "rigorous") for r in runs], ignore_index=True)
    eff = pd.concat([tables.efficiency(res[r], None) for r in runs], ignore_index=True)
    return res, table, comp, diag, cal, eff


def _set(comp, run, a, b, diff, lo, hi, note="", metric="accuracy"):
    m = (comp.run == run) & (comp.a == a) & (comp.b == b) & (comp.metric == metric)
    comp.loc[m, ["mean_diff", "corrected_ci_low", "corrected_ci_high", "note"]] = [diff, lo, hi, note]
    return comp


def _md(comp=None, diag=None, verdict=None, target_only=None, latency=None, runs=("wdbc-fast", "bcd-fast"), paired=None):
    prof = tables.profile("fast")
    res, table, comp0, diag0, cal, eff = _tables(runs)
    comp = comp0 if comp is None else comp(comp0)
    diag = diag0 if diag is None else diag(diag0)
    md, stated = documents.markdown(prof, list(runs), [], table, comp, diag, cal, None, eff, tables.best_compressed(eff),
                                  verdict, {}, latency=latency, target_only=target_only, paired=paired)
    return md, {(c.name, c.run): c for c in stated}


def _sens(comp, diff=0.0, lo=-0.02, hi=0.02):  # the primary family's sensitivity claims, shown on both runs
    for r in ("wdbc-fast", "bcd-fast"):
        comp = _set(comp, r, "SM", "TM", diff, lo, hi, metric="sensitivity")
    return comp


def test_report_wording_follows_the_answers():
    md, c = _md(lambda x: _sens(_set(_set(x, "wdbc-fast", "SM", "TM", 0.0, 0.0, 0.0, "identical on every split"),
                                     "bcd-fast", "SM", "TM", -0.03, -0.05, -0.01)))
    assert c[("student_matches_teacher", "all")].verdict == "no"
    assert "No: the teacher is better on bcd-fast" in md
    assert "wdbc-fast: non-inferiority shown, 0 on every split<br>" in md  # not "+0.0 [+0.0, +0.0]"
    assert "+0.0 [+0.0, +0.0]" not in md
    md, c = _md(lambda x: _sens(_set(_set(x, "wdbc-fast", "SM", "TM", 0.002, -0.01, 0.015), "bcd-fast", "SM", "TM", 0.0, -0.012, 0.012)))
    q1 = c[("student_matches_teacher", "all")]
    assert q1.verdict == "yes" and q1.family == "primary"
    assert ("Yes: non-inferiority shown for wdbc-fast (shown), bcd-fast (shown), wdbc-fast sensitivity (shown), "
            "bcd-fast sensitivity (shown)") in md
    assert all(c[(f"SM-TM:{m}", r)].family == "primary" for m in ("accuracy", "sensitivity") for r in ("wdbc-fast", "bcd-fast"))
    assert c[("SM_INT8-TM:accuracy", "wdbc-fast")].family == "exploratory"
    md, _ = _md(lambda x: _sens(_set(_set(x, "wdbc-fast", "SM", "TM", 0.0, -0.09, 0.04), "bcd-fast", "SM", "TM", 0.0, -0.01, 0.01)))
    assert "Not shown for every one: shown for bcd-fast accuracy, wdbc-fast sensitivity, bcd-fast sensitivity, not for wdbc-fast accuracy" in md
    # its row in the question's table: the corrected interval, the Holm-adjusted lower bound against the margin
    row = next(line for line in md.splitlines() if line.startswith("| `wdbc-fast` | SM − TM, accuracy |"))
    assert "| -0.00 [-9.00, +4.00] |" in row or "| +0.00 [-9.00, +4.00] |" in row, row
    assert re.search(r"\| -\d+\.\d\d \(Holm\) vs −2 \| \*\*non-inferiority not shown\*\*", row), row
    # an interval inside the margin at 95% but not at its Holm level: not shown, and the words say why
    # (all four near their margins: Holm's first step, at a quarter of the level, already fails, so none is shown)
    md, c = _md(lambda x: _sens(_set(_set(x, "wdbc-fast", "SM", "TM", 0.0, -0.018, 0.018), "bcd-fast", "SM", "TM", 0.0,
                                     -0.018, 0.018), 0.0, -0.045, 0.045))
    w = c[("SM-TM:accuracy", "wdbc-fast")]
    assert w.answer == "not_shown" and w.low > -0.02 and w.detail["low_adjusted"] < -0.02
    assert c[("student_matches_teacher", "all")].verdict == "not_shown"
    row = next(line for line in md.splitlines() if line.startswith("| `wdbc-fast` | SM − TM, accuracy |"))
    assert re.search(r"\| -\d+\.\d\d \(Holm\) vs −2 \| \*\*non-inferiority not shown\*\*", row), row


def test_report_kd_vs_scratch_states_the_unequal_tuning(monkeypatch):
    md, c = _md(lambda x: _set(_set(x, "wdbc-fast", "SM", "SM_scratch", 0.02, 0.005, 0.035), "bcd-fast", "SM", "SM_scratch", 0, -0.01, 0.01))
    assert c[("kd_beats_scratch", "all")].verdict == "yes" and c[("kd_beats_scratch", "all")].family == "exploratory"
    assert "**Does KD beat training from scratch?** Exploratory (unadjusted). A gain is detected on wdbc-fast" in md
    assert "| **Exploratory: a gain detected** |" in md  # the glance table never headlines it as an answer
    # the fast runs tune SM_scratch over as many cells as SM's grid (their scratch_grid_03.csv): said, with its limit
    assert "among as many cells on the same inner validation rows: as many cells, not the same search" in md
    monkeypatch.setattr(documents, "_scratch_grid_size", lambda run: None)  # a run whose SM_scratch was not tuned
    md, _ = _md(lambda x: _set(x, "wdbc-fast", "SM", "SM_scratch", 0.02, 0.005, 0.035))
    assert "SM_scratch was not tuned: the comparison favours KD" in md
    md, c = _md(lambda x: _set(_set(x, "wdbc-fast", "SM", "SM_scratch", -0.004, -0.015, 0.006), "bcd-fast", "SM", "SM_scratch", -0.03, -0.05, -0.01))
    assert c[("kd_beats_scratch", "all")].verdict == "scratch_better"
    assert "The scratch student is better on bcd-fast" in md


def test_report_teacher_at_specificity_0_states_numbers_not_a_cause():
    def spec0(d):
        d = d.copy()
        d.loc[(d.run == "bcd-fast") & (d.model == "TM"), "specificity_pooled"] = 0.0
        return d
    md, _ = _md(diag=spec0)
    assert "the teacher answers 'malignant' for every row here (specificity 0" in md
    assert "calibration failure" not in md and "threshold and" not in md


def test_report_latency_ties_and_diagnostic_rows():
    lat = {r: pd.DataFrame({"model": ["SM", "SM_INT8", "TM_PTQ"], "batch": [1, 1, 1], "median_us": [2.9, 2.8, 40.0],
                            "median_us_min": [2.8, 2.7, 39.0], "median_us_max": [3.0, 2.9, 41.0]}) for r in ("wdbc-fast", "bcd-fast")}
    prof = tables.profile("fast")
    res, table, comp, diag, cal, _ = _tables()
    eff = pd.concat([tables.efficiency(res[r], lat[r]) for r in ("wdbc-fast", "bcd-fast")], ignore_index=True)
    md, stated = documents.markdown(prof, ["wdbc-fast", "bcd-fast"], [], table, comp, diag, cal, None, eff,
                                  tables.best_compressed(eff), None, {}, latency=lat)
    assert "fastest SM_INT8 = SM<br>" in md and "Fastest, tied within their repeat ranges: SM_INT8" in md
    assert not any(c.name == "fastest_tied" for c in stated)  # host timing: not a claim of claims.csv
    assert "| wdbc-fast | SM_scratch |" in md  # the diagnostic table has every student


def _transfer_with_prespecified(mean):
    pre = pd.DataFrame([{"run": "t", "features": "signed", "k": 1, "model": "LR", "part": "target", "metric": m,
                         "mean": mean, "sd": 0.01, "ci_low": mean - 0.002, "ci_high": mean + 0.002, "n": 10,
                         "majority": 0.65, "n_rows": 683} for m in ("accuracy", "sensitivity", "specificity")])
    return tables.transfer_verdict(pd.concat([_transfer(0.6).assign(n_rows=683), pre], ignore_index=True))


def _paired(b, c, seeds=3):
    """lib.transfer.target_only.paired rows: the cell right on b rows the rule gets wrong, the rule on c rows the cell gets wrong."""
    from lib.core import stats

    rows = []
    for rule in ("pc1_sign", "two_means"):
        for k in range(seeds):
            p = stats.mcnemar(np.r_[np.ones(b, bool), np.zeros(c, bool), np.ones(600, bool)],
                              np.r_[np.zeros(b, bool), np.ones(c, bool), np.ones(600, bool)])
            rows.append({"rule": rule, "prevalence_target": "as is", "resample": -1, "cell_seed": k, "n_rows": b + c + 600,
                         "cell_accuracy": p["accuracy_a"], "rule_accuracy": p["accuracy_b"],
                         "difference": p["accuracy_a"] - p["accuracy_b"], "b": b, "c": c, "p_exact": p["p_exact"],
                         "cell_better": p["p_exact"] < 0.05 and b > c, "rule_better": p["p_exact"] < 0.05 and c > b})
    return pd.DataFrame(rows)


def test_report_says_transfer_only_beyond_every_target_only_rule():
    v = _transfer_with_prespecified(0.968)
    md, c = _md(verdict=v, paired=_paired(3, 2))
    assert c[("wdbc_helps_on_bcd", "wdbc-to-bcd-fast")].verdict == "no_more_than_target_only"
    assert "Not shown (exploratory): not better than every BCD-only rule" in md and "transfer beyond" in md
    assert "the same CNNs transfer" not in md and "±1.3" not in md  # no unpaired Wilson reading any more
    md, c = _md(verdict=v, paired=_paired(40, 2))
    assert c[("wdbc_helps_on_bcd", "wdbc-to-bcd-fast")].verdict == "beats_target_only"
    assert "The WDBC-trained cell beats every one of them on every seed" in md
    one_rule_ties = pd.concat([_paired(40, 2).query("rule == 'pc1_sign'"), _paired(3, 2).query("rule == 'two_means'")])
    _, c = _md(verdict=v, paired=one_rule_ties)
    assert c[("wdbc_helps_on_bcd", "wdbc-to-bcd-fast")].verdict == "no_more_than_target_only"  # every rule must be beaten


def test_model_card_settings_come_from_the_results():
    prof = tables.profile("fast")
    res, table, comp, diag, cal, eff = _tables(("wdbc-fast",))
    r = res["wdbc-fast"].copy()
    sm = r.model == "SM"
    r.loc[sm, "kd_alpha"] = r.loc[sm, "fold"].map({"r0f0": 0.1, "r0f1": 0.5, "r1f0": 0.5, "r1f1": 0.3})
    r.loc[sm, "kd_temperature"] = r.loc[sm, "fold"].map({"r0f0": 7.0, "r0f1": 2.0, "r1f0": 2.0, "r1f1": 5.0})
    card = documents.model_card(prof, table, diag, cal, eff, {"wdbc-fast": {"n_splits": 4, "n_train": 400, "n_test": 114}}, res=r)
    assert "(0.5, 2) ×2" in card and "The exported model (split r0f0) used α = 0.1, T = 7" in card
    assert "α = 0.1, T = 10" not in card
    fixed = r.assign(kd_alpha=np.where(sm, 0.1, np.nan), kd_temperature=np.where(sm, 10.0, np.nan))
    card = documents.model_card(prof, table, diag, cal, eff, {}, res=fixed)
    assert "α = 0.1, T = 10 on all 4 splits" in card


def test_inflation_corrected_interval_verdict_and_confounds():
    from types import SimpleNamespace

    a, b = np.array([0.97, 0.98, 0.96, 0.975]), np.array([0.95, 0.94, 0.96, 0.945, 0.955])
    sa, sb = {"n_train": 483, "n_test": 86}, {"n_train": 386, "n_test": 114}
    c = tables.corrected_difference(a, b, sa, sb)
    va, vb = a.var(ddof=1) * (1 / 4 + 86 / 483), b.var(ddof=1) * (1 / 5 + 114 / 386)
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 4)
    half = st.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert c["diff"] == pytest.approx(a.mean() - b.mean()) and c["low"] == pytest.approx(c["diff"] - half)
    welch = stats.inflation(a, b)
    assert c["high"] - c["low"] > welch["ci_high"] - welch["ci_low"]  # wider than the naive Welch interval
    paper = pd.DataFrame({"model": ["TM"] * 4 + ["SM_scratch"] * 4, "format": "keras", "accuracy": np.r_[a, a - 0.05]})
    rig = pd.DataFrame({"model": ["TM"] * 5 + ["SM_scratch"] * 5, "format": "keras", "accuracy": np.r_[b, b]})
    P = SimpleNamespace(teacher_lr=1e-4, teacher_epochs=50, batch_size=32, student_lr=1e-4, student_epochs=50)
    R = SimpleNamespace(teacher_lr=1e-4, teacher_epochs=50, batch_size=32, student_lr=1e-3, student_epochs=50)
    t = tables.inflation_table(paper, rig, {("TM", "keras", "accuracy"): (None, "x"), ("SM_scratch", "keras", "accuracy"): (None, "y")},
                                sizes={"paper": sa, "rigorous": sb}, settings={"paper": P, "rigorous": R}).set_index("model")
    assert t.loc["TM", "inflation_verdict"] == "inflated" and t.loc["TM", "confounds"] == ""
    assert t.loc["SM_scratch", "confounds"] == "student_lr 0.0001 vs 0.001"  # the learning-rate confound, labelled
    assert t.loc["TM", "n_train_paper"] == 483 and t.loc["TM", "n_train_rigorous"] == 386


def test_calibration_summaries_net_benefit_and_detectable_difference():
    from lib.core import calibration
    rng = np.random.default_rng(3)
    p = rng.uniform(0.02, 0.98, 4000)
    y = (rng.uniform(size=4000) < p).astype(int)  # calibrated by construction
    fit = calibration.intercept_slope(y, p)
    assert abs(fit["calibration_intercept"]) < 0.15 and abs(fit["calibration_slope"] - 1) < 0.15
    logit = np.log(p / (1 - p))
    extreme = calibration.intercept_slope(y, 1 / (1 + np.exp(-3 * logit)))  # scores too extreme: slope < 1
    assert extreme["calibration_slope"] < 0.5
    assert all(math.isnan(v) for v in calibration.intercept_slope(np.zeros(10, int), np.full(10, 0.3)).values())
    sep = calibration.intercept_slope(np.array([0] * 20 + [1] * 20), np.r_[np.full(20, 0.45), np.full(20, 0.55)])
    assert all(math.isnan(v) for v in sep.values())  # separated rows: no finite fit
    nb = tables.net_benefit([1, 1, 0, 0], [0.9, 0.6, 0.4, 0.1], [0.5])
    assert nb[0] == pytest.approx(0.5)  # both cancers referred, no false alarm
    nb = tables.net_benefit([1, 0, 0, 0], [0.9, 0.8, 0.1, 0.1], [0.2])
    assert nb[0] == pytest.approx(1 / 4 - 1 / 4 * 0.2 / 0.8)
    d = np.array([0.01, -0.01, 0.02, 0.0, 0.015, -0.005])
    mdd = tables.minimum_detectable(d, np.zeros(6), 455, 114)
    se = d.std(ddof=1) * math.sqrt(1 / 6 + 114 / 455)
    assert mdd == pytest.approx((st.t.ppf(0.975, 5) + st.t.ppf(0.8, 5)) * se)
    assert math.isnan(tables.minimum_detectable([0.9, 0.9], [0.8, 0.8], 455, 114))


def test_protocol_text_states_shared_settings_once():
    from lib.core import params as params_

    s = {r: params_.load(r) for r in ("wdbc", "bcd", "pbcnt")}
    text = documents._protocol_text(s)
    assert text.count("class weights") == 1 and text.count("BatchNorm") == 1 and text.count("early stopping") == 1
    assert "(every rigorous run)" in text and text.endswith("; folds grouped by sample ID (bcd)")
    assert documents._protocol_text({"wdbc": s["wdbc"]}).endswith("(wdbc)")
    assert documents._protocol_text({"x": None}) == ""


def test_grid_size_counts_distinct_grid_points(scratch_outputs):
    d = scratch_outputs / "wdbc"
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"alpha": [0.1, 0.1, 0.5], "temperature": [2, 2, 5], "split": ["a", "b", "a"]}) \
        .to_csv(d / "ablation_03.csv", index=False)
    assert documents._kd_grid_size("wdbc") == 2 and documents._scratch_grid_size("wdbc") is None
    pd.DataFrame({"lr": [1e-3], "split": ["a"]}).to_csv(d / "scratch_grid_03.csv", index=False)
    assert documents._scratch_grid_size("wdbc") is None  # no epochs column


def _infl_row(model, verdict, confounds, diff=-0.2, lo=-0.28, hi=-0.11, n_paper=483, n_rig=386):
    return {"model": model, "format": "keras", "metric": "accuracy", "inflation_verdict": verdict, "confounds": confounds,
            "protocol_inflation": diff, "corrected_inflation_low": lo, "corrected_inflation_high": hi,
            "n_train_paper": n_paper, "n_train_rigorous": n_rig}


def test_inflation_answer_when_every_row_is_confounded_and_when_not():
    rows = [_infl_row("SM_scratch", "deflated", "student_lr 0.0001 vs 0.001"),
            _infl_row("TM", "no_detectable_difference", "class_weight None vs balanced", 0.018, -0.016, 0.052)]
    a = documents.inflation_answer(rows)
    assert a.startswith("Not answerable from these two runs") and "leakage is mixed with training-set size" in a
    assert "SM_scratch keras accuracy -20.0 points [-28.0, -11.0]" in a and "No headline" not in a
    clean = [_infl_row("TM", "inflated", "", 0.05, 0.01, 0.09, 386, 386),
             _infl_row("SM_scratch", "deflated", "student_lr 0.0001 vs 0.001", n_paper=386)]
    b = documents.inflation_answer(clean)
    assert b.startswith("Inflated beyond the intervals: TM keras accuracy") and "not counted" in b and "mixed" not in b
    assert documents.inflation_answer([_infl_row("TM", "no_detectable_difference", "", 0.0, -0.01, 0.01, 386, 386)]) \
        == "No headline is detectably inflated; no detectable difference: TM keras accuracy."
    assert documents.inflation_verdict(rows) == "not_answerable" and documents.inflation_verdict(clean) == "inflated"
    assert documents.inflation_verdict([]) == "not_answered"
    assert documents.inflation_verdict([_infl_row("TM", "no_detectable_difference", "", 0.0, -0.01, 0.01)]) == "none_detectable"


def test_protocol_settings_quoted_from_the_params():
    from types import SimpleNamespace

    paper = SimpleNamespace(pca_components=26, is_paper=True, test_size=0.15)
    rig = SimpleNamespace(pca_components=26, is_paper=False, kd_lr=1e-3, kd_epochs=50, kd_alpha=0.1, kd_temperature=10.0)
    # PCA of unscaled vs standardised features: a preprocessing difference that is not the leakage itself
    assert tables._setting(paper, "pca_input") != tables._setting(rig, "pca_input")
    assert "unscaled" in tables._setting(paper, "pca_input")
    d = documents._paper_design(paper)
    assert "PCA(26) of unscaled features fit on every row" in d and "85/15" in d and "selection" not in d
    assert documents._paperloss_budget(rig) == ("SM's learning rate and epochs (Adam 0.001, 50 epochs) with (α, T) fixed at "
                                              "(0.1, 10), not chosen on inner validation as SM's are, against the tuned SM_scratch")
    diag = pd.DataFrame({"run": ["p"], "model": ["TM"], "tp": [122], "fn": [0], "tn": [0], "fp": [11]})
    assert documents.majority_rates(diag, ["p", "absent"]) == {"p": pytest.approx(122 / 133)}


def test_pareto_front_includes_the_student_trained_without_kd():
    eff = pd.DataFrame({"run": "r", "model": ["SM_INT8", "SM", "SM_scratch", "TM_pruned", "TM"],
                        "accuracy": [0.929, 0.933, 0.985, 0.951, 0.90], "size_bytes": [3232, 7980, 8452, 6894008, 3000000],
                        "gzip_bytes": np.nan, "median_us": np.nan, "accuracy_per_kib": 1.0})
    comp = pd.DataFrame({"run": "r", "metric": "accuracy", "a": "SM", "b": ["TM_pruned"], "mean_diff": [-0.018],
                         "corrected_ci_low": [-0.05], "corrected_ci_high": [0.014]})
    diag = pd.DataFrame(columns=["run", "model", "specificity_pooled", "sensitivity_pooled"])
    (row,) = documents.efficiency_claims(eff, {}, diag, comp)
    assert row["front_size"] == ["SM_INT8", "SM", "SM_scratch"]  # TM_pruned is dominated by SM_scratch
    assert row["compared"] and row["detectable"] == []  # so size, not accuracy, orders the front
    (row,) = documents.efficiency_claims(eff, {}, diag, comp.assign(corrected_ci_high=-0.001))
    assert row["detectable"] == ["SM − TM_pruned -1.8 [-5.0, -0.1]"]


def test_answers_forest_draws_every_question_on_its_own_scale():
    import matplotlib

    matplotlib.use("Agg")
    from lib.analysis import claims as cl

    def q(a, b, lo, hi):
        return {"a": a, "b": b, "claims": [cl.Claim(f"{a}-{b}", r, "inconclusive", value=(lo + hi) / 2, low=lo, high=hi,
                                                    naive_low=lo / 2, naive_high=hi / 2) for r in ("wdbc", "bcd")]}
    glance = [q("SM", "TM", -0.01, 0.07), q("SM", "SM_scratch", -0.03, 0.02), q("SM_scratch", "TM", 0.01, 0.15),
              q("SM_INT8", "LR", -0.02, 0.02), q("SM_INT8", "RF", -0.14, 0.06)]
    fig = documents.answers_forest(documents.forest_panels(glance))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 5 and len(fig.axes) == 6  # 3 rows of 2, the sixth hidden
    assert [ax.get_title() for ax in shown][2:] == ["SM_scratch − TM", "SM_INT8 − LR", "SM_INT8 − RF"]
    widths = [ax.get_xlim()[1] - ax.get_xlim()[0] for ax in shown]
    assert max(widths) / min(widths) > 2  # each panel on its own scale, not one shared axis


def test_model_card_latency_range_and_host_noise():
    prof = tables.profile("fast")
    res, table, comp, diag, cal, eff = _tables(("wdbc-fast",))
    lat = pd.DataFrame({"model": ["SM_INT8", "SM", "SM_scratch"], "batch": 1, "median_us": [2.2, 3.8, 2.2],
                        "median_us_min": [1.9, 3.7, 2.2], "median_us_max": [3.4, 3.9, 3.3]})
    card = documents.model_card(prof, table, diag, cal, eff, {}, res=res["wdbc-fast"], latency=lat)
    assert "1.9-3.4 µs over repeats" in card and "1.73x apart on this host" in card
    assert "µs over repeats" not in documents.model_card(prof, table, diag, cal, eff, {}, res=res["wdbc-fast"])


def test_a_detected_difference_says_when_it_does_not_survive_holm():
    from lib.analysis import claims as cl

    comp = pd.DataFrame([{"run": "r", "metric": "accuracy", "a": "SM_scratch", "b": "TM", "mean_diff": 0.082, "n_splits": 10,
                          "naive_ci_low": 0.047, "naive_ci_high": 0.117, "corrected_ci_low": 0.012, "corrected_ci_high": 0.152,
                          "corrected_p": 0.026, "corrected_p_holm": p, "note": None, "detectable_80": 0.1} for p in (0.36,)])
    c = cl.judge(cl.difference(comp, "r", "SM_scratch", "TM", "accuracy", 0.02), "difference", "exploratory")
    assert c.verdict == "a_better" and c.detail["p_holm_within_run"] == 0.36 and c.answer == "detected"
    w = documents._env().get_template("claims.j2").module
    assert str(w.reading(c, "SM_scratch", "TM")) == ("exploratory: difference detected, SM_scratch better (not after "
                                                     "Holm's adjustment over the run's comparisons, p = .360)")
    assert str(w.brief(c, "SM_scratch", "TM")) == "SM_scratch better, unadjusted"
    c2 = cl.judge(cl.difference(comp.assign(corrected_p_holm=0.01), "r", "SM_scratch", "TM", "accuracy", 0.02),
                  "difference", "exploratory")
    assert str(w.reading(c2, "SM_scratch", "TM")) == "exploratory: difference detected, SM_scratch better"
    c3 = cl.replace(c2, fragility=2.0)
    assert str(w.brief(c3, "SM_scratch", "TM")) == "SM_scratch better, unadjusted (2 rows flip it)"
    assert "2 changed test rows would flip it" in str(w.reading(c3, "SM_scratch", "TM"))
    assert "1 row flips it" in str(w.brief(cl.replace(c2, fragility=1.0), "SM_scratch", "TM"))
    assert str(w.brief(cl.replace(c2, answer="descriptive"), "SM_scratch", "TM")) == "descriptive"


def test_report_teacher_question_is_exploratory_and_says_which_way():
    md, c = _md(lambda x: _set(_set(x, "wdbc-fast", "SM_scratch", "TM", -0.03, -0.05, -0.01), "bcd-fast", "SM_scratch", "TM", 0, -0.01, 0.01))
    assert c[("SM_scratch-TM:accuracy", "wdbc-fast")].verdict == "b_better"
    assert "| **Exploratory: the teacher better on wdbc-fast" in md
    md, _ = _md(lambda x: _set(_set(x, "wdbc-fast", "SM_scratch", "TM", 0.0, -0.01, 0.01), "bcd-fast", "SM_scratch", "TM", 0, -0.01, 0.01))
    assert "| **No difference detected (exploratory)** |" in md
    md, _ = _md(lambda x: _set(_set(x, "wdbc-fast", "SM_scratch", "TM", 0.03, 0.01, 0.05), "bcd-fast", "SM_scratch", "TM", 0, -0.01, 0.01))
    assert "| **Exploratory: the scratch student better on wdbc-fast" in md


def test_predictive_values_sample_sizes_and_descriptive_facts():
    opt = pd.DataFrame([{"run": "w", "model": "SM_INT8", "sensitivity_op": 0.95, "sensitivity_op_low": 0.9,
                         "sensitivity_op_high": 0.98, "specificity_op": 0.9, "specificity_op_low": 0.85,
                         "specificity_op_high": 0.94}, {"run": "p", "model": "SM_INT8", "sensitivity_op": 0.95,
                         "sensitivity_op_low": 0.9, "sensitivity_op_high": 0.98, "specificity_op": 0.9,
                         "specificity_op_low": 0.5, "specificity_op_high": 0.99}])
    pv = tables.predictive_values(opt, {"screening": 0.044, "clinic": 0.31}, skip_runs=("p",))
    assert set(pv.run) == {"w"} and len(pv) == 2
    s = pv.set_index("setting").loc["screening"]
    assert s.ppv_low < s.ppv < s.ppv_high and s.npv_low < s.npv < s.npv_high
    assert pv.set_index("setting").loc["clinic", "ppv"] > s.ppv
    # sample sizes from the first pass's discordant pairs
    rows = []
    for row in range(40):
        y = int(row < 10)
        for m, right in (("SM", row not in (0, 12)), ("TM", row not in (1, 12))):
            rows.append({"run": "wdbc-fast", "fold": "r0f0" if row < 20 else "r0f1", "seed": 42, "row": row, "y": y,
                         "model": m, "score": 0.5, "pred": y if right else 1 - y})
    pred = {"wdbc-fast": pd.DataFrame(rows)}
    fam = {"comparison": "SM - TM", "metrics": ["accuracy", "sensitivity"], "runs": ["wdbc"]}
    need = tables.sample_sizes(pred, ["wdbc-fast"], fam, {"accuracy": 0.02, "sensitivity": 0.05},
                               {"power": 0.8, "alpha_one_sided": 0.025})
    acc, sens = need.set_index("metric").loc["accuracy"], need.set_index("metric").loc["sensitivity"]
    assert acc.discordant == 2 and acc.rows == 40 and sens.discordant == 2 and sens.rows == 10
    assert sens.needed_patients == math.ceil(sens.needed / 0.25)
    # the descriptive facts: which normal rows every neural model gets wrong, the teacher's cap
    rows = [{"run": "p", "fold": "r0f0", "seed": 1, "row": r, "y": int(r > 2), "model": m, "score": 0.5,
             "pred": 1 if (r == 0 or (r == 1 and m == "SM")) else int(r > 2)} for r in range(8) for m in ("TM", "SM")]
    res = pd.DataFrame([{"model": "TM", "format": "keras", "epochs_trained": e, "accuracy": 0.9} for e in (50, 50, 31)]
                       + [{"model": "TM", "format": "tflite", "epochs_trained": np.nan, "accuracy": 0.8}])
    f = tables.descriptive_facts(pd.DataFrame(rows), res, 50)
    assert f["normals"] == 3 and f["wrong_by_every"] == [0] and f["wrong_by_any"] == [0, 1]
    assert f["teacher_capped"] == 2 and f["teacher_splits"] == 3 and f["majority"] == 5 / 8


def test_the_atomic_writers_never_leave_a_half_written_file(tmp_path):
    """lib.core.formatting's writers (results, predictions, splits, TFLite models, reports): a write that fails part-way
    leaves the previous file as it was and no temporary file looking finished; a good write replaces it."""
    from lib.core import formatting

    class Unwritable:  # its bytes cannot be had: the write fails
        def __bytes__(self):
            raise OSError("disk full")

    target = formatting.write_bytes(b"old model", tmp_path / "m" / "TM_r0f0.tflite")
    with pytest.raises(OSError, match="disk full"):
        formatting.write_bytes(Unwritable(), target)
    assert target.read_bytes() == b"old model" and [p.name for p in target.parent.iterdir()] == ["TM_r0f0.tflite"]
    bad = pd.DataFrame({"a": [1]})
    with pytest.raises(TypeError):
        formatting.write_csv(bad, tmp_path / "r.csv", no_such_option=1)
    assert not (tmp_path / "r.csv").exists()
    formatting.write_csv(pd.DataFrame({"x": [0.123456789]}), tmp_path / "r.csv", float_format="%.3g")
    assert (tmp_path / "r.csv").read_text() == "x\n0.123\n"
    formatting.write_text("new", target)
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_summary_splits_into_a_key_page_and_one_page_per_question(tmp_path):
    text = ("# Summary\n\nGenerated.\n\n## Answers at a glance\n\n| q | a |\n|---|---|\n| Q? | **Yes** |\n\n"
            "![fig](summary/figures/08_answers.png)\n\nWhat these answers rest on: more.\n\n| q | a |\n\n"
            "1. **Q?** Yes, because.\n\n## How to read this summary\n\nMargins.\n\n## 1. Does A beat B?\n\nDetail.\n")
    key, pages = documents.split_summary(text, "summary/pages")
    assert "| Q? | **Yes** |" in key and "08_answers.png" in key and "What these answers rest on" not in key
    assert list(pages) == ["answers.md", "how-to-read-this-summary.md", "1-does-a-beat-b.md", "glossary.md"]
    assert pages["1-does-a-beat-b.md"] == "# 1. Does A beat B?\n\nDetail.\n"
    assert "- [1. Does A beat B?](summary/pages/1-does-a-beat-b.md)" in key
    assert pages["answers.md"].startswith("# What the answers rest on, and each answer in words\n\nWhat these answers rest on") and "1. **Q?**" in pages["answers.md"]
    md = tmp_path / "summary.md"
    (tmp_path / "summary" / "pages").mkdir(parents=True)
    (tmp_path / "summary" / "pages" / "stale.md").write_text("old")
    written = documents.write_summary(text, md, "summary")
    assert md.read_text() == key and not (tmp_path / "summary" / "pages" / "stale.md").exists()
    assert len(written) == 5 and all(p.exists() for p in written)
    for target in re.findall(r"\]\(([^)]+\.md)\)", key):  # every link of the key page resolves
        assert (tmp_path / target).exists(), target


def test_shared_confounds_are_stated_once():
    rows = [{"confounds": "kd_loss paper vs hinton; class_weight None vs balanced; pca_input a vs b"},
            {"confounds": "class_weight None vs balanced; teacher_patience None vs 10; pca_input a vs b"}]
    assert documents.shared_confounds(rows) == ["class_weight None vs balanced", "pca_input a vs b"]
    # a row trained alike under both protocols shares nothing: every row then lists its own
    assert documents.shared_confounds(rows + [{"confounds": ""}]) == []
    assert documents.shared_confounds([]) == []


def test_a_distilled_students_confounds_include_its_teachers_training():
    """SM learns from TM's outputs: where the two protocols train the teacher differently, SM's difference between
    them is not protocol inflation alone either."""
    for m in ("SM", "SM_INT8"):
        assert set(tables.TRAINING_SETTINGS["TM"]) <= set(tables.TRAINING_SETTINGS[m])
    assert "teacher_patience" not in tables.TRAINING_SETTINGS["SM_scratch"]


def test_rank_table_is_tidy_and_per_seed_claims_carry_their_claims_label():
    from lib.analysis import claims as claims_
    rng = np.random.default_rng(0)
    t = pd.DataFrame(rng.random((10, 4)), columns=["SM", "TM", "LR", "RF"])
    fr = {**stats.friedman(t), "nemenyi": stats.nemenyi(t)}
    rt = tables.rank_table({"wdbc": fr})
    assert list(rt.model) == sorted(t.columns)
    assert rt.set_index("model").avg_rank.to_dict() == fr["avg_ranks"].to_dict()
    assert np.isnan(rt.loc[rt.model == "SM", "nemenyi_p"]).all()
    assert rt.loc[rt.model == "TM", "nemenyi_p"].iloc[0] == pytest.approx(fr["nemenyi"].loc["TM", "SM"])
    assert (rt.critical_difference == fr["critical_difference"]).all() and (rt.k == 4).all()
    claims = pd.DataFrame({"name": ["a", "b"], "run": ["wdbc", "wdbc"], "stability": ["firm", "unstable"]})
    per_seed = {k: pd.DataFrame({"name": ["a", "b"], "run": ["wdbc", "wdbc"], "answer": ["shown", "x"],
                                 "stability": [np.nan, np.nan]}) for k in (0, 1)}
    ps = claims_.per_seed_table(per_seed, claims)
    assert list(ps.replicate) == [0, 0, 1, 1] and list(ps.stability) == ["firm", "unstable"] * 2
