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
authors' SM, their z / n = 13 interval) and ``sign_flips.csv``. Figures come from :func:`plot_accuracy`,
:func:`plot_sign_flips` and :func:`plot_loadings`.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from lib.core import formatting, parallel, paths, stats
from lib.transfer import alignment
from lib.core.params import Params
from lib.transfer.transfer_params import FEATURES, TransferParams

CNN_MODELS = ("TM", "SM_scratch", "SM")
MODELS = (*CNN_MODELS, "LR")
PARTS = ("wdbc_train", "wdbc_holdout", "target")
METRIC_COLUMNS = ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc", "brier")
SUMMARY_METRICS = ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc")
TRANSFER_COLUMNS = ("run", "features", "k", "seed", "model", "part", "n", *METRIC_COLUMNS, "tp", "fp", "tn", "fn")
SUMMARY_COLUMNS = ("run", "features", "k", "model", "part", "metric", "mean", "sd", "ci_low", "ci_high", "n",
                   "majority", "authors_low", "authors_high")
FLIP_COLUMNS = ("run", "features", "k", "seed", "model", "pattern", "accuracy", "sensitivity", "specificity",
                "solver", "convention", "matches_wdbc")

SIGN_FLIP_K = 6  # the paper's reported setting
LR_K_VALUES = tuple(range(1, 10))  # logistic regression on the signed scores: k = 1 allowed
LR_RANDOM_STATE = 0

@dataclass
class Data:
    W: np.ndarray  # source features (569 x 30)
    y_source: np.ndarray
    B: np.ndarray  # target features (683 x 9, complete rows)
    y_target: np.ndarray
    source_features: list
    target_features: list


def load_data(T: TransferParams) -> Data:
    """WDBC (the run's ``data_path`` if any) and the 683 complete rows of BCD, as the authors used them."""
    from lib.data import datasets

    w = datasets.load_wdbc(T.params.resolved_data_path())
    b = datasets.load_bcd(dropna=True)
    return Data(w.X.to_numpy(float), w.y, b.X.to_numpy(float), b.y, w.feature_names, b.feature_names)


def features(method: str, D: Data, k: int, train_idx, holdout_idx, sign_convention: str = "v"):
    """(X_wdbc_train, X_wdbc_holdout, X_target) of a feature method; no target label is ever passed."""
    if method == "authors":
        return alignment.authors_features(D.W, D.B, k, train_idx, holdout_idx, sign_convention=sign_convention)
    if method == "signed":
        return alignment.signed_features(D.W, D.B, k, train_idx, holdout_idx)
    raise ValueError(f"unknown feature method {method!r}; expected one of {', '.join(FEATURES)}")


# ============================================================================================== metrics
def _metric_row(y, outputs) -> dict:
    from lib.core import metrics

    m = metrics.classify(y, outputs)
    row = {"n": m["n_test"], **{k: m[k] for k in ("accuracy", "sensitivity", "specificity")}}
    row["balanced_accuracy"] = (m["sensitivity"] + m["specificity"]) / 2
    row.update({k: m[k] for k in ("roc_auc", "brier", "tp", "fp", "tn", "fn")})
    return row


def sign_patterns(k: int) -> np.ndarray:
    """All 2^k sign patterns (+1 / -1) of k components, shape (2^k, k); row 0 is all +1."""
    return np.array(list(itertools.product((1.0, -1.0), repeat=k)))


def pattern_string(signs) -> str:
    return "".join("+" if s > 0 else "-" for s in signs)


def sign_flip_scores(model, X_target: np.ndarray, y_target, solver_pattern) -> pd.DataFrame:
    """Target accuracy / sensitivity / specificity of ``model`` under every sign pattern of the target's
    components, in one predict call. ``X_target`` is what the authors' pipeline fed the model (the solver's
    signs); ``solver_pattern`` (:func:`lib.transfer.alignment.authors_orientation`) is those signs relative to
    "loadings sum positive", which is what a pattern's "+" means."""
    from lib.core import metrics

    X = np.asarray(X_target, dtype=np.float32)
    n, k = X.shape[0], X.shape[1]
    oriented = X * np.asarray(solver_pattern, dtype=np.float32)[None, :, None]  # loadings-oriented scores
    pats = sign_patterns(k).astype(np.float32)
    batch = (pats[:, None, :, None] * oriented[None]).reshape(-1, k, 1)
    out = model.predict(batch, batch_size=4096, verbose=0).reshape(len(pats), n, -1)
    y = np.asarray(y_target, dtype=int)
    rows = []
    for p, o in zip(pats, out):
        pred = (metrics.malignancy_score(o) > 0.5).astype(int)
        rows.append({"pattern": pattern_string(p), "accuracy": float((pred == y).mean()),
                     "sensitivity": float(pred[y == 1].mean()), "specificity": float(1 - pred[y == 0].mean())})
    return pd.DataFrame(rows)


