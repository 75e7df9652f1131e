"""The rigorous training protocol: grouped folds, BatchNorm statistics, early stopping, class
weights, balanced accuracy / MCC, the baselines and the operating point (lib.core.operating)."""
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, matthews_corrcoef

from lib.core import metrics, operating, params, results
from lib.core.params import ParamsError
from lib.data import datasets, preprocess, splits
from lib.train import architectures, baselines, fitting, teacher


# ------------------------------------------------------------------------------------------------ folds
@pytest.mark.parametrize("run", ["bcd", "bcd-fast"])
def test_no_bcd_sample_id_is_on_two_sides_of_any_split(run):
    P = params.load(run)
    ds = datasets.load(P)
    assert ds.groups is not None and len(set(ds.groups)) < len(ds.groups)  # 46 IDs occur more than once
    S = splits.make_splits(P, ds.y, ds.groups)
    assert len(S) == P.folds * P.repeats
    for s in S:
        parts = [set(ds.groups[getattr(s, k)]) for k in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), s.id
        assert abs(ds.y[s.test].mean() - ds.y.mean()) < 0.05  # still stratified
        fold = operating.oof_folds(ds.y[s.train], ds.groups[s.train], P.oof_folds, s.seed)
        for j in range(fold.max() + 1):  # the out-of-fold parts of the training rows keep IDs together too
            assert not set(ds.groups[s.train][fold == j]) & set(ds.groups[s.train][fold != j])
    for r in range(P.repeats):  # each repeat's test parts partition the rows
        tests = np.concatenate([s.test for s in S if s.repeat == r])
        assert sorted(tests) == list(range(len(ds.y)))


def test_grouped_splits_are_cached_by_their_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(tmp_path))
    P = params.load("bcd-fast")
    ds = datasets.load(P)
    grouped = splits.ensure(P, ds.y, ds.groups)
    assert [s.test.tolist() for s in splits.ensure(P, ds.y, ds.groups)] == [s.test.tolist() for s in grouped]
    ungrouped = splits.ensure(P, ds.y)  # other IDs (none): recomputed, not read from the cache
    assert [s.test.tolist() for s in ungrouped] != [s.test.tolist() for s in grouped]


def test_paper_protocol_ignores_ids():
    P = params.load("wdbc-paper-fast", dataset="bcd", pca_components=None)
    ds = datasets.load(P)  # incomplete rows dropped, as the authors
    a = splits.make_splits(P, ds.y, ds.groups)
    b = splits.make_splits(P, ds.y)
    assert [s.test.tolist() for s in a] == [s.test.tolist() for s in b]


# ------------------------------------------------------------------------------------------------ metrics
def test_balanced_accuracy_and_mcc_are_sklearns():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    m = metrics.classify(y, np.c_[1 - p, p])
    pred = (p > 0.5).astype(int)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    always = metrics.classify(np.r_[np.ones(122), np.zeros(11)].astype(int), np.tile([0.1, 0.9], (133, 1)))
    assert always["accuracy"] == pytest.approx(122 / 133) and always["balanced_accuracy"] == 0.5
    assert always["mcc"] == 0.0


def test_contract_checks_mcc_range():
    row = {c: 0.5 for c in results.COLUMNS}
    row.update(run="r", dataset="wdbc", protocol="rigorous", seed=1, fold="r0f0", model="LR", format="sklearn",
               n_test=10, mcc=-0.4)
    import pandas as pd

    results.validate(pd.DataFrame([row]))
    with pytest.raises(results.ContractError, match="mcc"):
        results.validate(pd.DataFrame([{**row, "mcc": 1.5}]))


# ------------------------------------------------------------------------------------------------ training
def test_class_weights_and_weighted_bce():
    P = params.load("wdbc-fast")
    y = np.r_[np.ones(30), np.zeros(10)].astype(int)
    w = fitting.class_weights(P, y)
    assert w.tolist() == pytest.approx([2.0, 40 / 60])
    assert fitting.class_weights(params.load("wdbc-paper-fast"), y) is None
    import tf_keras as keras

    Y = fitting.onehot(y)
    p = np.random.default_rng(0).random((40, 2)).astype("float32")
    ours = float(fitting.WeightedBCE(w)(Y, p))
    keras_sw = float(keras.losses.BinaryCrossentropy()(Y, p, sample_weight=w[y]))
    assert ours == pytest.approx(keras_sw, rel=1e-6)
    with pytest.raises(ValueError, match="both classes"):
        fitting.class_weights(P, np.ones(5, int))


