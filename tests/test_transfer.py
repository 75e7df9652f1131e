"""lib.transfer (transfer_params, experiment, transfer_data, verdict) and lib.analysis.runs: transfer params (validation, extends, injection), the experiment's outputs and their
determinism, label-freeness of the signed features, the sign-flip enumeration."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from lib.core import params
from lib.core.params import ParamsError
from lib.transfer import alignment, experiment, transfer_data, transfer_params, verdict
from lib.analysis import runs, tables

BASE = "dataset: wdbc\nprotocol: paper\n"
BLOCK = "transfer:\n  target: bcd\n"


# ------------------------------------------------------------------------------------------------ params
def test_committed_transfer_runs():
    full, fast = transfer_params.load("wdbc-to-bcd"), transfer_params.load("wdbc-to-bcd-fast")
    assert (full.source, full.target, full.seeds, full.holdout_size) == ("wdbc", "bcd", 10, 0.4)
    assert full.k_values == tuple(range(3, 10)) and full.features == ("authors", "signed")
    assert full.seed_list == list(range(42, 52)) and full.sign_convention == "v"
    P = full.params  # the authors' training settings
    assert (P.kd_loss, P.kd_lr, P.student_lr, P.teacher_lr, P.kd_alpha, P.kd_temperature) == \
        ("paper", 1e-3, 1e-4, 1e-4, 0.1, 10.0)
    assert (P.teacher_epochs, P.student_epochs, P.kd_epochs, P.batch_size) == (50, 50, 50, 32)
    # the fast profile: nested block merged key by key over the parent's
    assert (fast.seeds, fast.k_values, fast.holdout_size, fast.features) == (2, (3, 6), 0.4, ("authors", "signed"))
    assert fast.params.teacher_epochs == 3 and fast.params.kd_lr == 1e-3
    assert runs.transfer_runs() == ["wdbc-to-bcd", "wdbc-to-bcd-fast"]
    assert "wdbc-to-bcd-fast" not in runs.ordinary_runs() and "wdbc-fast" in runs.ordinary_runs()
    with pytest.raises(ParamsError, match="unknown key.*'transfer'"):  # lib.core.params knows no transfer runs
        params.load("wdbc-to-bcd")


def test_runs_validates_every_params_file(capsys):
    assert runs.main([]) == 0
    out = capsys.readouterr().out
    assert all(f"ok  {r}" in out for r in params.all_runs())
    assert isinstance(runs.load_any("wdbc-to-bcd"), transfer_params.TransferParams)
    assert isinstance(runs.load_any("wdbc-fast"), params.Params)


def test_runs_reports_a_bad_file(params_dir, capsys, write):
    write(params_dir, "good", BASE)
    write(params_dir, "bad", BASE + "transfer:\n  target: bcd\n  seeds: 0\n")
    assert runs.main([]) == 1
    captured = capsys.readouterr()
    assert "ok  good" in captured.out and "ERR" in captured.err and "transfer.seeds" in captured.err


@pytest.mark.parametrize("text, match", [
    (BLOCK + "  folds: 3\n", r"bad.yaml: unknown key\(s\) 'transfer.folds'"),
    ("transfer:\n  seeds: 2\n", "missing key 'transfer.target'"),
    ("transfer: [bcd]\n", "'transfer' = \\['bcd'\\]: must be a mapping"),
    ("transfer:\n  target: wdbc\n", "'transfer.target' = 'wdbc': the target must differ from the source"),
    ("transfer:\n  target: pbcnt\n", "'transfer.target' = 'pbcnt': .*only WDBC -> BCD is implemented"),
    (BLOCK + "  k_values: [2, 3]\n", "'transfer.k_values'.*k = 2 < 3: the reference CNNs need >= 3 inputs"),
    (BLOCK + "  k_values: [3, 10]\n", "'transfer.k_values'.*k = 10 > 9: BCD has 9 features"),
    (BLOCK + "  k_values: [3, 3]\n", "'transfer.k_values'.*twice"),
    (BLOCK + "  k_values: []\n", "'transfer.k_values'.*non-empty list"),
    (BLOCK + "  k_values: [3.5]\n", "'transfer.k_values'.*integers"),
    (BLOCK + "  seeds: 0\n", "'transfer.seeds' = 0: must be an integer >= 1"),
    (BLOCK + "  seeds: true\n", "'transfer.seeds' = True"),
    (BLOCK + "  holdout_size: 0.6\n", "'transfer.holdout_size' = 0.6: must be a fraction in \\(0, 0.5\\]"),
    (BLOCK + "  holdout_size: 0\n", "'transfer.holdout_size' = 0:"),
    (BLOCK + "  features: [authors, pls]\n", "'transfer.features'.*authors, signed"),
    (BLOCK + "  features: []\n", "'transfer.features' = \\[\\]"),
    (BLOCK + "  features: [signed, signed]\n", "'transfer.features'.*twice"),
    (BLOCK + "  sign_convention: w\n", "'transfer.sign_convention' = 'w'"),
    (BLOCK + "teacher_epochs: 0\n", "'teacher_epochs' = 0: must be at least 1"),  # ordinary keys: Params' rules
    (BLOCK + "epochs: 3\n", "unknown key.*'epochs'"),
    (BLOCK + "pca_components: 6\n", "'pca_components' = 6: a transfer run sets its PCA sizes"),
])
def test_bad_transfer_params_name_the_key(params_dir, text, match, write):
    write(params_dir, "bad", (BASE + text) if "dataset" not in text else text)
    with pytest.raises(ParamsError, match=match):
        runs.load_any("bad")


def test_source_must_be_wdbc(params_dir, write):
    write(params_dir, "bad", "dataset: bcd\nprotocol: paper\n" + BLOCK)
    with pytest.raises(ParamsError, match="'dataset' = 'bcd'.*only WDBC -> BCD"):
        transfer_params.load("bad")


def test_extends_merges_the_nested_block(params_dir, write):
    write(params_dir, "base", BASE + BLOCK + "  seeds: 5\n  k_values: [4, 5]\n  sign_convention: u\n")
    write(params_dir, "child", "extends: base\nteacher_epochs: 2\ntransfer:\n  k_values: [9, 3]\n")
    write(params_dir, "grandchild", "extends: child\n")
    for run in ("child", "grandchild"):
        TP = transfer_params.load(run)
        assert (TP.seeds, TP.k_values, TP.sign_convention, TP.target) == (5, (3, 9), "u", "bcd")
        assert TP.params.teacher_epochs == 2 and TP.run == run
    assert runs.is_transfer("grandchild")
    write(params_dir, "plain", BASE)
    assert not runs.is_transfer("plain")
    with pytest.raises(ParamsError, match="not a transfer run"):
        transfer_params.load("plain")
    write(params_dir, "loop", "extends: loop2\n")
    write(params_dir, "loop2", "extends: loop\n")
    with pytest.raises(ParamsError, match="loops"):
        transfer_params.load("loop")


def test_for_notebook_applies_injected_values():
    # papermill -f params/wdbc-to-bcd-fast.yaml injects the file's own (partial) transfer block
    ns = {"run": "wdbc-to-bcd-fast", "extends": "wdbc-to-bcd", "teacher_epochs": 3,
          "transfer": {"seeds": 2, "k_values": [3, 6]}, "description": "x"}
    TP = transfer_params.for_notebook(ns)
    assert (TP.seeds, TP.k_values, TP.params.teacher_epochs, TP.params.description) == (2, (3, 6), 3, "x")
    TP = transfer_params.for_notebook({"run": "wdbc-to-bcd", "seed": 7, "transfer": {"seeds": 3}})
    assert TP.seed_list == [7, 8, 9] and TP.k_values == tuple(range(3, 10))
    with pytest.raises(ParamsError, match="'transfer.k_values'"):
        transfer_params.for_notebook({"run": "wdbc-to-bcd", "transfer": {"k_values": [1]}})
    with pytest.raises(ParamsError, match="must define 'run'"):
        transfer_params.for_notebook({})
    # re-running the notebook's cell: by then 'transfer' is the module, not the injected block
    assert transfer_params.for_notebook({"run": "wdbc-to-bcd-fast", "transfer": experiment}).seeds == 2
    with pytest.raises(ParamsError, match="injected 'transfer' = 3 must be a mapping"):
        transfer_params.for_notebook({"run": "wdbc-to-bcd-fast", "transfer": 3})


# ------------------------------------------------------------------------------------------------ pure parts
@pytest.fixture(scope="module")
def D():
    return transfer_data.load_data(transfer_params.load("wdbc-to-bcd-fast"))


def test_signed_features_are_label_free(D):
    """BCD labels are never an input: permuting them leaves every feature array unchanged."""
    tr, ho = alignment.authors_split(D.y_source, seed=0)
    permuted = transfer_data.Data(D.W, D.y_source, D.B, np.random.default_rng(0).permutation(D.y_target),
                             D.source_features, D.target_features)
    for method in ("signed", "authors"):
        for a, b in zip(transfer_data.features(method, D, 4, tr, ho), transfer_data.features(method, permuted, 4, tr, ho)):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown feature method"):
        transfer_data.features("pls", D, 4, tr, ho)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_sign_patterns_enumerate_every_pattern(k):
    pats = transfer_data.sign_patterns(k)
    assert pats.shape == (2 ** k, k) and len({transfer_data.pattern_string(p) for p in pats}) == 2 ** k
    assert transfer_data.pattern_string(pats[0]) == "+" * k and set(np.unique(pats)) == {-1.0, 1.0}


def test_sign_flip_scores_one_row_per_pattern_and_solver_pattern_is_the_plain_input(D):
    from lib.core import metrics
    from lib.train import architectures

    tr, ho = alignment.authors_split(D.y_source, seed=0)
    _, _, Xt = transfer_data.features("authors", D, 3, tr, ho)
    solver = alignment.authors_orientation(D.B, 3, "v")
    model = architectures.build_student(3)
    flips = experiment.sign_flip_scores(model, Xt, D.y_target, solver)
    assert len(flips) == 2 ** 3 and flips.pattern.is_unique
    direct = metrics.classify(D.y_target, model.predict(Xt, verbose=0))
    row = flips.set_index("pattern").loc[transfer_data.pattern_string(solver)]
    assert row.accuracy == pytest.approx(direct["accuracy"])
    assert row.sensitivity == pytest.approx(direct["sensitivity"])
    # authors_orientation: the solver's components times the pattern have loadings summing positive
    from sklearn.decomposition import PCA

    comps = PCA(3, svd_solver="full").fit(D.B).components_  # installed scikit-learn: convention 'v'
    assert ((comps * solver[:, None]).sum(axis=1) > 0).all()


def test_summarize_and_verdict_on_synthetic_rows():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(65), np.ones(35)].astype(int)
    rows = []
    for f, m in (("authors", "SM"), ("authors", "TM"), ("signed", "LR")):
        for s in range(4):
            for part in transfer_data.PARTS:
                acc = 0.9 if m == "LR" else rng.uniform(0.5, 0.8)
                rows.append({"run": "r", "features": f, "k": 3, "seed": s, "model": m, "part": part, "n": 100,
                             "accuracy": acc, "sensitivity": acc, "specificity": acc, "balanced_accuracy": acc,
                             "roc_auc": acc, "brier": 0.1, "tp": 1, "fp": 1, "tn": 1, "fn": 1})
    summ = transfer_data.summarize(pd.DataFrame(rows), y)
    assert list(summ.columns) == list(transfer_data.SUMMARY_COLUMNS)
    assert len(summ) == 3 * len(transfer_data.PARTS) * len(transfer_data.SUMMARY_METRICS) and (summ.n == 4).all()
    tgt = summ[(summ.part == "target")].set_index(["features", "model", "metric"])
    assert tgt.loc[("authors", "SM", "accuracy"), "majority"] == pytest.approx(0.65)
    assert tgt.loc[("authors", "SM", "sensitivity"), "majority"] == 0
    assert tgt.loc[("authors", "SM", "specificity"), "majority"] == 1
    assert summ[summ.part != "target"].majority.isna().all()
    has_authors = summ.authors_low.notna()
    assert has_authors.sum() == 1 and tgt.loc[("authors", "SM", "accuracy"), "authors_low"] > \
        tgt.loc[("authors", "SM", "accuracy"), "ci_low"]  # z with n = 13 is narrower than t with n = 4
    text = "\n".join(verdict.verdict(summ))
    assert "Above the majority class: 1 of 3 cells have a 95% t-interval of target accuracy entirely above 65.0%" in text \
        and "signed k=3 LR" in text


# ------------------------------------------------------------------------------------------------ experiment
def _tiny():
    return transfer_params.load("wdbc-to-bcd-fast", teacher_epochs=1, student_epochs=1, kd_epochs=1,
                         transfer={"seeds": 1, "k_values": [3]})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("KDSTUDY_OUTPUTS", str(tmp_path_factory.mktemp("outputs")))
    try:
        TP = _tiny()
        out = experiment.experiment(TP, log=lambda s: None)
        files = {k: p.read_bytes() for k, p in transfer_data.output_paths(TP.run).items()}
        yield TP, out, files
    finally:
        mp.undo()


def test_experiment_outputs_schema(tiny_run):
    TP, out, files = tiny_run
    df, summ = out.transfer, out.summary
    assert list(df.columns) == list(transfer_data.TRANSFER_COLUMNS)
    cnn = df[df.model != "LR"]
    assert len(cnn) == 2 * 1 * 1 * 3 * 3  # features x k x seeds x models x parts
    assert set(cnn.model) == set(transfer_data.CNN_MODELS) and set(df.part) == set(transfer_data.PARTS)
    lr = df[df.model == "LR"]
    assert sorted(lr.k.unique()) == list(transfer_data.LR_K_VALUES) and set(lr.features) == {"signed"}
    n = df.groupby("part").n.first()
    assert (n.wdbc_train, n.wdbc_holdout, n.target) == (341, 228, 683)
    assert ((df.tp + df.fn + df.tn + df.fp) == df.n).all() and df.accuracy.between(0, 1).all()
    assert out.majority == pytest.approx(444 / 683)
    assert list(summ.columns) == list(transfer_data.SUMMARY_COLUMNS) and (summ.n == 1).all()
    assert out.sign_flips.empty and list(out.sign_flips.columns) == list(transfer_data.FLIP_COLUMNS)  # k = 6 not run
    assert set(files) == {"transfer", "summary", "sign_flips"}
    assert pd.read_csv(transfer_data.output_paths(TP.run)["transfer"]).shape == df.shape  # written where paths says
    assert not list(transfer_data.output_paths(TP.run)["transfer"].parent.glob("*.tmp"))
    assert "no interval" in "\n".join(verdict.verdict(summ))


def test_experiment_is_deterministic(tiny_run, monkeypatch, tmp_path):
    """A second run of the same (features, k, seed) in the same process gives identical rows, hence identical
    CSVs (to keep the suite fast it re-runs the authors' half of the tiny experiment only)."""
    TP, first, _ = tiny_run
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(tmp_path))
    again = experiment.experiment(dataclasses.replace(TP, features=("authors",)), log=lambda s: None)
    written = pd.read_csv(transfer_data.output_paths(TP.run)["transfer"])
    for df in (again.transfer, written):
        assert df.to_csv(index=False) == first.transfer[first.transfer.features == "authors"].to_csv(index=False)
    assert again.summary.to_csv(index=False) == \
        first.summary[first.summary.features == "authors"].to_csv(index=False)


