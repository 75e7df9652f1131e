"""lib.core.operating: the split-conformal threshold, the Platt calibration fitted on the same out-of-fold scores,
what a results row carries and inherits; and where the study carries them on: the deployable contract and
lib.device.classify's calibrated column, predictions.csv's baseline rows."""
import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from lib.core import calibration, metrics, operating, params, results


def _cancers(n, rng=None):
    """Labels of ``n`` cancers and 10 normal rows, and distinct scores (cancers 0.30..0.99, normals below)."""
    rng = rng or np.random.default_rng(n)
    y = np.r_[np.ones(n, int), np.zeros(10, int)]
    score = np.r_[rng.permutation(np.linspace(0.30, 0.99, n)), np.linspace(0.01, 0.29, 10)]
    return y, score


# ------------------------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize("n, k", [(19, 19), (20, 20), (40, 39), (100, 96)])
def test_conformal_threshold_is_the_kth_highest_cancer_score(n, k):
    """k = ceil(0.95 (n + 1)): 19 cancers -> the 19th highest (the lowest), 20 -> the 20th, 40 -> the 39th."""
    y, score = _cancers(n)
    assert int(np.ceil(0.95 * (n + 1) - 1e-9)) == k
    t = operating.threshold(y, score, 0.95)
    assert t == np.sort(score[y == 1])[::-1][k - 1]
    assert operating.at(y, score, t)["op_missed"] == n - k  # the calibration rows' cancers below it
    assert operating.threshold(y, np.c_[1 - score, score], 0.95) == t  # (n, 2) outputs give the same score


def test_too_few_cancers_flag_every_row_and_no_cancer_gives_the_argmax():
    y, score = _cancers(18)  # k = ceil(0.95 * 19) = 19 > 18
    assert operating.threshold(y, score, 0.95) == 0.0
    assert operating.at(y, score, 0.0) == {"op_sensitivity": 1.0, "op_specificity": 0.0, "op_missed": 0,
                                           "op_false_alarms": 10}
    assert operating.threshold(np.zeros(5, int), np.full(5, 0.3), 0.95) == 0.5
    assert operating.threshold(*_cancers(3), 0.8) == 0.0  # k = ceil(0.8 * 4) = 4 > 3
    y4, s4 = _cancers(4)
    assert operating.threshold(y4, s4, 0.8) == s4[y4 == 1].min()  # k = ceil(0.8 * 5) = 4: the lowest of 4
    with pytest.raises(ValueError, match="target sensitivity"):
        operating.threshold(y, score, 1.0)
    with pytest.raises(ValueError, match="labels"):
        operating.threshold(y[:3], score, 0.9)


# ------------------------------------------------------------------------------------------------ one entry point
def test_fit_gives_the_threshold_and_the_platt_map_of_the_same_scores():
    P = params.load("wdbc-fast")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    score = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 120), 0.01, 0.99)
    out = np.c_[1 - score, score]
    pt = operating.fit(P, y, out)
    assert pt.threshold == operating.threshold(y, out, P.target_sensitivity)
    assert (pt.cal_a, pt.cal_b) == calibration.platt(y, score)
    assert (pt.source, pt.rule) == ("oof", operating.RULE) == ("oof", "conformal")
    assert operating.fit(params.load("wdbc-paper-fast"), y, out) is None  # no target sensitivity: none
    one = operating.fit(P, np.ones(30, int), np.c_[1 - score[:30], score[:30]])  # one class: nothing to calibrate
    assert np.isnan(one.cal_a) and np.isnan(one.cal_b)
    with pytest.raises(ValueError, match="source"):
        operating.Point(0.3, "val")


def test_fields_are_the_results_columns_and_rows_inherit_them():
    y = np.array([1, 0, 1, 0])
    out = np.array([[0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.9, 0.1]])
    pt = operating.Point(0.35, "oof", 1.5, -0.25)
    f = operating.fields(y, out, pt)
    assert tuple(f) == operating.COLUMNS == results.OPERATING
    assert f == {"op_threshold": 0.35, "op_source": "oof", "op_rule": "conformal", "op_sensitivity": 0.5,
                 "op_specificity": 0.5, "op_missed": 1, "op_false_alarms": 1, "cal_a": 1.5, "cal_b": -0.25}
    assert operating.fields(y, out, None) == {}
    m = {**metrics.classify(y, out), **f}
    P = params.load("wdbc-fast")
    split = type("S", (), {"seed": 1, "id": "r0f0"})()
    row = results.row(P, split, "SM", "keras", m)
    assert all(row[c] == f[c] for c in operating.COLUMNS)  # the row keeps every column
    inherited = operating.point_of(row)
    assert inherited == operating.Point(0.35, "inherited", 1.5, -0.25) == pt.inherited()
    assert operating.fields(y, out, inherited)["op_source"] == "inherited"
    assert operating.point_of(results.row(P, split, "TM_QAT", "keras", metrics.classify(y, out))) is None
    res = pd.DataFrame([row, {**row, "model": "TM", "cal_a": np.nan, "cal_b": np.nan},
                        results.row(P, split, "TM_QAT", "keras", metrics.classify(y, out))])
    got = operating.thresholds_of(res)
    assert set(got) == {("r0f0", "SM"), ("r0f0", "TM")} and got["r0f0", "SM"] == inherited
    assert np.isnan(got["r0f0", "TM"].cal_a)


