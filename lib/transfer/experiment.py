"""Notebook 03b: the cross-dataset transfer experiment (train on WDBC, test on all of BCD).

The experiment (:func:`experiment`), for each feature method, k and seed s:

- WDBC split by :func:`lib.transfer.alignment.authors_split` (seed s); features from
  :func:`lib.transfer.alignment.authors_features` (the authors': a separate raw PCA per dataset) or
  :func:`lib.transfer.alignment.signed_features` (label-free: own scaler + PCA per dataset, signs by loadings);
- TM trained with :mod:`lib.train.fitting` on the WDBC training rows, SM_scratch and SM side by side in one
  :mod:`lib.train.student_bank`, none of them validated during training: the authors' ``validation_data`` only logged a
  curve, which nothing here reads and which changes no weight (:func:`teacher_prep`); all three evaluated on the WDBC
  training rows, the WDBC holdout and all of BCD; each (features, k, seed) goes through :func:`lib.core.parallel.map`;
- extras without training: the **sign flips** (authors' features, k = 6: every trained model evaluated on BCD
  under all 2^6 sign patterns of BCD's components) and a **logistic regression** on the signed features for
  k = 1..9 (k = 1: "overall abnormality" alone; the CNNs need k >= 3).

Outputs in ``outputs/<run>/``: ``transfer.csv`` (one row per features x k x seed x model x part),
``transfer_summary.csv`` (mean, SD, 95% t-interval over seeds, the majority-class baseline and, for the
authors' SM, their z / n = 13 interval) and ``sign_flips.csv``. Its figures are those of :mod:`lib.transfer.figures`.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np
import pandas as pd
import tf_keras

from lib.core import formatting, metrics, parallel, repro
from lib.core.params import Params
from lib.data import preprocess
from lib.train import architectures, fitting, student_bank
from lib.transfer import alignment, transfer_data
from lib.transfer.transfer_params import TransferParams


def sign_flip_scores(model, X_target: np.ndarray, y_target, solver_pattern) -> pd.DataFrame:
    """Target accuracy / sensitivity / specificity of ``model`` under every sign pattern of the target's
    components, in one predict call. ``X_target`` is what the authors' pipeline fed the model (the solver's
    signs); ``solver_pattern`` (:func:`lib.transfer.alignment.authors_orientation`) is those signs relative to
    "loadings sum positive", which is what a pattern's "+" means."""
    X = np.asarray(X_target, dtype=np.float32)
    n, k = X.shape[0], X.shape[1]
    oriented = X * np.asarray(solver_pattern, dtype=np.float32)[None, :, None]  # loadings-oriented scores
    pats = transfer_data.sign_patterns(k).astype(np.float32)
    batch = (pats[:, None, :, None] * oriented[None]).reshape(-1, k, 1)
    out = fitting.predict(model, batch, batch_size=4096).reshape(len(pats), n, -1)
    y = np.asarray(y_target, dtype=int)
    rows = []
    for p, o in zip(pats, out):
        pred = (metrics.malignancy_score(o) > 0.5).astype(int)
        rows.append({"pattern": transfer_data.pattern_string(p), "accuracy": float((pred == y).mean()),
                     "sensitivity": float(pred[y == 1].mean()), "specificity": float(1 - pred[y == 0].mean())})
    return pd.DataFrame(rows)


@dataclasses.dataclass
class Outcome:
    transfer: pd.DataFrame
    summary: pd.DataFrame
    sign_flips: pd.DataFrame
    seconds: float
    majority: float