# ------------------------------------------------------------------------------------------------ the criterion
def _cells_summary(cells, majority=0.65):
    """A target summary with (features, k, model) -> (accuracy mean, ci_low, ci_high, balanced ci_low)."""
    rows = []
    for (f, k, m), (mean, lo, hi, bal_lo) in cells.items():
        for metric, v in (("accuracy", (mean, lo, hi)), ("balanced_accuracy", (mean, bal_lo, hi)),
                          ("sensitivity", (0.9, 0.8, 1.0)), ("specificity", (0.9, 0.8, 1.0))):
            rows.append({"run": "t", "features": f, "k": k, "model": m, "part": "target", "metric": metric,
                         "mean": v[0], "sd": 0.01, "ci_low": v[1], "ci_high": v[2], "n": 10,
                         "majority": majority if metric == "accuracy" else 0.5})
    return pd.DataFrame(rows)


def test_cells_criterion_majority_then_rules():
    summ = _cells_summary({("signed", 1, "LR"): (0.968, 0.967, 0.969, 0.95),  # narrow over seeds, 683 rows
                           ("signed", 3, "SM"): (0.90, 0.89, 0.91, 0.85),
                           ("authors", 6, "SM"): (0.72, 0.66, 0.78, 0.45),  # accuracy above, balanced not
                           ("authors", 3, "TM"): (0.60, 0.50, 0.70, 0.40)})
    c = verdict.configurations(summ).set_index(["features", "k", "model"])
    assert c.above_majority.to_dict() == {("signed", 1, "LR"): True, ("signed", 3, "SM"): True,
                                          ("authors", 6, "SM"): False, ("authors", 3, "TM"): False}
    rules = {"pc1_sign": 0.966, "two_means": 0.958}
    with pytest.raises(ValueError, match="n_rows"):
        verdict.configurations(summ, rules)
    c = verdict.configurations(summ, rules, n_rows=683).set_index(["features", "k", "model"])
    # 96.8 [96.7, 96.9] over seeds clears 96.6, but over 683 rows its Wilson bound (95.2) does not
    assert c.loc[("signed", 1, "LR"), "low_rows"] == pytest.approx(0.952, abs=0.002)
    assert not c.above_rules.any()
    big = verdict.configurations(summ, rules, n_rows=200_000).set_index(["features", "k", "model"])
    assert big.above_rules.to_dict()[("signed", 1, "LR")] and big.above_rules.sum() == 1
    lines = verdict.verdict(summ, rules, n_rows=683)
    assert lines[-1].startswith("Verdict: no cell is shown to transfer. 2 cell(s) beat the majority class")
    assert "The closest, signed k=1 LR: 96.8%" in lines[-1] and "Wilson lower bound over the target rows 95.2%" in lines[-1]
    yes = verdict.verdict(summ, rules, n_rows=200_000)
    assert yes[-1].startswith("Verdict: 1 of 4 cells transfer") and yes[-1].endswith("signed k=1 LR.")
    # without the rules the word 'transfers' is withheld
    assert "needs the target-only rules" in verdict.verdict(summ)[-1]
    none = _cells_summary({("authors", 3, "TM"): (0.60, 0.50, 0.70, 0.40)})
    assert verdict.verdict(none, rules, n_rows=683)[-1] == \
        "Verdict: no cell transfers: none even beats always answering 'benign'."
    # notebook 08 reads the same criterion
    v = tables.transfer_verdict(summ)
    assert v["n_above"] == 2 and set(v["above"]["model"]) == {"LR", "SM"}


