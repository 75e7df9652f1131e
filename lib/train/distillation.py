"""Notebook 03's work for one split: the alpha x T ablation, SM_scratch, SM and (rigorous) SM_paperloss, all
trained side by side in one :mod:`lib.train.student_bank`, handed to :func:`lib.core.parallel.map` split by split.

What each model is:

- **grid cells**: one student per (alpha, T) of ``ablation_alphas`` x ``ablation_temperatures``, the run's KD
  loss at ``kd_lr``, scored after ``ablation_epochs`` on the inner validation part (rigorous) or on the test part
  (paper, as the authors did);
- **SM**: in rigorous runs the chosen cell (:func:`lib.train.fitting.choose`) *continued* to ``kd_epochs``; that is
  the computation of a fresh student distilled with the chosen (alpha, T): same loss, initial weights, batches
  and dropout masks, since a bank's members never interact (a bank of that one member gives the same model up
  to the float rounding of the stacked products, ``tests/test_distillation.py``). In paper runs the authors' fixed (``kd_alpha``,
  ``kd_temperature``), which is one of the grid's cells when the grid holds it (the authors' grid does) and a
  member of its own otherwise;
- **SM_scratch**: hard labels only. Paper runs: ``student_lr`` and ``student_epochs``. Rigorous runs: tuned on
  the inner validation part over ``scratch_lrs`` x ``scratch_epochs``, as many cells as SM's alpha x T grid
  (equal tuning budgets; one member per learning rate, kept at each epoch count);
- **SM_paperloss** (rigorous): the authors' KD loss at (``kd_alpha``, ``kd_temperature``), SM's budget;
- **LR, RF** (rigorous, ``baselines``): :mod:`lib.train.baselines` on the same prepared rows.

Every student of a split starts from the same initial weights (the split's seed) and sees the same batches.
With ``class_weight`` each row's loss weighs by its class; with ``bn_recompute`` every student's BatchNorm
statistics (grid snapshots before scoring included) are recomputed on the training rows
(:func:`lib.train.fitting.recompute_bn`); selection is by balanced accuracy when the run is class-weighted.

**Operating point** (``target_sensitivity``, :mod:`lib.core.operating`): a second bank trains, for each of
``oof_folds`` folds of the training rows, SM (the chosen alpha, T), SM_scratch (the chosen cell) and SM_paperloss
with that fold's rows weighted 0, and predicts them: the out-of-fold predictions that set each one's threshold and
Platt calibration. These students distil from the split's teacher, which was fitted on every training row (the
held-out rows' soft targets come from a teacher that saw them). The out-of-fold SMs are saved (``SM_oof<j>``)
for SM_INT8's operating point in notebook 05. The baselines' test scores go to ``predictions_03.csv``
(:func:`lib.core.results.write_predictions`), which notebook 06 merges into ``predictions.csv``.
``train_time_s`` of a banked student is the bank's wall time divided by its members (docs/results.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import tf_keras as keras

from lib.core import metrics, operating, repro, results
from lib.data import preprocess
from lib.train import architectures, baselines, fitting, student_bank


OOF_MODELS = ("SM", "SM_scratch", "SM_paperloss")  # the students with out-of-fold copies (rigorous runs)


@dataclass
class SplitOutcome:
    """What notebook 03 keeps of one split (models are saved by the worker)."""
    rows: list[dict] = field(default_factory=list)     # results contract rows, one per model
    grid: list[dict] = field(default_factory=list)     # one row per (alpha, T) cell
    chosen: dict = field(default_factory=dict)         # the split's (alpha, T) for SM
    curves: list[dict] = field(default_factory=list)   # per-epoch history of the saved models
    line: str = ""                                     # the progress line
    scratch_grid: list[dict] = field(default_factory=list)  # one row per SM_scratch (lr, epochs) cell
    predictions: list[pd.DataFrame] = field(default_factory=list)  # the baselines' test scores


def kd_grid_points(P) -> list[tuple[float, float]]:
    return [(float(a), float(t)) for a in P.ablation_alphas for t in P.ablation_temperatures]


def scratch_grid_points(P) -> list[tuple[float, int]]:
    """SM_scratch's (learning rate, epochs) grid; empty: the fixed (student_lr, student_epochs)."""
    return [(float(lr), int(e)) for lr in P.scratch_lrs for e in P.scratch_epochs]


def members(P) -> list[student_bank.Member]:
    """The bank of one split: grid cells (to ``kd_epochs``, kept at ``ablation_epochs``), SM_scratch,
    SM_paperloss (rigorous) and, in paper runs whose grid lacks (kd_alpha, kd_temperature), SM itself."""
    if P.ablation_epochs > P.kd_epochs:
        raise ValueError(f"run {P.run}: ablation_epochs ({P.ablation_epochs}) > kd_epochs ({P.kd_epochs}): the "
                         f"chosen cell continues to kd_epochs as SM, so the grid cannot train longer than SM")
    out = [student_bank.Member(f"cell{k}", P.kd_loss, P.kd_lr, P.kd_epochs, a, t, snapshots=(P.ablation_epochs,))
           for k, (a, t) in enumerate(kd_grid_points(P))]
    if scratch_grid_points(P):
        top = max(P.scratch_epochs)
        out += [student_bank.Member(f"scratch{j}", "bce", float(lr), top, snapshots=tuple(sorted(set(P.scratch_epochs))))
                for j, lr in enumerate(P.scratch_lrs)]
    else:
        out.append(student_bank.Member("SM_scratch", "bce", P.student_lr, P.student_epochs))
    if not P.is_paper:
        out.append(student_bank.Member("SM_paperloss", "paper", P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature))
    elif (float(P.kd_alpha), float(P.kd_temperature)) not in kd_grid_points(P):
        out.append(student_bank.Member("SM", P.kd_loss, P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature))
    return out