def _fmt_time(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def experiment(TP: TransferParams, log: Callable[[str], None] = print) -> Outcome:
    """Train and evaluate every (features, k, seed) of the run, add the sign flips and the logistic regression,
    write ``transfer.csv``, ``transfer_summary.csv`` and ``sign_flips.csv``; print one line per (features, k)."""
    P, D = TP.params, transfer_data.load_data(TP)
    start = time.perf_counter()
    rows, flips = [], []
    blocks = [(f, k) for f in TP.features for k in TP.k_values]
    log(f"{len(blocks)} blocks (features x k) x {TP.seeds} seeds x {len(transfer_data.CNN_MODELS)} CNNs = "
        f"{len(blocks) * TP.seeds * len(transfer_data.CNN_MODELS)} trainings; teacher {P.teacher_epochs}, student "
        f"{P.student_epochs}, KD {P.kd_epochs} epochs")
    flip_k = transfer_data.SIGN_FLIP_K if ("authors" in TP.features and transfer_data.SIGN_FLIP_K in TP.k_values) else None
    solver = None
    if flip_k:
        solver = alignment.authors_orientation(D.B, flip_k, TP.sign_convention)
        other = "u" if TP.sign_convention == "v" else "v"
        conventions = {TP.sign_convention: transfer_data.pattern_string(solver),
                       other: transfer_data.pattern_string(alignment.authors_orientation(D.B, flip_k, other))}
        wdbc_pattern = transfer_data.pattern_string(alignment.authors_orientation(D.W, flip_k, TP.sign_convention))
    items = [(TP, D, method, k, s, solver if (method == "authors" and k == flip_k) else None)
             for method, k in blocks for s in TP.seed_list]
    log(f"engine: {parallel.describe()}")
    outcomes = parallel.map(transfer_cell, items, labels=[f"{m} k={k} seed {s}" for _, _, m, k, s, _ in items],
                            log=log)
    for cell_rows, cell_flips in outcomes:
        rows += cell_rows
        flips += cell_flips
    for b, (method, k) in enumerate(blocks):
        block = pd.DataFrame([r for r in rows if r["features"] == method and r["k"] == k and r["part"] == "target"])
        accs = block.groupby("model", sort=False)["accuracy"].mean()
        log(f"{method} k={k}: mean target accuracy " + ", ".join(f"{m} {a:.3f}" for m, a in accs.items()))
    if "signed" in TP.features:
        rows += transfer_data.logistic_rows(TP, D)
        lr = pd.DataFrame([r for r in rows if r["model"] == "LR" and r["part"] == "target"])
        log("LR on the signed scores, mean target accuracy by k: "
            + ", ".join(f"{k}: {a:.3f}" for k, a in lr.groupby("k")["accuracy"].mean().items()))
    df = pd.DataFrame(rows, columns=list(transfer_data.TRANSFER_COLUMNS))
    fl = pd.concat(flips, ignore_index=True) if flips else pd.DataFrame(columns=["seed", "model", "pattern"])
    if flips:
        fl.insert(0, "k", flip_k)
        fl.insert(0, "features", "authors")
        fl.insert(0, "run", TP.run)
        fl["solver"] = fl["pattern"] == conventions[TP.sign_convention]
        fl["convention"] = fl["pattern"].map(
            lambda p: "+".join(c for c in sorted(conventions) if conventions[c] == p))
        fl["matches_wdbc"] = fl["pattern"] == wdbc_pattern
    fl = fl.reindex(columns=list(transfer_data.FLIP_COLUMNS))
    summ = transfer_data.summarize(df, D.y_target)
    out = transfer_data.output_paths(TP.run)
    formatting.write_csv(df, out["transfer"])
    formatting.write_csv(summ, out["summary"])
    formatting.write_csv(fl, out["sign_flips"])
    seconds = time.perf_counter() - start
    log(f"done in {_fmt_time(seconds)}")
    return Outcome(df, summ, fl, seconds, alignment.majority_baseline(D.y_target))


def teacher_prep(P: Params, prep):
    """``prep`` without its validation part, for the teacher of a transfer cell. In this run's protocol (no early
    stopping, no BatchNorm recompute) Keras would only evaluate the holdout after every epoch, which changes no
    weight (``tests/test_transfer.py`` checks it bit for bit) and slowed every cell. Refused where validation
    decides something."""
    if P.teacher_patience is not None or P.bn_recompute:
        raise ValueError(f"run {P.run}: the transfer teacher is trained without validation, but teacher_patience "
                         f"({P.teacher_patience}) or bn_recompute ({P.bn_recompute}) would use it")
    return dataclasses.replace(prep, X_val=prep.X_val[:0], y_val=prep.y_val[:0])


def transfer_cell(TP: TransferParams, D: transfer_data.Data, method: str, k: int, s: int, solver=None) -> tuple[list, list]:
    """One (features, k, seed) of the experiment: train TM, SM_scratch and SM on the seed's WDBC split and score
    them on WDBC train / holdout and on the target; with ``solver`` (the sign pattern of the authors' PCA on the
    target) also the sign-flip scores. SM_scratch and SM train side by side in one :mod:`lib.train.student_bank` (same initial
    weights and batches, the teacher's logits computed once). Returns (metric rows, sign-flip frames)."""
    P = TP.params
    tr, ho = alignment.authors_split(D.y_source, seed=s, test_size=TP.holdout_size)
    Xtr, Xho, Xt = transfer_data.features(method, D, k, tr, ho, TP.sign_convention)
    prep = preprocess.Prepared(Xtr, D.y_source[tr], Xho, D.y_source[ho], Xt, D.y_target, transform=None)
    teacher = fitting.train_teacher(P, teacher_prep(P, prep), s).model
    repro.seed_everything(s)
    init = architectures.build_student(prep.n_features).get_weights()
    students = student_bank.train([student_bank.Member("SM_scratch", "bce", P.student_lr, P.student_epochs),
                           student_bank.Member("SM", P.kd_loss, P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature)],
                          init, prep.X_train, prep.y_train, s, P.batch_size,
                          t_logits_train=student_bank.teacher_logits(teacher, prep.X_train))
    trained = {"TM": teacher, "SM_scratch": students["SM_scratch"].model, "SM": students["SM"].model}
    bounds = np.cumsum([0, len(Xtr), len(Xho), len(Xt)])
    X_all = np.concatenate([Xtr, Xho, Xt])  # one predict call per model for the three parts
    rows, flips = [], []
    for name, model in trained.items():
        out = fitting.predict(model, X_all)
        for i, (part, y) in enumerate((("wdbc_train", prep.y_train), ("wdbc_holdout", prep.y_val),
                                       ("target", D.y_target))):
            rows.append({"run": TP.run, "features": method, "k": k, "seed": s, "model": name, "part": part,
                         **transfer_data.metric_row(y, out[bounds[i]:bounds[i + 1]])})
        if solver is not None:
            f = sign_flip_scores(model, Xt, D.y_target, solver)
            f.insert(0, "model", name)
            f.insert(0, "seed", s)
            flips.append(f)
    del trained, teacher
    tf_keras.backend.clear_session()
    return rows, flips
