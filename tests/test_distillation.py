"""lib.train.distillation: notebook 03's bank of one split (grid cells, SM_scratch, SM_paperloss, SM) and what it keeps.

The chosen cell continued to kd_epochs *is* SM: a bank that trains only that (alpha, T) from the same initial
weights gives the same model (members never interact; only the float rounding of the stacked products differs,
as in tests/keras_reference.py's ``close``; test_student_bank checks a member against Keras)."""
import numpy as np
import pytest

from lib.core import params, repro
from lib.data import datasets, preprocess, splits
from lib.train import architectures, distillation, fitting, student_bank, teacher
from tests.keras_reference import close


@pytest.fixture(scope="module")
def split_with_teacher(tmp_path_factory):
    import os

    out = tmp_path_factory.mktemp("outputs")
    old = os.environ.get("KDSTUDY_OUTPUTS")
    os.environ["KDSTUDY_OUTPUTS"] = str(out)
    P = params.load("wdbc-fast", teacher_epochs=2, kd_epochs=4, student_epochs=3, ablation_epochs=2)
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    prep = preprocess.prepare(P, ds, s)
    fitting.save(fitting.train_teacher(P, prep, seed=s.seed).model, P.run, "TM", s.id)
    yield P, ds, s, prep
    if old is None:
        os.environ.pop("KDSTUDY_OUTPUTS", None)
    else:
        os.environ["KDSTUDY_OUTPUTS"] = old


def test_members_of_each_protocol():
    P = params.load("wdbc-fast")
    names = [m.name for m in distillation.members(P)]
    n = len(P.ablation_alphas) * len(P.ablation_temperatures)
    # rigorous: SM_scratch tuned over lr x epochs, one member per lr kept at every epoch count, as many cells
    assert names == [f"cell{k}" for k in range(n)] + [f"scratch{j}" for j in range(len(P.scratch_lrs))] + [
        "SM_paperloss"]
    assert len(distillation.scratch_grid_points(P)) == n == len(distillation.kd_grid_points(P))
    cell = distillation.members(P)[0]
    assert (cell.loss, cell.lr, cell.epochs, cell.snapshots) == (P.kd_loss, P.kd_lr, P.kd_epochs,
                                                                  (P.ablation_epochs,))
    scratch = distillation.members(P)[n]
    assert (scratch.loss, scratch.lr, scratch.epochs, scratch.snapshots) == (
        "bce", P.scratch_lrs[0], max(P.scratch_epochs), tuple(sorted(P.scratch_epochs)))
    fixed = params.load("wdbc-fast", scratch_lrs=[], scratch_epochs=[])
    scratch = distillation.members(fixed)[n]
    assert (scratch.name, scratch.loss, scratch.lr, scratch.epochs) == ("SM_scratch", "bce", fixed.student_lr,
                                                                         fixed.student_epochs)
    paper = params.load("wdbc-paper-fast")  # the authors' (0.1, 10) is a cell of their grid: no extra member
    assert (paper.kd_alpha, paper.kd_temperature) in distillation.kd_grid_points(paper)
    assert [m.name for m in distillation.members(paper)][-1] == "SM_scratch"
    off_grid = params.load("wdbc-paper-fast", kd_temperature=4.0)
    sm = distillation.members(off_grid)[-1]
    assert (sm.name, sm.alpha, sm.temperature, sm.loss) == ("SM", off_grid.kd_alpha, 4.0, "paper")


def test_grid_longer_than_sm_is_refused():
    P = params.load("wdbc-fast", ablation_epochs=5, kd_epochs=3)
    with pytest.raises(ValueError, match=r"ablation_epochs \(5\) > kd_epochs \(3\)"):
        distillation.members(P)


