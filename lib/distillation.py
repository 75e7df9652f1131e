"""Notebook 03's work for one split: the alpha x T ablation, SM_scratch, SM and (rigorous) SM_paperloss, all
trained side by side in one :mod:`lib.bank` (issue 11), handed to :func:`lib.parallel.map` split by split.

What each model is (the same definitions as before the bank; only the engine changed):

- **grid cells**: one student per (alpha, T) of ``ablation_alphas`` x ``ablation_temperatures``, the run's KD
  loss at ``kd_lr``, scored after ``ablation_epochs`` on the inner validation part (rigorous) or on the test part
  (paper, as the authors did);
- **SM**: in rigorous runs the chosen cell (:func:`lib.training.choose`) *continued* to ``kd_epochs``; that is
  the computation of a fresh student distilled with the chosen (alpha, T): same loss, initial weights, batches
  and dropout masks, since a bank's members never interact (a bank of that one member gives the same model up
  to the float rounding of the stacked products, ``tests/test_distillation.py``). In paper runs the authors' fixed (``kd_alpha``,
  ``kd_temperature``), which is one of the grid's cells when the grid holds it (the authors' grid does) and a
  member of its own otherwise;
- **SM_scratch**: hard labels only, ``student_lr`` and ``student_epochs``;
- **SM_paperloss** (rigorous): the authors' KD loss at (``kd_alpha``, ``kd_temperature``), SM's budget.

Every student of a split starts from the same initial weights (the split's seed) and sees the same batches.
``train_time_s`` of a banked student is the bank's wall time divided by its members (docs/results.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tf_keras as keras

from . import bank, metrics, models, preprocess, repro, results, training


@dataclass
class SplitOutcome:
    """What notebook 03 keeps of one split (models are saved by the worker)."""
    rows: list[dict] = field(default_factory=list)     # results contract rows, one per model
    grid: list[dict] = field(default_factory=list)     # one row per (alpha, T) cell
    chosen: dict = field(default_factory=dict)         # the split's (alpha, T) for SM
    curves: list[dict] = field(default_factory=list)   # per-epoch history of the saved models
    line: str = ""                                     # the progress line


def cells(P) -> list[tuple[float, float]]:
    return [(float(a), float(t)) for a in P.ablation_alphas for t in P.ablation_temperatures]


def members(P) -> list[bank.Member]:
    """The bank of one split: grid cells (to ``kd_epochs``, kept at ``ablation_epochs``), SM_scratch,
    SM_paperloss (rigorous) and, in paper runs whose grid lacks (kd_alpha, kd_temperature), SM itself."""
    if P.ablation_epochs > P.kd_epochs:
        raise ValueError(f"run {P.run}: ablation_epochs ({P.ablation_epochs}) > kd_epochs ({P.kd_epochs}): the "
                         f"chosen cell continues to kd_epochs as SM, so the grid cannot train longer than SM")
    out = [bank.Member(f"cell{k}", P.kd_loss, P.kd_lr, P.kd_epochs, a, t, snapshots=(P.ablation_epochs,))
           for k, (a, t) in enumerate(cells(P))]
    out.append(bank.Member("SM_scratch", "bce", P.student_lr, P.student_epochs))
    if not P.is_paper:
        out.append(bank.Member("SM_paperloss", "paper", P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature))
    elif (float(P.kd_alpha), float(P.kd_temperature)) not in cells(P):
        out.append(bank.Member("SM", P.kd_loss, P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature))
    return out


def _score(weights, n_features: int, X, y) -> dict:
    """A grid cell's accuracy and BCE on (X, y), as :func:`lib.training.ablation` scored them."""
    out = training.predict(bank.to_keras(weights, n_features, "cell"), X)
    return {"accuracy": metrics.classify(y, out)["accuracy"],
            "bce": float(keras.losses.BinaryCrossentropy()(training.onehot(y), out).numpy())}


def students_of_split(P, ds, s, score_on: str) -> SplitOutcome:
    """Train and evaluate every student of split ``s`` (its teacher from notebook 02) and save SM_scratch, SM and
    SM_paperloss; returns their rows, the grid, the chosen cell and the learning curves."""
    prep = preprocess.prepare(P, ds, s)
    teacher = training.load_model(P.run, "TM", s.id)
    repro.seed_everything(s.seed)
    init = models.build_student(prep.n_features).get_weights()  # SM's and SM_scratch's initial weights, as before
    ms = members(P)
    trained = bank.train(ms, init, prep.X_train, prep.y_train, s.seed, P.batch_size,
                         t_logits_train=bank.teacher_logits(teacher, prep.X_train), X_val=prep.X_val,
                         y_val=prep.y_val)
    X, y = (prep.X_val, prep.y_val) if score_on == "val" else (prep.X_test, prep.y_test)
    grid = []
    for k, (alpha, T) in enumerate(cells(P)):
        snap = trained[f"cell{k}"].snapshots[P.ablation_epochs]
        grid.append({"split": s.id, "alpha": alpha, "temperature": T, "scored_on": score_on,
                     **_score(snap, prep.n_features, X, y)})
    if P.is_paper:  # the authors trained their final SM with alpha .1, T 10 whatever the grid said
        alpha, T = float(P.kd_alpha), float(P.kd_temperature)
    else:
        best = training.choose(grid)
        alpha, T = best["alpha"], best["temperature"]
    sm = trained["SM"] if "SM" in trained else trained[f"cell{cells(P).index((alpha, T))}"]
    keep = {"SM_scratch": trained["SM_scratch"], "SM": sm}
    if "SM_paperloss" in trained:
        keep["SM_paperloss"] = trained["SM_paperloss"]
    out = SplitOutcome(grid=grid, chosen={"split": s.id, "alpha": alpha, "temperature": T})
    per_member = sm.seconds / len(ms)
    line = []
    for name, t in keep.items():
        model = bank.to_keras(t.model.get_weights(), prep.n_features, name)
        training.compiled(model, P.kd_lr if name != "SM_scratch" else P.student_lr)
        training.save(model, P.run, name, s.id)
        m = training.evaluate(model, prep.X_test, prep.y_test)
        train_acc = training.evaluate(model, prep.X_train, prep.y_train)["accuracy"]
        out.rows.append(results.row(P, s, name, "keras", m, params=model.count_params(), train_accuracy=train_acc,
                                    train_time_s=round(per_member, 2), kd_alpha=alpha if name == "SM" else np.nan,
                                    kd_temperature=T if name == "SM" else np.nan))
        out.curves += training.history_rows(t.history, s.id, name)
        line.append(f"{name} {m['accuracy']:.4f}")
    out.line = f"alpha {alpha}, T {T}: " + ", ".join(line) + f" (bank of {len(ms)}: {sm.seconds:.1f} s)"
    return out
