"""Cross-dataset transfer runs (train on WDBC, test on all of BCD): typed params and the experiment.

A transfer params file (e.g. ``params/wdbc-to-bcd.yaml``) holds ordinary :class:`lib.params.Params` keys (the
source dataset and the training settings, validated by ``Params`` itself) plus one ``transfer:`` mapping::

    transfer:
      target: bcd             # only WDBC -> BCD is implemented
      seeds: 10               # seeds seed .. seed+9: each its own stratified WDBC split and initial weights
      holdout_size: 0.4       # the authors' train_test_split(test_size=0.4): 341 / 228 rows
      k_values: [3, 4, 5, 6, 7, 8, 9]
      features: [authors, signed]
      sign_convention: v      # the PCA solver's arbitrary sign: 'v' scikit-learn >= 1.5, 'u' < 1.5

``extends:`` works as for ordinary runs; the nested ``transfer`` block merges key by key over the parent's.
:func:`load` and :func:`for_notebook` give a :class:`TransferParams` (``.params`` is the ordinary Params the
training functions take); :func:`lib.runs.load_any` loads either kind of run.

The experiment (:func:`experiment`), for each feature method, k and seed s:

- WDBC split by :func:`lib.crossdataset.authors_split` (seed s); features from
  :func:`lib.crossdataset.authors_features` (the authors': a separate raw PCA per dataset) or
  :func:`lib.crossdataset.signed_features` (label-free: own scaler + PCA per dataset, signs by loadings);
- TM trained with :mod:`lib.training` on the WDBC training rows, SM_scratch and SM side by side in one
  :mod:`lib.bank`, none of them validated during training: the authors' ``validation_data`` only logged a
  curve, which nothing here reads and which changes no weight (:func:`teacher_prep`); all three evaluated on the WDBC
  training rows, the WDBC holdout and all of BCD; each (features, k, seed) goes through :func:`lib.parallel.map`;
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
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import crossdataset, fmt, parallel, params, paths, stats
from .params import Params, ParamsError

SOURCES = ("wdbc",)  # only WDBC -> BCD is implemented
TARGETS = ("bcd",)
FEATURES = ("authors", "signed")
SIGN_CONVENTIONS = ("u", "v")
MIN_K = 3  # the reference CNNs need >= 3 inputs: two valid Conv1D kernels of 2
MAX_K = {"bcd": 9}  # BCD has 9 features
TRANSFER_DEFAULTS = {"seeds": 10, "holdout_size": crossdataset.AUTHORS_TEST_SIZE,
                     "k_values": list(crossdataset.AUTHORS_K_RANGE), "features": list(FEATURES),
                     "sign_convention": "v"}
TRANSFER_KEYS = ("target", *TRANSFER_DEFAULTS)

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

# The authors' xlsx (reference section 8), percent: TM, SM_scratch, SM BCD accuracy means and their SM half-width
# (z, n = 13) over 10 runs per PCA size.
PAPER_BY_K = pd.DataFrame(
    [(9, 69.49, 65.12, 67.99, 7.22), (8, 69.52, 65.33, 73.13, 12.09), (7, 68.08, 65.12, 71.19, 11.15),
     (6, 68.48, 65.12, 73.97, 8.93), (5, 70.37, 65.04, 72.61, 6.23), (4, 68.21, 65.10, 72.05, 4.83),
     (3, 56.38, 65.01, 64.99, 6.93)],
    columns=["k", "TM", "SM_scratch", "SM", "SM_half_width"]).set_index("k").sort_index()
PAPER_HEADLINE = {"k": 6, "mean": 73.97, "low": 65.04, "high": 82.90}  # abstract: SM, PCA = 6


# ============================================================================================== params
@dataclass(frozen=True)
class TransferParams:
    """A transfer run: the ordinary :class:`Params` (source dataset, training settings) and the transfer keys."""

    params: Params
    target: str
    seeds: int = TRANSFER_DEFAULTS["seeds"]
    holdout_size: float = TRANSFER_DEFAULTS["holdout_size"]
    k_values: tuple = tuple(TRANSFER_DEFAULTS["k_values"])
    features: tuple = tuple(TRANSFER_DEFAULTS["features"])
    sign_convention: str = TRANSFER_DEFAULTS["sign_convention"]

    @property
    def run(self) -> str:
        return self.params.run

    @property
    def source(self) -> str:
        return self.params.dataset

    @property
    def seed_list(self) -> list[int]:
        return [self.params.seed + i for i in range(self.seeds)]

    def transfer_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in ((k, getattr(self, k)) for k in TRANSFER_KEYS)}

    def to_dict(self) -> dict:
        return {**self.params.to_dict(), "transfer": self.transfer_dict()}


def _file(run: str) -> Path:
    return paths.PARAMS / f"{run}.yaml"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _merge_file(run: str, seen: tuple = ()) -> tuple[dict, dict | None]:
    """(ordinary keys, transfer block or None) of ``params/<run>.yaml`` after following ``extends``; the transfer
    block merges key by key over the parent's."""
    path = _file(run)
    if run in seen:
        raise ParamsError(f"{path}: 'extends' loops: {' -> '.join(seen + (run,))}")
    data = params._read_yaml(path)
    if "run" in data:
        raise ParamsError(f"{path}: 'run' is the file's name, do not set it inside the file")
    block = data.pop("transfer", None)
    if block is not None and not isinstance(block, dict):
        raise ParamsError(f"{path}: 'transfer' = {block!r}: must be a mapping of the transfer keys "
                          f"({', '.join(TRANSFER_KEYS)})")
    unknown = sorted(set(data) - set(params.FIELDS) - {"extends"})
    if unknown:
        raise ParamsError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"known keys: {', '.join(f for f in params.FIELDS if f != 'run')}, transfer")
    _check_block_keys(block or {}, str(path))
    base = data.pop("extends", None)
    merged, merged_block = _merge_file(base, seen + (run,)) if base else ({}, None)
    merged.update(data)
    if block is not None:
        merged_block = {**(merged_block or {}), **block}
    return merged, merged_block