def test_recompute_bn_sets_the_statistics_of_the_training_rows():
    X = np.random.default_rng(0).normal(5.0, 3.0, (90, 12, 1)).astype("float32")
    m = architectures.build_student(12)
    fitting.recompute_bn(m, X)
    import tf_keras as keras

    h1 = keras.Model(m.inputs, m.get_layer("bn1").input).predict(X, verbose=0)
    bn1 = m.get_layer("bn1")
    assert np.allclose(bn1.moving_mean.numpy(), h1.mean(axis=(0, 1)), atol=1e-5)
    assert np.allclose(bn1.moving_variance.numpy(), h1.var(axis=(0, 1)), rtol=1e-4)
    # bn2's statistics are those of its input with bn1 already corrected: its outputs are standardised
    h2 = keras.Model(m.inputs, m.get_layer("bn2").output).predict(X, verbose=0)
    gamma, beta = (m.get_layer("bn2").gamma.numpy(), m.get_layer("bn2").beta.numpy())
    assert np.allclose(((h2 - beta) / gamma).mean(axis=(0, 1)), 0, atol=1e-3)


def test_teacher_early_stopping_keeps_the_best_epoch(tmp_path, monkeypatch):
    P = params.load("wdbc-fast", teacher_epochs=8, teacher_patience=2, teacher_lr=0.05)  # a rate that overshoots
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    prep = preprocess.prepare(P, ds, s)
    t = fitting.train_teacher(P, prep, seed=s.seed)
    val = t.history["val_loss"]
    assert 1 <= t.best_epoch <= len(val) and val[t.best_epoch - 1] == min(val)
    assert len(val) < 8 or t.best_epoch == int(np.argmin(val)) + 1
    if len(val) < 8:  # stopped: patience epochs without improvement after the best
        assert len(val) - t.best_epoch == P.teacher_patience
    kept = fitting._weighted_bce(prep.y_val, fitting.predict(t.model, prep.X_val), fitting.class_weights(P, prep.y_train))
    assert kept == pytest.approx(min(val), rel=1e-5)  # the restored weights are the best epoch's


def test_bn_check_flags_a_gap():
    rows = [{"fold": "a", "fit_train_accuracy": 1.0, "train_accuracy": 0.92},
            {"fold": "b", "fit_train_accuracy": 1.0, "train_accuracy": 0.99}]
    assert [r["fold"] for r in teacher.bn_check(rows, 0.05)] == ["a"]


def test_protocol_params_are_validated():
    for bad, match in ((dict(teacher_patience=0), "teacher_patience"), (dict(class_weight="inverse"), "class_weight"),
                       (dict(scratch_lrs=[1e-3], scratch_epochs=[]), "scratch_lrs"),
                       (dict(scratch_epochs=[2, 2]), "scratch_epochs"),
                       (dict(target_sensitivity=1.0), "target_sensitivity"), (dict(oof_folds=1), "oof_folds")):
        with pytest.raises(ParamsError, match=match):
            params.load("wdbc-fast", **bad)
    with pytest.raises(ParamsError, match="test part"):
        params.load("wdbc-paper-fast", teacher_patience=5)
    with pytest.raises(ParamsError, match="argmax"):
        params.load("wdbc-paper-fast", target_sensitivity=0.95)


@pytest.mark.parametrize("run", ["wdbc", "bcd", "pbcnt"])
def test_rigorous_runs_tune_scratch_with_the_kd_budget(run):
    P = params.load(run)
    from lib.train import distillation

    assert P.bn_recompute and P.class_weight == "balanced" and P.baselines and P.target_sensitivity == 0.95
    assert len(distillation.scratch_grid_points(P)) == len(distillation.kd_grid_points(P))


# ------------------------------------------------------------------------------------------------ baselines
def test_baselines_are_tuned_on_validation_and_deterministic():
    P = params.load("wdbc-fast")
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    prep = preprocess.prepare(P, ds, s)
    fold = operating.oof_folds(prep.y_train, None, P.oof_folds, s.seed)
    rows, scores = baselines.rows_of_split(P, s, prep, fold)
    assert [r["model"] for r in rows] == ["LR", "RF"] and {r["format"] for r in rows} == {"sklearn"}
    assert rows[0]["params"] == prep.n_features + 1
    assert all(r["accuracy"] > 0.85 and r["op_source"] == "oof" and r["op_rule"] == "conformal" for r in rows)
    assert all(np.isfinite(r["cal_a"]) and np.isfinite(r["cal_b"]) for r in rows)
    for r in rows:  # the test scores are the row's: the same accuracy at the argmax
        assert list(scores) == ["LR", "RF"] and len(scores[r["model"]]) == len(prep.y_test)
        assert np.mean((scores[r["model"]] > 0.5) == prep.y_test) == pytest.approx(r["accuracy"])
    again, _ = baselines.rows_of_split(P, s, prep, fold)
    strip = lambda r: {k: v for k, v in r.items() if k != "train_time_s"}  # noqa: E731
    assert [strip(r) for r in again] == [strip(r) for r in rows]
    results.validate(__import__("pandas").DataFrame(rows))
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.make("SVM", {}, 0, False)