def test_check_holds_the_rows_to_the_rule():
    y = np.array([1, 0, 1, 0])
    out = np.array([[0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.9, 0.1]])
    P = params.load("wdbc-fast")
    split = type("S", (), {"seed": 1, "id": "r0f0"})()
    m = metrics.classify(y, out)
    pt = operating.Point(0.35, "oof", 1.5, -0.25)

    def row(model, fmt, point):
        return results.row(P, split, model, fmt, {**m, **operating.fields(y, out, point)})

    good = pd.DataFrame([row("TM", "keras", pt), row("TM", "tflite", pt.inherited()), row("TM_QAT", "keras", None),
                         row("TM_pruned", "tflite", None)])
    operating.check(good, target=True)
    operating.check(pd.DataFrame([row("TM", "keras", None)]), target=False)
    with pytest.raises(ValueError, match=r"TM_QAT \(keras, split r0f0\): an operating point"):
        operating.check(pd.DataFrame([row("TM_QAT", "keras", pt)]), target=True)
    with pytest.raises(ValueError, match=r"SM \(keras, split r0f0\): no operating point"):
        operating.check(pd.DataFrame([row("SM", "keras", None)]), target=True)
    with pytest.raises(ValueError, match="the run has no target sensitivity"):
        operating.check(pd.DataFrame([row("SM", "keras", pt)]), target=False)
    with pytest.raises(ValueError, match="without its calibration"):
        operating.check(pd.DataFrame([row("SM", "keras", operating.Point(0.35))]), target=True)
    with pytest.raises(ValueError, match="op_rule"):
        operating.check(pd.DataFrame([{**row("SM", "keras", pt), "op_rule": "highest"}]), target=True)


def test_int8_rule_decides_as_the_dequantized_score():
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, (500, 2))
    zp, t = -128, 0.3
    rule = operating.int8_rule(t, zp)
    a, b = (float(v) for v in rule.replace("malignant if ", "").replace(" * (q1 - (-128)) >= ", " ").replace(
        " * (q0 - (-128))", "").split())
    by_rule = a * (q[:, 1] - zp) >= b * (q[:, 0] - zp)
    deq = (q - zp).astype(float)
    keep = (deq.sum(1) > 0) & (np.abs(metrics.malignancy_score(deq) - t) > 1e-9)  # exact ties: float rounding
    assert keep.sum() > 400
    assert np.array_equal(by_rule[keep], (metrics.malignancy_score(deq) >= t)[keep])