# ============================================================================================== experiment
@dataclass
class Outcome:
    transfer: pd.DataFrame
    summary: pd.DataFrame
    sign_flips: pd.DataFrame
    seconds: float
    majority: float


def output_paths(run: str) -> dict[str, Path]:
    d = paths.run_dir(run)
    return {"transfer": d / "transfer.csv", "summary": d / "transfer_summary.csv", "sign_flips": d / "sign_flips.csv"}


def _fmt_time(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def experiment(T: TransferParams, log: Callable[[str], None] = print) -> Outcome:
    """Train and evaluate every (features, k, seed) of the run, add the sign flips and the logistic regression,
    write ``transfer.csv``, ``transfer_summary.csv`` and ``sign_flips.csv``; print one line per (features, k)."""
    P, D = T.params, load_data(T)
    start = time.perf_counter()
    rows, flips = [], []
    blocks = [(f, k) for f in T.features for k in T.k_values]
    log(f"{len(blocks)} blocks (features x k) x {T.seeds} seeds x {len(CNN_MODELS)} CNNs = "
        f"{len(blocks) * T.seeds * len(CNN_MODELS)} trainings; teacher {P.teacher_epochs}, student "
        f"{P.student_epochs}, KD {P.kd_epochs} epochs")
    flip_k = SIGN_FLIP_K if ("authors" in T.features and SIGN_FLIP_K in T.k_values) else None
    solver = None
    if flip_k:
        solver = alignment.authors_orientation(D.B, flip_k, T.sign_convention)
        other = "u" if T.sign_convention == "v" else "v"
        conventions = {T.sign_convention: pattern_string(solver),
                       other: pattern_string(alignment.authors_orientation(D.B, flip_k, other))}
        wdbc_pattern = pattern_string(alignment.authors_orientation(D.W, flip_k, T.sign_convention))
    items = [(T, D, method, k, s, solver if (method == "authors" and k == flip_k) else None)
             for method, k in blocks for s in T.seed_list]
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
    if "signed" in T.features:
        rows += logistic_rows(T, D)
        lr = pd.DataFrame([r for r in rows if r["model"] == "LR" and r["part"] == "target"])
        log("LR on the signed scores, mean target accuracy by k: "
            + ", ".join(f"{k}: {a:.3f}" for k, a in lr.groupby("k")["accuracy"].mean().items()))
    df = pd.DataFrame(rows, columns=list(TRANSFER_COLUMNS))
    fl = pd.concat(flips, ignore_index=True) if flips else pd.DataFrame(columns=["seed", "model", "pattern"])
    if flips:
        fl.insert(0, "k", flip_k)
        fl.insert(0, "features", "authors")
        fl.insert(0, "run", T.run)
        fl["solver"] = fl["pattern"] == conventions[T.sign_convention]
        fl["convention"] = fl["pattern"].map(
            lambda p: "+".join(c for c in sorted(conventions) if conventions[c] == p))
        fl["matches_wdbc"] = fl["pattern"] == wdbc_pattern
    fl = fl.reindex(columns=list(FLIP_COLUMNS))
    summ = summarize(df, D.y_target)
    out = output_paths(T.run)
    formatting.write_csv(df, out["transfer"])
    formatting.write_csv(summ, out["summary"])
    formatting.write_csv(fl, out["sign_flips"])
    seconds = time.perf_counter() - start
    log(f"done in {_fmt_time(seconds)}")
    return Outcome(df, summ, fl, seconds, alignment.majority_baseline(D.y_target))


def teacher_prep(P: Params, prep):
    """``prep`` without its validation part, for the teacher of a transfer cell. In this run's protocol (no early
    stopping, no BatchNorm recompute) Keras would only evaluate the holdout after every epoch, which changes no
    weight (``tests/test_transfer.py`` checks it bit for bit) and cost a quarter of a cell's time (measured on
    wdbc-to-bcd, authors' features, k = 5: 7.9 s per cell with it, 5.9 s without). Refused where validation
    decides something."""
    import dataclasses

    if P.teacher_patience is not None or P.bn_recompute:
        raise ValueError(f"run {P.run}: the transfer teacher is trained without validation, but teacher_patience "
                         f"({P.teacher_patience}) or bn_recompute ({P.bn_recompute}) would use it")
    return dataclasses.replace(prep, X_val=prep.X_val[:0], y_val=prep.y_val[:0])


def transfer_cell(T: TransferParams, D: Data, method: str, k: int, s: int, solver=None) -> tuple[list, list]:
    """One (features, k, seed) of the experiment: train TM, SM_scratch and SM on the seed's WDBC split and score
    them on WDBC train / holdout and on the target; with ``solver`` (the sign pattern of the authors' PCA on the
    target) also the sign-flip scores. SM_scratch and SM train side by side in one :mod:`lib.train.student_bank` (same initial
    weights and batches, the teacher's logits computed once). Returns (metric rows, sign-flip frames)."""
    import tf_keras

    from lib.core import repro
    from lib.data import preprocess
    from lib.train import architectures, fitting, student_bank

    P = T.params
    tr, ho = alignment.authors_split(D.y_source, seed=s, test_size=T.holdout_size)
    Xtr, Xho, Xt = features(method, D, k, tr, ho, T.sign_convention)
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
            rows.append({"run": T.run, "features": method, "k": k, "seed": s, "model": name, "part": part,
                         **_metric_row(y, out[bounds[i]:bounds[i + 1]])})
        if solver is not None:
            f = sign_flip_scores(model, Xt, D.y_target, solver)
            f.insert(0, "model", name)
            f.insert(0, "seed", s)
            flips.append(f)
    del trained, teacher
    tf_keras.backend.clear_session()
    return rows, flips


def logistic_rows(T: TransferParams, D: Data, k_values=LR_K_VALUES) -> list[dict]:
    """A transparent label-free baseline: scikit-learn's LogisticRegression (default C, fixed random_state) on
    the signed scores, same seeds and splits as the CNNs, for every k (k = 1 is PC1, "overall abnormality")."""
    from sklearn.linear_model import LogisticRegression

    rows = []
    for k in k_values:
        for s in T.seed_list:
            tr, ho = alignment.authors_split(D.y_source, seed=s, test_size=T.holdout_size)
            Xtr, Xho, Xt = (x[..., 0] for x in features("signed", D, k, tr, ho))
            lr = LogisticRegression(random_state=LR_RANDOM_STATE).fit(Xtr, D.y_source[tr])
            for part, X, y in (("wdbc_train", Xtr, D.y_source[tr]), ("wdbc_holdout", Xho, D.y_source[ho]),
                               ("target", Xt, D.y_target)):
                rows.append({"run": T.run, "features": "signed", "k": k, "seed": s, "model": "LR", "part": part,
                             **_metric_row(y, lr.predict_proba(X))})
    return rows


def majority_metrics(y_target) -> dict:
    """Each summary metric of the majority-class rule on the target (BCD: always 'benign': accuracy 0.650,
    sensitivity 0, specificity 1, balanced accuracy 0.5, ROC AUC 0.5)."""
    y = np.asarray(y_target, dtype=int)
    majority_class = int(np.mean(y) > 0.5)
    m = _metric_row(y, np.full(len(y), float(majority_class)))
    return {k: m[k] for k in SUMMARY_METRICS}


def summarize(df: pd.DataFrame, y_target) -> pd.DataFrame:
    """One row per (features, k, model, part, metric): mean, SD, 95% t-interval over seeds, n seeds, the
    majority-class rule's value of the metric on the target (NaN for the WDBC parts) and, for the authors' SM
    target accuracy, the authors' z / n = 13 interval (:func:`lib.transfer.alignment.authors_ci`)."""
    maj = majority_metrics(y_target)
    rows = []
    keys = ["features", "k", "model", "part"]
    order = df.assign(_f=df.features.map(FEATURES.index), _m=df.model.map(MODELS.index),
                      _p=df.part.map(PARTS.index)).sort_values(["_f", "k", "_m", "_p", "seed"], kind="stable")
    for (f, k, m, part), g in order.groupby(keys, sort=False):
        for metric in SUMMARY_METRICS:
            v = g[metric].to_numpy(float)
            mean, lo, hi = stats.t_interval(v)
            ok = v[~np.isnan(v)]
            a_lo = a_hi = np.nan
            if (f, m, part, metric) == ("authors", "SM", "target", "accuracy") and len(ok) > 1:
                _, a_lo, a_hi = alignment.authors_ci(ok)
            rows.append({"run": g.run.iloc[0], "features": f, "k": int(k), "model": m, "part": part,
                         "metric": metric, "mean": mean, "sd": float(ok.std(ddof=1)) if len(ok) > 1 else np.nan,
                         "ci_low": lo, "ci_high": hi, "n": int(len(ok)),
                         "majority": maj[metric] if part == "target" else np.nan,
                         "authors_low": a_lo, "authors_high": a_hi})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def read_outputs(run: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(transfer, summary, sign_flips) as written by :func:`experiment`."""
    out = {k: p for k, p in output_paths(run).items()}
    missing = [str(p) for p in out.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: run notebooks/03b_cross_dataset.ipynb for run "
                                f"'{run}' first (make outputs/{run}/03b_cross_dataset.ipynb)")
    return tuple(pd.read_csv(out[k]) for k in ("transfer", "summary", "sign_flips"))