def _check_block_keys(block: dict, where: str) -> None:
    unknown = sorted(set(block) - set(TRANSFER_KEYS))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {', '.join(repr(f'transfer.{k}') for k in unknown)}; "
                          f"known transfer keys: {', '.join(TRANSFER_KEYS)}")


def is_transfer(run: str) -> bool:
    """Does ``params/<run>.yaml`` (or a file it extends) hold a ``transfer:`` block?"""
    return _merge_file(run)[1] is not None


def from_values(run: str, values: dict, block: dict, where: str | None = None) -> TransferParams:
    """Validate ordinary keys (through :class:`Params`) and the transfer block into a :class:`TransferParams`."""
    where = where or str(_file(run))
    _check_block_keys(block, where)
    P = params.from_dict(run, values)  # every ordinary key validated as in any run

    def bad(key: str, value, why: str) -> ParamsError:
        return ParamsError(f"{where}: '{key}' = {value!r}: {why}")

    if P.dataset not in SOURCES:
        raise bad("dataset", P.dataset, f"the source of a transfer run must be one of {', '.join(SOURCES)} "
                                        f"(only WDBC -> BCD is implemented)")
    if P.pca_components is not None:
        raise bad("pca_components", P.pca_components, "a transfer run sets its PCA sizes in 'transfer.k_values'; "
                                                      "leave pca_components out")
    if "target" not in block:
        raise ParamsError(f"{where}: missing key 'transfer.target' (one of {', '.join(TARGETS)})")
    b = {**TRANSFER_DEFAULTS, **block}
    target = b["target"]
    if not isinstance(target, str):
        raise bad("transfer.target", target, f"must be one of {', '.join(TARGETS)}")
    if target == P.dataset:
        raise bad("transfer.target", target, f"the target must differ from the source dataset '{P.dataset}'")
    if target not in TARGETS:
        raise bad("transfer.target", target, f"must be one of {', '.join(TARGETS)} (only WDBC -> BCD is "
                                             f"implemented)")
    if not _is_int(b["seeds"]) or b["seeds"] < 1:
        raise bad("transfer.seeds", b["seeds"], "must be an integer >= 1 (seeds seed .. seed + seeds - 1)")
    if not _is_number(b["holdout_size"]) or not 0.0 < b["holdout_size"] <= 0.5:
        raise bad("transfer.holdout_size", b["holdout_size"], "must be a fraction in (0, 0.5]")
    ks = b["k_values"]
    if not isinstance(ks, list) or not ks or not all(_is_int(k) for k in ks):
        raise bad("transfer.k_values", ks, "must be a non-empty list of integers")
    if len(set(ks)) != len(ks):
        raise bad("transfer.k_values", ks, "lists a PCA size twice")
    if min(ks) < MIN_K:
        raise bad("transfer.k_values", ks, f"k = {min(ks)} < {MIN_K}: the reference CNNs need >= {MIN_K} "
                                           f"inputs: two valid Conv1D kernels of 2")
    if max(ks) > MAX_K[target]:
        raise bad("transfer.k_values", ks, f"k = {max(ks)} > {MAX_K[target]}: {target.upper()} has "
                                           f"{MAX_K[target]} features")
    feats = b["features"]
    if not isinstance(feats, list) or not feats or not all(isinstance(f, str) for f in feats) \
            or not set(feats) <= set(FEATURES):
        raise bad("transfer.features", feats, f"must be a non-empty list drawn from {', '.join(FEATURES)}")
    if len(set(feats)) != len(feats):
        raise bad("transfer.features", feats, "lists a feature method twice")
    if b["sign_convention"] not in SIGN_CONVENTIONS:
        raise bad("transfer.sign_convention", b["sign_convention"],
                  "must be 'v' (scikit-learn >= 1.5: largest-|loading| positive) or 'u' (< 1.5: largest-|score| "
                  "row positive)")
    return TransferParams(P, target=target, seeds=b["seeds"], holdout_size=float(b["holdout_size"]),
                          k_values=tuple(sorted(ks)), features=tuple(feats), sign_convention=b["sign_convention"])


