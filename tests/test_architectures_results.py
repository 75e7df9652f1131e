"""Architectures match the reference parameter counts; metrics and the results contract."""
import numpy as np
import pandas as pd
import pytest

from lib.core import metrics, params, results
from lib.data import splits
from lib.train import architectures


@pytest.mark.parametrize("F, teacher, student", [(26, 748_354, 518), (9, 260_930, 246), (60, 1_723_202, 1_062)])
def test_parameter_counts_match_reference(F, teacher, student):
    tm, sm = architectures.build_teacher(F), architectures.build_student(F)
    assert architectures.count_params(tm) == teacher and architectures.count_params(sm) == student
    non_trainable = sum(int(np.prod(w.shape)) for w in tm.non_trainable_weights)
    assert non_trainable == 1_024
    assert architectures.logits_model(tm).output_shape == (None, 2)


def test_logits_view_shares_weights():
    import tensorflow as tf

    sm = architectures.build_student(26)
    x = np.random.default_rng(0).normal(size=(4, 26, 1)).astype("float32")
    np.testing.assert_allclose(tf.sigmoid(architectures.logits_model(sm)(x)).numpy(), sm(x).numpy(), rtol=1e-6)


def test_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    out = np.array([[.1, .9], [.2, .7], [.6, .4], [.8, .1], [.7, .2], [.3, .6], [.9, .1], [.6, .5]])
    m = metrics.classify(y, out)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (2, 1, 4, 1)
    assert m["accuracy"] == 6 / 8 and m["sensitivity"] == 2 / 3 and m["specificity"] == 4 / 5
    assert m["precision"] == 2 / 3 and m["f1"] == pytest.approx(2 / 3)
    assert 0 <= m["brier"] <= 1 and 0 <= m["roc_auc"] <= 1
    np.testing.assert_allclose(metrics.malignancy_score(out)[0], 0.9)
    with pytest.raises(ValueError, match="shape"):
        metrics.malignancy_score(np.zeros((3, 3)))


def _rows(P):
    y = np.array([0, 1, 0, 1])
    s = splits.Split("r0f0", 0, 0, 42, np.arange(2), np.arange(0), np.arange(4))
    m = metrics.classify(y, np.array([[.9, .1], [.2, .8], [.6, .4], [.4, .6]]))
    return [results.row(P, s, "TM", "keras", m, params=748354), results.row(P, s, "SM", "keras", m, params=518)]


def test_stage_files_gather_into_valid_results(scratch_outputs):
    P = params.load("wdbc-fast")
    results.write_stage(P.run, "02", _rows(P)[:1])
    results.write_stage(P.run, "03", _rows(P)[1:])
    out = results.gather(P.run)
    df = pd.read_csv(out)
    assert list(df.columns[: len(results.COLUMNS)]) == results.COLUMNS
    assert set(df.model) == {"TM", "SM"} and (df.accuracy == 1.0).all()
    assert results.load(P.run).shape[0] == 2


def test_gather_with_no_stage_files_writes_header(scratch_outputs):
    (scratch_outputs / "bcd-fast").mkdir()
    df = pd.read_csv(results.gather("bcd-fast"))
    assert df.empty and list(df.columns) == results.COLUMNS


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.drop(columns=["brier"]), "missing column"),
    (lambda d: d.assign(model="Teacher"), "unknown model"),
    (lambda d: d.assign(format="onnx"), "unknown format"),
    (lambda d: d.assign(accuracy=1.5), "accuracy = 1.5 outside"),
    (lambda d: d.assign(f1="high"), "'f1' holds non-numeric"),
    (lambda d: pd.concat([d, d]), "duplicate row"),
])
def test_contract_violations_are_named(edit, match):
    df = pd.DataFrame(_rows(params.load("wdbc-fast")))
    with pytest.raises(results.ContractError, match=match):
        results.validate(edit(df))


def test_gather_unknown_run(scratch_outputs):
    with pytest.raises(FileNotFoundError, match="no outputs for run"):
        results.gather("nope")


def test_read_stages_concatenates_earlier_notebooks_results(scratch_outputs):
    P = params.load("wdbc-fast")
    results.write_stage(P.run, "02", _rows(P)[:1])
    results.write_stage(P.run, "03", _rows(P)[1:] * 1)
    both = results.read_stages(P.run, "02", "03")
    assert list(both.model) == ["TM", "SM"] and list(both.index) == [0, 1]
    with pytest.raises(FileNotFoundError, match="results_04.csv missing"):
        results.read_stages(P.run, "02", "04")