def test_split_outcome_and_sm_is_the_chosen_cell_continued(split_with_teacher, monkeypatch):
    P, ds, s, prep = split_with_teacher
    # choose the grid's last cell, so that an indexing slip between grid and bank cannot pass unseen
    monkeypatch.setattr(fitting, "choose", lambda grid: grid[-1])
    teacher = fitting.load_model(P.run, "TM", s.id)
    before = [w.copy() for w in teacher.get_weights()]
    o = distillation.students_of_split(P, ds, s, "val")
    assert [r["model"] for r in o.rows] == ["SM_scratch", "SM", "SM_paperloss", "LR", "RF"]
    last_lr, last_epochs = distillation.scratch_grid_points(P)[-1]  # the scratch grid's last cell, chosen likewise
    assert (o.chosen["scratch_lr"], o.chosen["scratch_epochs"]) == (last_lr, last_epochs)
    scr_row = next(r for r in o.rows if r["model"] == "SM_scratch")
    assert (scr_row["student_lr"], scr_row["student_epochs"]) == (last_lr, last_epochs)
    assert len(o.scratch_grid) == len(distillation.scratch_grid_points(P))
    # every model's operating point from out-of-fold predictions (SM_paperloss too), with its calibration
    assert {r["op_source"] for r in o.rows} == {"oof"} and {r["op_rule"] for r in o.rows} == {"conformal"}
    assert all(np.isfinite(r["cal_a"]) and np.isfinite(r["cal_b"]) for r in o.rows)
    assert [(p["model"].iloc[0], len(p)) for p in o.predictions] == [("LR", len(s.test)), ("RF", len(s.test))]
    assert len(o.grid) == len(distillation.kd_grid_points(P)) and {g["scored_on"] for g in o.grid} == {"val"}
    best = o.grid[-1]
    assert (best["alpha"], best["temperature"]) == distillation.kd_grid_points(P)[-1]
    assert (o.chosen["alpha"], o.chosen["temperature"]) == (best["alpha"], best["temperature"])
    sm_row = next(r for r in o.rows if r["model"] == "SM")
    assert (sm_row["kd_alpha"], sm_row["kd_temperature"]) == (best["alpha"], best["temperature"])
    assert np.isnan(next(r for r in o.rows if r["model"] == "SM_scratch")["kd_alpha"])
    curves = {(c["model"], c["epoch"]) for c in o.curves}
    assert ("SM", P.kd_epochs) in curves and ("SM_scratch", last_epochs) in curves
    assert ("SM_scratch", last_epochs + 1) not in curves
    # SM as a fresh distillation with the chosen cell alone (same class weights, same BatchNorm recompute):
    # the same model up to float rounding
    repro.seed_everything(s.seed)
    init = architectures.build_student(prep.n_features).get_weights()
    cw = fitting.class_weights(P, prep.y_train)
    alone = student_bank.train([student_bank.Member("SM", P.kd_loss, P.kd_lr, P.kd_epochs, best["alpha"], best["temperature"])],
                       init, prep.X_train, prep.y_train, s.seed, P.batch_size,
                       t_logits_train=student_bank.teacher_logits(teacher, prep.X_train), row_weights=cw[prep.y_train])["SM"]
    fitting.finish_bn(P, alone.model, prep.X_train)
    saved = fitting.load_model(P.run, "SM", s.id)
    close(alone.model.get_weights(), saved.get_weights(), X=prep.X_test[..., 0])
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))  # the teacher is untouched
    again = distillation.students_of_split(P, ds, s, "val")  # same seed, same numbers
    assert [r["accuracy"] for r in again.rows] == [r["accuracy"] for r in o.rows] and again.grid == o.grid


def test_grid_is_scored_at_ablation_epochs_not_at_the_end(split_with_teacher):
    P, ds, s, _ = split_with_teacher
    one = distillation.students_of_split(params.load(P.run, **{**_overrides(P), "ablation_epochs": 1}), ds, s, "val")
    two = distillation.students_of_split(params.load(P.run, **{**_overrides(P), "ablation_epochs": 2}), ds, s, "val")
    assert [g["bce"] for g in one.grid] != [g["bce"] for g in two.grid]  # the grid reads its snapshot
    same = lambda row: {k: v for k, v in row.items() if k != "train_time_s"}  # noqa: E731 (bank seconds)
    assert same(one.rows[0]) == same(two.rows[0])  # SM_scratch does not depend on the grid