def load(run: str, **overrides: Any) -> TransferParams:
    """Load and validate a transfer run (following ``extends``); ``overrides`` may hold ordinary keys and a
    ``transfer`` mapping, which merges key by key over the file's block."""
    values, block = _merge_file(run)
    if block is None:
        raise ParamsError(f"{_file(run)}: run '{run}' is not a transfer run (no 'transfer:' block); "
                          f"transfer runs: {', '.join(r for r in params.all_runs() if is_transfer(r)) or 'none'}")
    extra = overrides.pop("transfer", None)
    if extra is not None:
        if not isinstance(extra, dict):
            raise ParamsError(f"run '{run}': injected 'transfer' = {extra!r} must be a mapping")
        block = {**block, **extra}
    values.update(overrides)
    return from_values(run, values, block)


def for_notebook(namespace: dict) -> TransferParams:
    """Params of notebook 03b: the file named by ``run``, plus injected values (papermill ``-f`` injects the
    file's own keys, including its partial ``transfer`` block; ``-p seed 7`` works too). Call it before binding
    the name ``transfer`` to this module (``import lib.transfer``, then ``lib.transfer.for_notebook(globals())``);
    a module found under that name is ignored, so re-running the cell in JupyterLab works."""
    if "run" not in namespace:
        raise ParamsError("the notebook's parameters cell must define 'run' (the name of a params/<run>.yaml)")
    overrides = {k: namespace[k] for k in params.FIELDS if k != "run" and k in namespace}
    injected = namespace.get("transfer")
    if injected is not None and not isinstance(injected, types.ModuleType):  # `from lib import transfer` reuses
        overrides["transfer"] = injected                                      # the name once the block is read
    return load(namespace["run"], **overrides)


# ============================================================================================== data
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
    from . import data

    w = data.load_wdbc(T.params.resolved_data_path())
    b = data.load_bcd(dropna=True)
    return Data(w.X.to_numpy(float), w.y, b.X.to_numpy(float), b.y, w.feature_names, b.feature_names)


def features(method: str, D: Data, k: int, train_idx, holdout_idx, sign_convention: str = "v"):
    """(X_wdbc_train, X_wdbc_holdout, X_target) of a feature method; no target label is ever passed."""
    if method == "authors":
        return crossdataset.authors_features(D.W, D.B, k, train_idx, holdout_idx, sign_convention=sign_convention)
    if method == "signed":
        return crossdataset.signed_features(D.W, D.B, k, train_idx, holdout_idx)
    raise ValueError(f"unknown feature method {method!r}; expected one of {', '.join(FEATURES)}")


