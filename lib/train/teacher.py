"""Notebook 02: the teacher (TM) of one split, trained, saved and evaluated; its out-of-fold copies for the
operating point; the BatchNorm check."""
from __future__ import annotations

import dataclasses

import numpy as np

from lib.core import metrics, operating, results
from lib.core.results import Outcome
from lib.data import preprocess
from lib.train.fitting import evaluate, history_rows, predict, save, train_teacher


def bn_check(rows, limit: float) -> list[dict]:
    """Rows (results rows with ``fit_train_accuracy`` and ``train_accuracy``) whose evaluation-mode training
    accuracy is more than ``limit`` below the fit-time one: BatchNorm statistics that do not describe the
    training rows (as PBCNT's teachers had before :func:`lib.train.fitting.recompute_bn`)."""
    return [r for r in rows if r.get("fit_train_accuracy") is not None
            and r["fit_train_accuracy"] - r["train_accuracy"] > limit]


def oof_teachers(P, ds, s, prep, seed: int | None = None, tag: str = "") -> tuple[np.ndarray, int, float]:
    """Out-of-fold outputs of the split's training rows, the number of parts and the seconds their teachers
    trained. For each part j of :func:`lib.core.operating.oof_fold` (the parts the students' out-of-fold copies
    use), a teacher trained exactly as the split's (:func:`lib.train.fitting.train_teacher`: the split's seed,
    class weights of its own rows, BatchNorm statistics recomputed on its own rows, early stopping on the split's
    inner validation part) on the training rows outside part j, saved as ``TM_oof<j>`` (notebook 05 converts
    them), and run on part j's rows. ``seed`` (default: the split's) and ``tag`` (appended to the saved names):
    as :func:`teacher_split`."""
    fold = operating.oof_fold(P, ds, s, prep.y_train)
    out = np.zeros((len(prep.y_train), 2), np.float32)
    seconds = 0.0
    for j in range(int(fold.max()) + 1):
        part = dataclasses.replace(prep, X_train=prep.X_train[fold != j], y_train=prep.y_train[fold != j])
        t = train_teacher(P, part, seed=s.seed if seed is None else seed)
        save(t.model, P.run, f"TM_oof{j}{tag}", s.id)
        out[fold == j] = predict(t.model, prep.X_train[fold == j])
        seconds += t.seconds
    return out, int(fold.max()) + 1, seconds


def teacher_split(P, ds, s, seed: int | None = None, tag: str = "", oof: bool = True) -> Outcome:
    """Notebook 02: train the split's teacher (TM), save it, evaluate it on the test and training rows; with a
    target sensitivity, its operating point from :func:`oof_teachers` (:mod:`lib.core.operating`). The row
    carries the BatchNorm check: ``fit_train_accuracy`` (the kept epoch's accuracy during fitting, dropout on,
    batch statistics) against ``train_accuracy`` (evaluation mode, as the model is used); and the epochs
    trained. ``seed``: the training seed (default: the split's); ``tag``: appended to the saved models' names;
    ``oof=False``: no out-of-fold teachers, so no operating point (a training-seed replicate,
    :mod:`lib.replicate.seeds`)."""
    prep = preprocess.prepare(P, ds, s)
    seed = s.seed if seed is None else seed
    t = train_teacher(P, prep, seed=seed)
    save(t.model, P.run, f"TM{tag}", s.id)
    out_test = predict(t.model, prep.X_test)
    m = metrics.classify(prep.y_test, out_test)
    oof_note = ""
    if P.target_sensitivity is not None and oof:
        oof_out, k, oof_seconds = oof_teachers(P, ds, s, prep, seed, tag)
        m.update(operating.fields(prep.y_test, out_test, operating.fit(P, prep.y_train, oof_out)))
        oof_note = f"; {k} out-of-fold teachers ({oof_seconds:.1f} s)"
    train_acc = evaluate(t.model, prep.X_train, prep.y_train)["accuracy"]
    kept = (t.best_epoch or len(t.history["accuracy"])) - 1
    extra = {"fit_train_accuracy": t.history["accuracy"][kept], "epochs_trained": len(t.history["accuracy"]),
             "best_epoch": t.best_epoch or np.nan}
    row = results.row(P, s, "TM", "keras", m, params=t.model.count_params(), train_accuracy=train_acc,
                      train_time_s=round(t.seconds, 2), **extra)
    return Outcome([row], {"curves": history_rows(t.history, s.id, "TM")},
                   f"test accuracy {m['accuracy']:.4f}, train accuracy {train_acc:.4f}, "
                   f"{extra['epochs_trained']} epochs ({t.seconds:.1f} s){oof_note}")