def _student(P, weights, n_features: int, name: str, X_fit) -> keras.Model:
    """A banked student as a Keras model, its BatchNorm statistics recomputed on ``X_fit`` if the run asks."""
    return fitting.finish_bn(P, student_bank.to_keras(weights, n_features, name), X_fit)


# One scoring student per feature count in a process. Not thread-safe (set_weights, then predict): the study
# runs one task at a time per process (sequential, process pool, Dask workers with --nthreads 1, README).
_SCORING: dict[int, keras.Model] = {}


def _scoring_predict(P, weights, n_features: int, X_fit, X) -> np.ndarray:
    """The outputs on ``X`` of :func:`_student` for a model that is only predicted, never saved (grid cells,
    SM_scratch's out-of-fold models): one Keras student per feature count in this process, given ``weights``
    each time. A model holding the same weights gives the same outputs whichever object it is (the same layers
    and the same traced predict function; the BatchNorm recompute overwrites the statistics from ``X_fit``), so
    this saves building a student and tracing its predict function for every cell of every split. It returns predictions, never the shared model, so no caller can keep or save it."""
    model = _SCORING.get(n_features)
    if model is None:
        model = _SCORING[n_features] = student_bank.to_keras(weights, n_features, "cell")
    else:
        model.set_weights(weights)
    return fitting.predict(fitting.finish_bn(P, model, X_fit), X)


def _score(P, weights, n_features: int, X, y, X_fit) -> dict:
    """A grid cell's accuracy, balanced accuracy and BCE on (X, y); ``selection``: what
    :func:`lib.train.fitting.choose` ranks (balanced accuracy when the run is class-weighted, else accuracy)."""
    out = _scoring_predict(P, weights, n_features, X_fit, X)
    m = metrics.classify(y, out)
    return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
            "bce": float(keras.losses.BinaryCrossentropy()(fitting.onehot(y), out).numpy()),
            "selection": m["balanced_accuracy"] if P.class_weight else m["accuracy"]}


def oof_members(P, alpha: float, T: float, scratch: tuple[float, int], k: int,
                names=OOF_MODELS) -> list[student_bank.Member]:
    """The second bank: per out-of-fold part j, each of ``names`` as it was trained: SM (alpha, T, kd_epochs),
    SM_scratch (its chosen cell), SM_paperloss (the authors' loss at kd_alpha, kd_temperature); grouped by
    model, parts in order."""
    lr, epochs = scratch
    spec = {"SM": (P.kd_loss, P.kd_lr, P.kd_epochs, alpha, T), "SM_scratch": ("bce", lr, epochs),
            "SM_paperloss": ("paper", P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature)}
    return [student_bank.Member(f"{name}_oof{j}", *spec[name]) for name in names for j in range(k)]