# ------------------------------------------------------------------------------------------------ the contract
def test_the_contract_carries_the_calibration_and_classify_applies_it(tmp_path, capsys):
    import tf_keras

    from lib.compress import deploy, tflite
    from lib.device import classify
    from lib.train import architectures

    tf_keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(40, 9)).astype("float32")
    content = tflite.strip(tflite.convert(architectures.build_student(9), "int8", X[..., None]))
    spec = deploy.contract(content, model="SM_INT8", run="r", split="r0f0", features=None, units="u", threshold=0.3,
                           calibration=(1.7, -0.4))
    c = spec["calibration"]
    assert (c["method"], c["a"], c["b"], c["fitted_on"]) == ("platt", 1.7, -0.4,
                                                              "out-of-fold scores of the training part")
    assert "uncalibrated" in c["note"] and "threshold applies to the raw score" in c["note"]
    for none in (None, (float("nan"), float("nan"))):  # no calibration: no key (a run without an operating point)
        assert "calibration" not in deploy.contract(content, model="SM_INT8", run="r", split="s", features=None,
                                                    units="u", threshold=None, calibration=none)
    (tmp_path / "m.tflite").write_bytes(content)
    (tmp_path / "m.json").write_text(json.dumps(spec))
    names = [f"input_{i + 1}" for i in range(9)]
    (tmp_path / "x.csv").write_text(",".join(names) + "\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in X[:12]))
    r = classify.run(tmp_path / "m.tflite", tmp_path / "x.csv")
    assert np.allclose(r.p_calibrated, calibration.apply_platt(r.p, 1.7, -0.4), atol=1e-12)
    assert np.array_equal(r.decision, (r.p >= 0.3).astype(int))  # the threshold applies to the raw score
    assert classify.main([str(tmp_path / "m.tflite"), str(tmp_path / "x.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == ["row", "p_malignant", "p_malignant_calibrated", "malignant", "label"]
    assert [float(v["p_malignant_calibrated"]) for v in rows] == pytest.approx(r.p_calibrated, abs=1e-6)
    (tmp_path / "m.json").write_text(json.dumps({k: v for k, v in spec.items() if k != "calibration"}))
    assert classify.output_columns(classify.read_contract(tmp_path / "m.json")) == [
        "row", "p_malignant", "malignant", "label"]
    assert classify.run(tmp_path / "m.tflite", tmp_path / "x.csv").p_calibrated is None
    for bad in ({"a": 1.0}, {"a": "1", "b": 0.0}, {"a": 1.0, "b": float("inf")}, {"a": 1.0, "b": 0.0, "clip": 0.7}, [1, 2]):
        (tmp_path / "m.json").write_text(json.dumps({**spec, "calibration": bad}))
        with pytest.raises(classify.InputError, match="'calibration' must be"):
            classify.read_contract(tmp_path / "m.json")
    (tmp_path / "m.json").write_text(json.dumps({**spec, "threshold": 0.0}))  # too few cancers: every row flagged
    assert classify.run(tmp_path / "m.tflite", tmp_path / "x.csv").decision.all()


def test_the_export_passes_each_deployable_models_point():
    from lib.compress import export

    res = pd.DataFrame({"fold": ["a", "a", "b", "a"], "model": ["SM_INT8", "SM_DEPLOY", "SM_INT8", "SM"],
                        "op_threshold": [0.4, np.nan, 0.5, 0.3], "op_source": ["oof", None, "oof", "oof"],
                        "op_rule": ["conformal", None, "conformal", "conformal"],
                        "cal_a": [1.2, np.nan, 0.9, 1.0], "cal_b": [0.1, np.nan, -0.2, 0.0]})
    pts = export.points(res)
    assert pts == {("a", "SM_INT8"): operating.Point(0.4, "inherited", 1.2, 0.1), ("a", "SM_DEPLOY"): None,
                   ("b", "SM_INT8"): operating.Point(0.5, "inherited", 0.9, -0.2)}
    assert export.thresholds(res) == {("a", "SM_INT8"): 0.4, ("a", "SM_DEPLOY"): None, ("b", "SM_INT8"): 0.5}


# ------------------------------------------------------------------------------------------------ predictions
def test_baseline_predictions_join_the_tflite_ones(scratch_outputs):
    from lib.compress import predictions

    split = type("S", (), {"seed": 7, "id": "r0f0", "test": np.array([3, 5, 8, 9])})()
    y = np.array([1, 0, 1, 0])
    parts = [results.prediction_rows("wdbc", split, y, "LR", np.array([0.9, 0.2, 0.4, 0.6])),
             results.prediction_rows("wdbc", split, y, "RF", np.array([0.7, 0.1, 0.8, 0.3]))]
    results.write_predictions("wdbc", "03", parts)
    back = results.read_predictions("wdbc", "03")
    assert list(back.columns) == predictions.COLUMNS and back["pred"].tolist() == [1, 0, 0, 1, 1, 0, 1, 0]
    assert back["row"].tolist() == [3, 5, 8, 9] * 2 and set(back["model"]) == {"LR", "RF"}
    res = pd.DataFrame({"fold": "r0f0", "model": ["LR", "RF", "LR"], "format": ["sklearn", "sklearn", "keras"],
                        "accuracy": [0.5, 1.0, 0.0]})  # a Keras row of the same name would not be compared
    chk = predictions.agreement_with_results(back, res)
    assert chk.equal.all() and len(chk) == 2
    wrong = predictions.agreement_with_results(back, res.assign(accuracy=[0.75, 1.0, 0.0]))
    assert not wrong.equal.all()
    predictions.write("wdbc", back)  # the merged file takes them as they are
    assert predictions.load("wdbc").equals(back)
    results.write_predictions("wdbc", "03", [])  # a run without baselines: a header only
    assert results.read_predictions("wdbc", "03").empty
    (scratch_outputs / "wdbc" / "predictions_03.csv").unlink()
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        results.read_predictions("wdbc", "03")


def test_the_models_without_an_operating_point_are_those_the_decision_names():
    from lib.core.decisions import load_decisions
    d = load_decisions().operating_point
    assert set(d["none"]) == set(operating.WITHOUT) and not set(d["models"]) & set(operating.WITHOUT)
    assert d["rule"] == operating.RULE and d["source"] in operating.SOURCES