# ------------------------------------------------------------------------------------------------ report pieces
def test_operating_point_table_pools_the_first_pass():
    import pandas as pd

    from lib.analysis import tables

    def row(fold, model, fmt, tp, fn, tn, fp, op_missed, op_fa, t=0.3):
        return {"run": "x", "fold": fold, "model": model, "format": fmt, "tp": tp, "fn": fn, "tn": tn, "fp": fp,
                "op_threshold": t, "op_source": "oof", "op_missed": op_missed, "op_false_alarms": op_fa}

    res = pd.DataFrame([row("r0f0", "SM_INT8", "tflite", 9, 1, 8, 2, 0, 3), row("r0f1", "SM_INT8", "tflite", 8, 2, 9, 1, 1, 2),
                        row("r1f0", "SM_INT8", "tflite", 0, 10, 0, 10, 10, 10),  # second repeat: not pooled
                        row("r0f0", "SM", "keras", 0, 10, 0, 10, 10, 10),  # Keras twin: not a deployable format
                        row("r0f0", "LR", "sklearn", 10, 0, 10, 0, 0, 1, 0.2)])
    t = tables.operating_point(res, "rigorous").set_index("model")
    assert list(t.index) == ["SM_INT8", "LR"]
    sm = t.loc["SM_INT8"]
    assert (sm.cancers, sm.missed_05, sm.missed_op, sm.normals, sm.false_alarms_op) == (20, 3, 1, 20, 5)
    assert sm.sensitivity_op == pytest.approx(19 / 20) and sm.sensitivity_op_low < 0.95 < sm.sensitivity_op_high
    assert t.loc["LR", "threshold_min"] == 0.2
    assert tables.operating_point(res, "paper").empty


def test_as_good_as_across_runs():
    from lib.analysis import claims

    def c(run, verdict, low=-0.01):
        return claims.judge(claims.Claim("x", run, verdict, low=low, high=0.03, margin=0.02, n=10),
                            "non_inferiority", "exploratory")

    assert claims.as_good_as([c("a", "equivalent"), c("b", "non_inferior")], "n", "A - B").verdict == "yes"
    no = claims.as_good_as([c("a", "equivalent"), c("b", "b_better", -0.05)], "n", "A - B")
    assert no.verdict == "no" and no.detail["worse_runs"] == ["b"]
    assert claims.as_good_as([c("a", "inconclusive", -0.04)], "n", "A - B").verdict == "not_shown"


def test_export_c_array_and_contract_round_trip(tmp_path):
    import json

    import tf_keras

    from lib.compress import deploy, runtimes, tflite
    from lib.device import classify

    tf_keras.utils.set_random_seed(0)
    student = architectures.build_student(9)
    X = np.random.default_rng(0).normal(size=(40, 9)).astype("float32")
    content = tflite.strip(tflite.convert(student, "int8", X[..., None]))
    path = tmp_path / "m.h"
    path.write_text(deploy.c_array(content, "sm_int8_model", ["a test", "second line"]))
    assert runtimes.read_c_array(path) == content and path.read_text().startswith("// a test\n// second line\n")
    with pytest.raises(deploy.DeployError, match="C identifier"):
        deploy.c_array(content, "not-an-identifier", [])
    spec = deploy.contract(content, model="SM_INT8", run="r", split="r0f0", features=None, units="u", threshold=0.3)
    assert spec["features"] == [f"input_{i + 1}" for i in range(9)] and spec["threshold"] == 0.3
    assert spec["input"]["dtype"] == "int8" and "decision_int8" in spec and "zero_point" in spec["output_tensor"]
    (tmp_path / "c.json").write_text(json.dumps(spec))
    assert classify.read_contract(tmp_path / "c.json")["threshold"] == 0.3  # lib.device.classify reads the same file
    argmax = deploy.contract(content, model="SM_INT8", run="r", split="s", features=None, units="u", threshold=None)
    assert argmax["threshold"] == 0.5 and "argmax" in argmax["threshold_source"]