def students_of_split(P, ds, s, score_on: str, seed: int | None = None, tag: str = "") -> SplitOutcome:
    """Train and evaluate every student of split ``s`` (its teacher from notebook 02) and save SM_scratch, SM and
    SM_paperloss; with ``baselines`` also LR and RF; returns their rows, the grids, the chosen cells and the
    learning curves. ``seed``: the training seed (default: the split's), ``tag``: appended to the names of the
    teacher it loads and of the models it saves; a tagged call (a training-seed replicate,
    :mod:`lib.replicate.seeds`) trains no baselines, whose fit does not depend on the networks' seed."""
    prep = preprocess.prepare(P, ds, s)
    teacher = fitting.load_model(P.run, f"TM{tag}", s.id)
    seed = s.seed if seed is None else seed
    repro.seed_everything(seed)
    init = architectures.build_student(prep.n_features).get_weights()  # SM's and SM_scratch's initial weights
    ms = members(P)
    cw = fitting.class_weights(P, prep.y_train)
    row_w = None if cw is None else cw[prep.y_train]
    t_logits = student_bank.teacher_logits(teacher, prep.X_train)
    trained = student_bank.train(ms, init, prep.X_train, prep.y_train, seed, P.batch_size, t_logits_train=t_logits,
                         X_val=prep.X_val, y_val=prep.y_val, row_weights=row_w)
    X, y = (prep.X_val, prep.y_val) if score_on == "val" else (prep.X_test, prep.y_test)
    grid = []
    for k, (alpha, T) in enumerate(kd_grid_points(P)):
        snap = trained[f"cell{k}"].snapshots[P.ablation_epochs]
        grid.append({"split": s.id, "alpha": alpha, "temperature": T, "scored_on": score_on,
                     **_score(P, snap, prep.n_features, X, y, prep.X_train)})
    if P.is_paper:  # the authors trained their final SM with alpha .1, T 10 whatever the grid said
        alpha, T = float(P.kd_alpha), float(P.kd_temperature)
    else:
        best = fitting.choose(grid)
        alpha, T = best["alpha"], best["temperature"]
    sm = trained["SM"] if "SM" in trained else trained[f"cell{kd_grid_points(P).index((alpha, T))}"]
    scratch_grid, scratch = [], (P.student_lr, P.student_epochs)
    if scratch_grid_points(P):
        for lr, e in scratch_grid_points(P):
            snap = trained[f"scratch{P.scratch_lrs.index(lr)}"].snapshots[e]
            scratch_grid.append({"split": s.id, "lr": lr, "epochs": e, "scored_on": score_on, "weights": snap,
                                 **_score(P, snap, prep.n_features, X, y, prep.X_train)})
        pick = fitting.choose(scratch_grid)
        scratch = (pick["lr"], pick["epochs"])
        first = trained[f"scratch{P.scratch_lrs.index(pick['lr'])}"]
        hist = {k: v[:pick["epochs"]] for k, v in first.history.items()}
        keep = {"SM_scratch": (pick.pop("weights"), hist)}
        for g in scratch_grid:
            g.pop("weights", None)
    else:
        keep = {"SM_scratch": (trained["SM_scratch"].weights, trained["SM_scratch"].history)}
    keep["SM"] = (sm.weights, sm.history)
    if "SM_paperloss" in trained:
        keep["SM_paperloss"] = (trained["SM_paperloss"].weights, trained["SM_paperloss"].history)
    out = SplitOutcome(grid=grid, chosen={"split": s.id, "alpha": alpha, "temperature": T,
                                          "scratch_lr": scratch[0], "scratch_epochs": scratch[1]})
    out.scratch_grid = scratch_grid
    points, fold = {}, None
    if P.target_sensitivity is not None:
        fold = operating.oof_fold(P, ds, s, prep.y_train)
        k = int(fold.max()) + 1
        names = [n for n in OOF_MODELS if n in keep]
        om = oof_members(P, alpha, T, scratch, k, names)
        w = np.stack([(fold != j).astype(np.float32) for j in range(k)] * len(names))
        if row_w is not None:
            w = w * row_w[None]
        oof_trained = student_bank.train(om, init, prep.X_train, prep.y_train, seed, P.batch_size,
                                 t_logits_train=t_logits, row_weights=w)
        for name in names:
            pred = np.zeros((len(prep.y_train), 2), np.float32)
            for j in range(k):
                weights, fit_rows = oof_trained[f"{name}_oof{j}"].weights, prep.X_train[fold != j]
                # SM's out-of-fold students are saved (notebook 05 converts them), the others only predict
                if name == "SM":
                    model = _student(P, weights, prep.n_features, name, fit_rows)
                    pred[fold == j] = fitting.predict(model, prep.X_train[fold == j])
                    fitting.save(model, P.run, f"SM_oof{j}{tag}", s.id)
                else:
                    pred[fold == j] = _scoring_predict(P, weights, prep.n_features, fit_rows,
                                                       prep.X_train[fold == j])
            points[name] = operating.fit(P, prep.y_train, pred)
    per_member = sm.seconds / len(ms)
    line = []
    for name, (weights, history) in keep.items():
        model = _student(P, weights, prep.n_features, name, prep.X_train)
        fitting.compiled(model, P.kd_lr if name != "SM_scratch" else scratch[0])
        fitting.save(model, P.run, name + tag, s.id)
        out_test = fitting.predict(model, prep.X_test)
        m = metrics.classify(prep.y_test, out_test)
        m.update(operating.fields(prep.y_test, out_test, points.get(name)))
        train_acc = fitting.evaluate(model, prep.X_train, prep.y_train)["accuracy"]
        out.rows.append(results.row(P, s, name, "keras", m, params=model.count_params(), train_accuracy=train_acc,
                                    train_time_s=round(per_member, 2), kd_alpha=alpha if name == "SM" else np.nan,
                                    kd_temperature=T if name == "SM" else np.nan,
                                    student_lr=scratch[0] if name == "SM_scratch" else np.nan,
                                    student_epochs=scratch[1] if name == "SM_scratch" else np.nan))
        out.curves += fitting.history_rows(history, s.id, name)
        line.append(f"{name} {m['accuracy']:.4f}")
    if P.baselines and not tag:
        rows, scores = baselines.rows_of_split(P, s, prep, fold)
        for r in rows:
            out.rows.append(r)
            line.append(f"{r['model']} {r['accuracy']:.4f}")
        out.predictions += [results.prediction_rows(P.run, s, prep.y_test, name, score) for name, score in scores.items()]
    out.line = f"alpha {alpha}, T {T}: " + ", ".join(line) + f" (bank of {len(ms)}: {sm.seconds:.1f} s)"
    return out