def _overrides(P):
    return {k: getattr(P, k) for k in ("teacher_epochs", "kd_epochs", "student_epochs")}


def _poisoned(ds, s):
    """A copy of ``ds`` whose test rows of split ``s`` have flipped labels and shuffled, scaled features."""
    import copy

    bad = copy.deepcopy(ds)
    rng = np.random.default_rng(0)
    bad.y = bad.y.copy()
    bad.y[s.test] = 1 - bad.y[s.test]
    X = bad.X.to_numpy(copy=True)
    X[s.test] = X[rng.permutation(s.test)] * 3.0
    bad.X = type(bad.X)(X, columns=bad.X.columns)
    return bad


def test_thresholds_never_read_the_test_part(split_with_teacher):
    """Poisoning the test part (labels flipped, features shuffled) changes every test metric and no operating
    point: the teacher's (out-of-fold teachers), the students' and baselines' (out of fold), SM_INT8's
    (out-of-fold students quantized) and TM_PTQ_INT8's (out-of-fold teachers quantized)."""
    from lib.compress import quantization

    P, ds, s, prep = split_with_teacher
    bad = _poisoned(ds, s)
    clean, dirty = (distillation.students_of_split(P, d, s, "val").rows for d in (ds, bad))
    point = lambda r: (r["op_threshold"], r["cal_a"], r["cal_b"])  # noqa: E731
    assert [point(r) for r in clean] == [point(r) for r in dirty]
    assert [r["accuracy"] for r in clean] != [r["accuracy"] for r in dirty]
    t_clean = quantization.oof_point(P, ds, s, prep, "SM_INT8")
    t_dirty = quantization.oof_point(P, bad, s, preprocess.prepare(P, bad, s), "SM_INT8")
    assert t_clean == t_dirty and 0 < t_clean.threshold < 1 and np.isfinite(t_clean.cal_a)
    tm_clean, tm_dirty = (teacher.teacher_split(P, d, s).rows[0] for d in (ds, bad))
    assert point(tm_clean) == point(tm_dirty) and tm_clean["op_source"] == "oof"
    assert tm_clean["accuracy"] != tm_dirty["accuracy"]
    assert (quantization.oof_point(P, ds, s, prep, "TM_PTQ_INT8")  # the out-of-fold teachers of the last call
            == quantization.oof_point(P, bad, s, preprocess.prepare(P, bad, s), "TM_PTQ_INT8"))
    fitting.save(fitting.train_teacher(P, prep, seed=s.seed).model, P.run, "TM", s.id)  # as the fixture left it


@pytest.mark.parametrize("run", ["wdbc-fast", "wdbc-paper-fast"])  # BatchNorm recomputed / not
def test_the_shared_scoring_student_predicts_as_a_new_student(run):
    """Grid cells and SM_scratch's out-of-fold models are predicted with one Keras student per feature count,
    given each cell's weights: after it has held other weights and predicted inputs of other sizes, its outputs
    must equal, bit for bit, those of a student built for the cell alone."""
    P = params.load(run)
    rng = np.random.default_rng(0)
    X_fit = rng.standard_normal((50, 7, 1)).astype(np.float32)
    X = rng.standard_normal((37, 7, 1)).astype(np.float32)
    cells = []
    for seed in (1, 2, 3):
        repro.seed_everything(seed)
        w = architectures.build_student(7).get_weights()
        w = [v + 0.1 * rng.standard_normal(v.shape).astype(np.float32) for v in w]  # moving statistics too
        w[5], w[11] = np.abs(w[5]) + 0.5, np.abs(w[11]) + 0.5  # variances stay positive
        cells.append(w)
    distillation._scoring_predict(P, cells[2], 7, X_fit[:20], X[:5])  # other weights, other sizes first
    for w in cells:
        shared = distillation._scoring_predict(P, w, 7, X_fit, X)
        alone = fitting.predict(distillation._student(P, w, 7, "cell", X_fit), X)
        np.testing.assert_array_equal(shared, alone)