def test_confounds_come_from_the_params():
    TP = transfer_params.load("wdbc-to-bcd")
    (lr,) = verdict.confounds(TP.params)
    assert lr.startswith("learning-rate confound: SM_scratch trains at Adam 0.0001, SM at 0.001 (10x)")
    assert verdict.model_label(TP.params, "SM_scratch") == "SM_scratch (Adam 0.0001: learning-rate confound)"
    same = transfer_params.load("wdbc-to-bcd", student_lr=1e-3)
    assert verdict.confounds(same.params) == [] and verdict.model_label(same.params, "SM_scratch") == "SM_scratch"
    ep = transfer_params.load("wdbc-to-bcd", student_lr=1e-3, student_epochs=20)
    assert verdict.confounds(ep.params) == ["epoch confound: SM_scratch trains 20 epochs, SM 50"]
    lines = verdict.verdict(_cells_summary({("signed", 1, "LR"): (0.968, 0.967, 0.969, 0.95)}),
                             confound=verdict.confounds(TP.params))
    assert lines[-1].startswith("Note: learning-rate confound")


def test_the_transfer_teacher_is_the_same_without_its_logged_validation(D):
    """03b trains its teacher without the WDBC holdout as Keras validation data (experiment.teacher_prep): the
    authors' validation only logged a curve, so the weights are bit for bit those of a teacher validated."""
    from lib.data import preprocess
    from lib.train import fitting

    TP = transfer_params.load("wdbc-to-bcd-fast")
    P = dataclasses.replace(TP.params, teacher_epochs=2)
    tr, ho = alignment.authors_split(D.y_source, seed=TP.seed_list[0], test_size=TP.holdout_size)
    Xtr, Xho, Xt = transfer_data.features("authors", D, 5, tr, ho, TP.sign_convention)
    prep = preprocess.Prepared(Xtr, D.y_source[tr], Xho, D.y_source[ho], Xt, D.y_target, transform=None)
    validated = fitting.train_teacher(P, prep, 7)
    alone = fitting.train_teacher(P, experiment.teacher_prep(P, prep), 7)
    assert "val_loss" in validated.history and "val_loss" not in alone.history
    assert all(np.array_equal(a, b) for a, b in zip(validated.model.get_weights(), alone.model.get_weights()))
    recomputing = dataclasses.replace(P, bn_recompute=True)  # the BatchNorm recompute would use validation ...
    with pytest.raises(ValueError, match=r"bn_recompute \(True\) would use it"):  # ... so it is not dropped
        experiment.teacher_prep(recomputing, prep)