# ============================================================================================== metrics
def _metric_row(y, outputs) -> dict:
    from . import metrics

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
    signs); ``solver_pattern`` (:func:`lib.crossdataset.authors_orientation`) is those signs relative to
    "loadings sum positive", which is what a pattern's "+" means."""
    from . import metrics

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
        solver = crossdataset.authors_orientation(D.B, flip_k, T.sign_convention)
        other = "u" if T.sign_convention == "v" else "v"
        conventions = {T.sign_convention: pattern_string(solver),
                       other: pattern_string(crossdataset.authors_orientation(D.B, flip_k, other))}
        wdbc_pattern = pattern_string(crossdataset.authors_orientation(D.W, flip_k, T.sign_convention))
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
    fmt.write_csv(df, out["transfer"])
    fmt.write_csv(summ, out["summary"])
    fmt.write_csv(fl, out["sign_flips"])
    seconds = time.perf_counter() - start
    log(f"done in {_fmt_time(seconds)}")
    return Outcome(df, summ, fl, seconds, crossdataset.majority_baseline(D.y_target))


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
    target) also the sign-flip scores. SM_scratch and SM train side by side in one :mod:`lib.bank` (same initial
    weights and batches, the teacher's logits computed once). Returns (metric rows, sign-flip frames)."""
    import tf_keras

    from . import bank, models, preprocess, repro, training

    P = T.params
    tr, ho = crossdataset.authors_split(D.y_source, seed=s, test_size=T.holdout_size)
    Xtr, Xho, Xt = features(method, D, k, tr, ho, T.sign_convention)
    prep = preprocess.Prepared(Xtr, D.y_source[tr], Xho, D.y_source[ho], Xt, D.y_target, transform=None)
    teacher = training.train_teacher(P, teacher_prep(P, prep), s).model
    repro.seed_everything(s)
    init = models.build_student(prep.n_features).get_weights()
    students = bank.train([bank.Member("SM_scratch", "bce", P.student_lr, P.student_epochs),
                           bank.Member("SM", P.kd_loss, P.kd_lr, P.kd_epochs, P.kd_alpha, P.kd_temperature)],
                          init, prep.X_train, prep.y_train, s, P.batch_size,
                          t_logits_train=bank.teacher_logits(teacher, prep.X_train))
    trained = {"TM": teacher, "SM_scratch": students["SM_scratch"].model, "SM": students["SM"].model}
    bounds = np.cumsum([0, len(Xtr), len(Xho), len(Xt)])
    X_all = np.concatenate([Xtr, Xho, Xt])  # one predict call per model for the three parts
    rows, flips = [], []
    for name, model in trained.items():
        out = training.predict(model, X_all)
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
            tr, ho = crossdataset.authors_split(D.y_source, seed=s, test_size=T.holdout_size)
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
    target accuracy, the authors' z / n = 13 interval (:func:`lib.crossdataset.authors_ci`)."""
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
                _, a_lo, a_hi = crossdataset.authors_ci(ok)
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


# ============================================================================================== tables
def _ci(mean, lo, hi) -> str:
    """A cell of the percent tables: '96.8 [96.7, 96.9]' (``lib.fmt.fmt_ci`` without the % sign)."""
    return fmt.fmt_ci(mean, lo, hi, sign=False)


def ci_table(summary: pd.DataFrame, features: str, metric: str = "accuracy", part: str = "target",
             models=MODELS) -> pd.DataFrame:
    """Mean [95% t-interval] in percent, one row per k, one column per model."""
    s = summary[(summary.features == features) & (summary.metric == metric) & (summary.part == part)
                & summary.model.isin(models)]
    tab = s.assign(cell=[_ci(m, lo, hi) for m, lo, hi in zip(s["mean"], s.ci_low, s.ci_high)]) \
        .pivot(index="k", columns="model", values="cell")
    return tab[[m for m in models if m in tab.columns]].rename_axis(columns=None).fillna("")


def authors_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The authors' method per k: our TM / SM_scratch / SM target accuracy (mean [t-interval], percent) and
    SM's z / n = 13 interval beside the paper's xlsx means and interval."""
    tab = ci_table(summary, "authors", models=CNN_MODELS)
    sm = summary[(summary.features == "authors") & (summary.model == "SM") & (summary.part == "target")
                 & (summary.metric == "accuracy")].set_index("k")
    tab["SM, authors' z/n=13"] = [_ci(r["mean"], r.authors_low, r.authors_high) for _, r in sm.loc[tab.index].iterrows()]
    paper = PAPER_BY_K.reindex(tab.index)
    tab["paper TM"] = paper.TM.map("{:.2f}".format)
    tab["paper SM_scratch"] = paper.SM_scratch.map("{:.2f}".format)
    tab["paper SM (z/n=13)"] = [f"{m:.2f} [{m - h:.2f}, {m + h:.2f}]" for m, h in zip(paper.SM, paper.SM_half_width)]
    return tab


def cell_values(df: pd.DataFrame, features: str, k: int, model: str, metric: str = "accuracy",
                part: str = "target") -> np.ndarray:
    """Per-seed values of one cell (in seed order)."""
    g = df[(df.features == features) & (df.k == k) & (df.model == model) & (df.part == part)].sort_values("seed")
    return g[metric].to_numpy(float)


def balanced_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Target sensitivity / specificity / balanced accuracy / ROC AUC (mean [t-interval], percent) of every cell."""
    s = summary[(summary.part == "target") & summary.metric.isin(["accuracy", "sensitivity", "specificity",
                                                                    "balanced_accuracy", "roc_auc"])]
    s = s.assign(cell=[_ci(m, lo, hi) for m, lo, hi in zip(s["mean"], s.ci_low, s.ci_high)])
    tab = s.pivot_table(index=["features", "k", "model"], columns="metric", values="cell", aggfunc="first")
    order = sorted(tab.index, key=lambda ix: (FEATURES.index(ix[0]), ix[1], MODELS.index(ix[2])))
    return tab.loc[order, ["accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc"]] \
        .rename_axis(columns=None)


def sign_flip_summary(flips: pd.DataFrame, majority: float) -> pd.DataFrame:
    """Per model: the spread of BCD accuracy over every (seed, sign pattern), and the mean over seeds of the
    installed solver's pattern, the other convention's and the loadings-matched pattern (percent)."""
    rows = []
    for m in [m for m in CNN_MODELS if m in set(flips.model)]:
        g = flips[flips.model == m]
        per_pattern = g.groupby("pattern")["accuracy"].mean()
        other = g[g.convention.fillna("").str.len().gt(0) & ~g.solver]
        rows.append({"model": m, "seeds x patterns": len(g), "min": g.accuracy.min() * 100,
                     "q25": g.accuracy.quantile(0.25) * 100, "median": g.accuracy.median() * 100,
                     "q75": g.accuracy.quantile(0.75) * 100, "max": g.accuracy.max() * 100,
                     "best pattern (mean over seeds)": per_pattern.max() * 100,
                     "worst pattern": per_pattern.min() * 100,
                     "solver's pattern": g[g.solver].accuracy.mean() * 100,
                     "other convention": other.accuracy.mean() * 100 if len(other) else np.nan,
                     "loadings-matched": g[g.matches_wdbc].accuracy.mean() * 100,
                     f"share > majority {majority:.1%}": (g.accuracy > majority + 1e-12).mean() * 100})
    return pd.DataFrame(rows).set_index("model")


def cells(summary: pd.DataFrame, rules: dict | None = None, n_rows: int | None = None) -> pd.DataFrame:
    """The cross-dataset criterion, one for the study: notebook 03b (:func:`verdict`) and notebook 08
    (``lib.summary.transfer_verdict``) both read it. One row per (features, k, model) on the target: its accuracy
    (``mean``, t-interval over seeds ``ci_low`` / ``ci_high``, ``n`` seeds), the majority-class rate and

    - ``above_majority``: the accuracy interval lies entirely above the majority-class rate and, where balanced
      accuracy is reported, its interval entirely above 0.5 (the majority rule's);
    - with ``rules`` ({name: accuracy on the target} of rules that use no WDBC data, :mod:`lib.targetonly`) and
      ``n_rows`` target rows (default: the summary's ``n_rows`` column): ``best_rule``, ``low_rows`` (the Wilson
      95% lower bound of the cell's mean accuracy over the ``n_rows`` rows) and ``above_rules``: the lower of the
      two lower bounds (over seeds, over target rows) lies above the best rule. The interval over seeds only
      measures how the WDBC split moves the cell; the rule is scored on the same rows, so what separates the two
      is the rows: a cell must clear both. Only such a cell shows something learnt on WDBC that BCD's own feature
      distribution does not give, and "transfers" is said of it alone. This check is unpaired (the models'
      row-level predictions are not kept), so conservative; notebook 08 tests the pre-specified cell against
      each rule row by row (McNemar, ``lib.targetonly.paired``)."""
    keys = ["features", "k", "model"]
    t = summary[summary["part"] == "target"]
    acc = t[t["metric"] == "accuracy"][keys + ["mean", "ci_low", "ci_high", "n", "majority"]].reset_index(drop=True)
    majority = float(acc["majority"].dropna().iloc[0]) if acc["majority"].notna().any() else float("nan")
    acc["majority"] = majority
    above = (acc["ci_low"] > majority).to_numpy(bool).copy()
    bal = t[t["metric"] == "balanced_accuracy"]
    if len(bal):
        ok = acc[keys].merge(bal.assign(bal_ok=bal["ci_low"] > 0.5)[keys + ["bal_ok"]], on=keys, how="left")
        above &= ok["bal_ok"].fillna(False).to_numpy(bool)
    acc["above_majority"] = above
    if rules:
        if n_rows is None:
            if "n_rows" not in summary.columns or summary["n_rows"].isna().all():
                raise ValueError("cells(): comparing with the target-only rules needs n_rows, the target's row count")
            n_rows = int(summary["n_rows"].dropna().iloc[0])
        best = max(float(v) for v in rules.values())
        acc["best_rule"] = best
        acc["low_rows"] = [stats.wilson(round(m * n_rows), n_rows)[1] for m in acc["mean"]]
        acc["above_rules"] = (np.fmin(acc["ci_low"], acc["low_rows"]) > best).to_numpy(bool)
    return acc


def confounds(P: Params) -> list[str]:
    """What SM − SM_scratch mixes besides KD in a run's settings (the authors' cross-dataset notebook trains the
    distilled student at Adam 1e-3 and the scratch one at 1e-4): one sentence per setting that differs, read from
    the params. Empty when the two students share their learning rate and epochs."""
    out = []
    if P.student_lr != P.kd_lr:
        out.append(f"learning-rate confound: SM_scratch trains at Adam {P.student_lr:g}, SM at {P.kd_lr:g} "
                   f"({max(P.student_lr, P.kd_lr) / min(P.student_lr, P.kd_lr):g}x), so SM − SM_scratch measures KD "
                   f"and the learning rate together, not KD")
    if P.student_epochs != P.kd_epochs:
        out.append(f"epoch confound: SM_scratch trains {P.student_epochs} epochs, SM {P.kd_epochs}")
    return out


def model_label(P: Params, model: str) -> str:
    """A model's name in 03b's figure legends, with its confound when it carries one."""
    return f"{model} (Adam {P.student_lr:g}: learning-rate confound)" if model == "SM_scratch" and confounds(P) else model


def verdict(summary: pd.DataFrame, rules: dict | None = None, confound: list[str] | None = None,
            n_rows: int | None = None) -> list[str]:
    """Plain sentences, computed from the summary by :func:`cells`: which (features, k, model) cells beat the
    majority class (accuracy and balanced-accuracy t-intervals), and, given the target-only ``rules`` and the
    target's ``n_rows``, which beat the best of them, the only ones said to transfer; then the run's ``confound``
    sentences (:func:`confounds`)."""
    c = cells(summary, rules, n_rows).set_index(["features", "k", "model"])
    t = summary[summary.part == "target"].set_index(["features", "k", "model", "metric"])
    bal, sens, spec = (t.xs(m, level="metric") for m in ("balanced_accuracy", "sensitivity", "specificity"))
    n_cells, majority = len(c), float(c.majority.iloc[0])

    def name(ix):
        f, k, m = ix
        return f"{f} k={k} {m}"

    def detail(ix):
        return (f"{name(ix)}: accuracy {_ci(c.loc[ix, 'mean'], c.loc[ix, 'ci_low'], c.loc[ix, 'ci_high'])}, "
                f"sensitivity {sens.loc[ix, 'mean'] * 100:.1f}, specificity {spec.loc[ix, 'mean'] * 100:.1f}, "
                f"balanced {bal.loc[ix, 'mean'] * 100:.1f}")

    lines = [f"{n_cells} (features, k, model) cells, {int(c.n.max())} seed(s) each; majority-class rate "
             f"(always 'benign') {majority:.1%}."]
    notes = [f"Note: {s}." for s in (confound or [])]
    if c.n.max() < 2:
        return lines + ["With one seed there is no interval: no claim either way."] + notes
    above = c[c.above_majority]
    lines.append(f"Above the majority class: {len(above)} of {n_cells} cells have a 95% t-interval of target "
                 f"accuracy entirely above {majority:.1%} and of balanced accuracy entirely above 50%"
                 + (":" if len(above) else "."))
    lines += [f"  - {detail(ix)}" for ix in above.index]
    for f in c.index.get_level_values("features").unique():
        sub = c.xs(f, level="features")
        best = sub["mean"].idxmax()
        lines.append(f"Best {f} cell by mean target accuracy: k={best[0]} {best[1]} "
                     f"{_ci(sub.loc[best, 'mean'], sub.loc[best, 'ci_low'], sub.loc[best, 'ci_high'])} — picked on "
                     f"the target itself (best of {len(sub)}), so optimistic; every k is reported above.")
    if rules:
        best_rule = float(c.best_rule.iloc[0])
        lines.append("Rules that use no WDBC data at all, on the same target rows (lib/targetonly.py): "
                     + ", ".join(f"{r} {100 * v:.1f}%" for r, v in rules.items()) + ".")
        moved = c[c.above_rules]
        top = c["mean"].idxmax()
        closest = (f" The closest, {name(top)}: {c.loc[top, 'mean']:.1%}, interval over seeds "
                   f"[{c.loc[top, 'ci_low']:.1%}, {c.loc[top, 'ci_high']:.1%}], Wilson lower bound over the "
                   f"target rows {c.loc[top, 'low_rows']:.1%}.")
        if len(moved):
            lines.append(f"Verdict: {len(moved)} of {n_cells} cells transfer: the lower bounds of their accuracy "
                         f"over seeds and over the target rows lie above the best target-only rule "
                         f"({best_rule:.1%}): " + ", ".join(name(ix) for ix in moved.index) + ".")
        elif len(above):
            lines.append(f"Verdict: no cell is shown to transfer. {len(above)} cell(s) beat the majority class, but "
                         f"none is shown to beat the best target-only rule ({best_rule:.1%}), which BCD's own feature "
                         f"distribution gives without any WDBC row: no cell's lower bounds (over seeds and over the "
                         f"target rows) both lie above it." + closest)
        else:
            lines.append("Verdict: no cell transfers: none even beats always answering 'benign'.")
    elif len(above):
        lines.append(f"Verdict: {len(above)} of {n_cells} cells beat the majority class; whether any of them "
                     f"transfers needs the target-only rules (not given here).")
    else:
        lines.append("Verdict: no cell transfers: none even beats always answering 'benign'.")
    return lines + notes


# ============================================================================================== figures
def plot_accuracy(T: TransferParams, summary: pd.DataFrame, rules: dict | None = None):
    """Target accuracy vs k (mean, 95% t-interval band) per model, one panel per feature method; majority
    baseline dashed, the target-only ``rules`` ({name: accuracy}) dotted; the paper's SM at k = 6 (73.97 [65.04,
    82.90], z / n = 13) and its per-k SM means marked. SM_scratch's legend names its confound, if any."""
    import matplotlib.pyplot as plt

    methods = list(T.features)
    fig, axes = plt.subplots(1, len(methods), figsize=(6 * len(methods), 4.2), sharey=True, squeeze=False)
    colors = dict(zip(MODELS, ("tab:blue", "tab:orange", "tab:green", "tab:purple")))
    s = summary[(summary.part == "target") & (summary.metric == "accuracy")]
    majority = float(s.majority.iloc[0]) * 100
    for ax, method in zip(axes[0], methods):
        for m in MODELS:
            g = s[(s.features == method) & (s.model == m)].sort_values("k")
            if g.empty:
                continue
            ax.plot(g.k, g["mean"] * 100, marker="o", color=colors[m], label=model_label(T.params, m))
            ax.fill_between(g.k, (g.ci_low * 100).clip(0, 100), (g.ci_high * 100).clip(0, 100), color=colors[m],
                            alpha=0.15, lw=0)  # t-intervals over few seeds can leave [0, 100]: clipped for display
        ax.axhline(majority, ls="--", color="grey", lw=1, label=f"always 'benign' {majority:.1f}%")
        for (r, v), c in zip((rules or {}).items(), ("tab:red", "tab:brown")):
            ax.axhline(100 * v, ls=":", color=c, lw=1.2, label=f"{r} (no WDBC data) {100 * v:.1f}%")
        ax.set_ylim(0, 101)
        if method == "authors":
            ax.plot(PAPER_BY_K.index, PAPER_BY_K.SM, ls="none", marker="x", color="k", alpha=0.6,
                    label="paper SM (xlsx means)")
            h = PAPER_HEADLINE
            ax.errorbar([h["k"] + 0.12], [h["mean"]], yerr=[[h["mean"] - h["low"]], [h["high"] - h["mean"]]],
                        fmt="*", color="k", ms=10, capsize=4, label="paper 73.97 [65.04, 82.90]")
        ax.set(title=f"{method} features", xlabel="k (PCA components)", ylabel="BCD accuracy (%)")
        ax.legend(fontsize=8, loc="lower left", ncol=2)
    fig.suptitle(f"{T.run}: train on WDBC, test on all {T.target.upper()} rows (mean and 95% t-interval over "
                 f"{T.seeds} seeds)", y=1.02)
    return fig


def plot_sign_flips(T: TransferParams, flips: pd.DataFrame, majority: float):
    """BCD accuracy of each model at k = 6 over every sign pattern of BCD's components (all seeds), with the
    installed solver's pattern and the loadings-matched pattern marked."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7.5, 4))
    if flips.empty:
        ax.text(0.5, 0.5, "no sign-flip analysis (needs authors features and k = 6)", ha="center")
        return fig
    order = [m for m in CNN_MODELS if m in set(flips.model)]
    f = flips.assign(acc=flips.accuracy * 100)
    sns.violinplot(data=f, x="model", y="acc", order=order, color="0.9", inner="quartile", cut=0, ax=ax)
    sns.stripplot(data=f, x="model", y="acc", order=order, color="0.5", size=2, alpha=0.4, jitter=0.25, ax=ax)
    for col, label, color, marker in (("solver", "installed solver's signs", "tab:red", "D"),
                                      ("matches_wdbc", "BCD signs matched to WDBC's by loadings", "tab:blue", "o")):
        g = f[f[col]]
        ax.scatter([order.index(m) + 0.3 for m in g.model], g.acc, color=color, marker=marker, s=18,
                   label=label, zorder=3)
    ax.axhline(majority * 100, ls="--", color="grey", lw=1, label=f"always 'benign' {majority:.1%}")
    ax.set(title=f"{T.run}: authors' features, k = {SIGN_FLIP_K}: BCD accuracy over all "
                 f"{2 ** SIGN_FLIP_K} sign patterns x {flips.seed.nunique()} seeds", xlabel="",
           ylabel="BCD accuracy (%)")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_loadings(T: TransferParams, D: Data, k: int = SIGN_FLIP_K):
    """Loadings of the first ``k`` signed components (standardized, loadings sum positive; fit on all rows of
    each dataset, for display) of WDBC's 30 and BCD's 9 features: PC1 is "everything larger" in both, later
    components are contrasts between unrelated measurements."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    k = min(k, D.W.shape[1], D.B.shape[1])
    cols = [f"PC{j + 1}" for j in range(k)]
    w = pd.DataFrame(crossdataset.SignedPCA(k).fit(D.W).components.T, index=D.source_features, columns=cols)
    b = pd.DataFrame(crossdataset.SignedPCA(k).fit(D.B).components.T, index=D.target_features, columns=cols)
    fig, axes = plt.subplots(1, 2, figsize=(11, 8.5), gridspec_kw={"width_ratios": [1, 1]})
    lim = max(np.abs(w.values).max(), np.abs(b.values).max())
    sns.heatmap(w, cmap="RdBu_r", vmin=-lim, vmax=lim, ax=axes[0], cbar=False, annot=True, fmt=".2f",
                annot_kws={"fontsize": 6})
    sns.heatmap(b, cmap="RdBu_r", vmin=-lim, vmax=lim, ax=axes[1], cbar=True, annot=True, fmt=".2f",
                annot_kws={"fontsize": 7})
    axes[0].set_title(f"WDBC ({D.W.shape[1]} features): signed PCA loadings")
    axes[1].set_title(f"{T.target.upper()} ({D.B.shape[1]} features): signed PCA loadings")
    fig.suptitle("PC j of one dataset is fed where the model learnt PC j of the other: only PC1 means the same",
                 y=1.0)
    fig.tight_layout()
    return fig
