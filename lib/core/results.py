"""The results contract: tidy per-stage CSVs merged into ``outputs/<run>/results.csv``.

Each notebook that evaluates models writes ``outputs/<run>/results_<NN>.csv`` with :func:`write_stage`; after a
run's notebooks, ``make`` calls :func:`gather` (``python -m lib.core.results gather <run>``), which validates and
merges them. One row per run x split x model x format. The columns are documented in docs/results.md.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lib.core import operating, paths
from lib.core.formatting import write_csv
from lib.core.metrics import METRICS, SIGNED

KEY_COLUMNS = ["run", "dataset", "protocol", "seed", "fold", "model", "format"]
COLUMNS = KEY_COLUMNS + ["n_test", *METRICS, *SIGNED, "params", "size_bytes", "size_gzip_bytes"]
MODELS = ("TM", "SM_scratch", "SM", "SM_paperloss", "TM_pruned", "TM_pruned80", "TM_pruned90", "TM_PTQ",
          "TM_PTQ_INT8", "TM_QAT", "SM_INT8", "SM_DEPLOY", "LR", "RF")
FORMATS = ("keras", "tflite", "sklearn")
# The operating point and its calibration, on the rows of a run with a target sensitivity whose model has one.
OPERATING = operating.COLUMNS


@dataclass
class Outcome:
    """What a notebook keeps of one split's work (:func:`lib.core.parallel.map` returns one per split)."""
    rows: list[dict] = field(default_factory=list)    # results contract rows
    extra: dict = field(default_factory=dict)         # notebook-specific tables of the split
    line: str = ""                                    # the progress line


class ContractError(ValueError):
    """A results table breaks the contract; the message says which column and row."""


def validate(df: pd.DataFrame, where: str = "results", keys=KEY_COLUMNS) -> pd.DataFrame:
    """Check a results table against the contract; return it with the contract's columns first. ``keys``: the
    columns that identify a row (training-seed replicates add ``replicate``)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ContractError(f"{where}: missing column(s) {missing}")
    if df.empty:
        return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]
    bad_model = sorted(set(df["model"]) - set(MODELS))
    if bad_model:
        raise ContractError(f"{where}: unknown model name(s) {bad_model}; known: {', '.join(MODELS)}")
    bad_fmt = sorted(set(df["format"]) - set(FORMATS))
    if bad_fmt:
        raise ContractError(f"{where}: unknown format(s) {bad_fmt}; known: {', '.join(FORMATS)}")
    for c in METRICS:
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().sum() > df[c].isna().sum():
            raise ContractError(f"{where}: column {c!r} holds non-numeric values")
        if ((v < 0) | (v > 1)).any():
            row = int(np.flatnonzero(((v < 0) | (v > 1)).to_numpy())[0])
            raise ContractError(f"{where}: {c} = {v.iloc[row]} outside [0, 1] (row {row})")
    for c in SIGNED:
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().sum() > df[c].isna().sum() or ((v < -1) | (v > 1)).any():
            raise ContractError(f"{where}: column {c!r} must hold numbers in [-1, 1]")
    if (pd.to_numeric(df["n_test"], errors="coerce").fillna(0) < 1).any():
        raise ContractError(f"{where}: n_test must be a positive count")
    dup = df.duplicated(subset=list(keys))
    if dup.any():
        r = df[dup].iloc[0]
        raise ContractError(f"{where}: duplicate row for {dict(r[list(keys)])}")
    return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]].reset_index(drop=True)


def row(run_params, split, model: str, fmt: str, metrics: dict, *, params=np.nan, size_bytes=np.nan,
        size_gzip_bytes=np.nan, **extra) -> dict:
    """One contract row: keys from the run's params and the split, metrics from lib.core.metrics.classify,
    the model's parameter count and file sizes, then any extra columns (e.g. train_time_s)."""
    base = {"run": run_params.run, "dataset": run_params.dataset, "protocol": run_params.protocol,
            "seed": split.seed, "fold": split.id, "model": model, "format": fmt}
    base.update({k: metrics[k] for k in ["n_test", *METRICS, *SIGNED]})
    base.update({"params": params, "size_bytes": size_bytes, "size_gzip_bytes": size_gzip_bytes})
    base.update({k: metrics[k] for k in ("tp", "fp", "tn", "fn", "agreement", *OPERATING) if k in metrics})
    if "size_bytes" in metrics and np.isnan(size_bytes):  # a tflite evaluation carries the file's sizes
        base.update({"size_bytes": metrics["size_bytes"], "size_gzip_bytes": metrics["size_gzip_bytes"]})
    base.update(extra)
    return base


def write_stage(run: str, stage: str, rows) -> Path:
    """Validate and write one notebook's results as ``outputs/<run>/results_<stage>.csv``."""
    df = pd.DataFrame(list(rows)) if not isinstance(rows, pd.DataFrame) else rows
    path = paths.run_dir(run) / f"results_{stage}.csv"
    df = validate(df, where=str(path))
    write_csv(df, path)
    return path


def read_stages(run: str, *stages: str) -> pd.DataFrame:
    """The results of earlier notebooks of ``run`` (``results_<stage>.csv``, e.g. ``"02", "03"``), one table."""
    files = [paths.outputs_root() / run / f"results_{s}.csv" for s in stages]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"outputs/{run}: {', '.join(missing)} missing: run the notebooks that write them first "
                                f"(make reproduce runs them in order)")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


# Per-row test predictions (``outputs/<run>/predictions.csv``, :mod:`lib.compress.predictions`): the columns, and
# the stage files a notebook writes for notebook 06 to merge (notebook 03: the baselines' scores).
PREDICTION_COLUMNS = ["run", "fold", "seed", "row", "y", "model", "score", "pred"]


def prediction_rows(run: str, split, y_test, model: str, score) -> pd.DataFrame:
    """The per-row predictions of one model on split ``split``'s test rows: its malignancy scores
    (P(malignant)) and the predicted class (score > 0.5, the argmax)."""
    score = np.asarray(score, dtype=float)
    return pd.DataFrame({"run": run, "fold": split.id, "seed": split.seed, "row": split.test,
                         "y": np.asarray(y_test, dtype=int), "model": model, "score": score,
                         "pred": (score > 0.5).astype(int)})[PREDICTION_COLUMNS]


def predictions_file(run: str, stage: str) -> Path:
    return paths.run_dir(run) / f"predictions_{stage}.csv"


def write_predictions(run: str, stage: str, parts: list) -> Path:
    """Write a notebook's per-row predictions (:func:`prediction_rows` frames, any further columns after them) as
    ``outputs/<run>/predictions_<stage>.csv``, scores to 7 significant digits; a header only when ``parts`` is
    empty (the run has no such models)."""
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PREDICTION_COLUMNS)
    path = predictions_file(run, stage)
    write_csv(df[PREDICTION_COLUMNS + [c for c in df.columns if c not in PREDICTION_COLUMNS]], path,
              float_format="%.7g")
    return path


def read_predictions(run: str, stage: str) -> pd.DataFrame:
    """``outputs/<run>/predictions_<stage>.csv`` (:func:`write_predictions`)."""
    path = predictions_file(run, stage)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run notebook {stage} for run '{run}' first (make reproduce)")
    df = pd.read_csv(path)
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise ContractError(f"{path}: missing column(s) {missing}; expected {PREDICTION_COLUMNS}")
    return df[PREDICTION_COLUMNS]


def gather(run: str) -> Path:
    """Merge ``outputs/<run>/results_*.csv`` into ``outputs/<run>/results.csv`` (validated)."""
    d = paths.outputs_root() / run
    if not d.is_dir():
        raise FileNotFoundError(f"no outputs for run '{run}' at {d}: run its notebooks first")
    parts = []
    for p in sorted(d.glob("results_*.csv")):
        try:
            parts.append(validate(pd.read_csv(p), where=str(p)))
        except pd.errors.ParserError as e:
            raise ContractError(f"{p}: unreadable CSV: {e}") from e
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    df = validate(df, where=f"{d}/results.csv (merged from {len(parts)} file(s))")
    out = d / "results.csv"
    write_csv(df, out)
    return out


def load(run: str) -> pd.DataFrame:
    path = paths.outputs_root() / run / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run 'make reproduce' (or the run's notebooks) first")
    return validate(pd.read_csv(path), where=str(path))


if __name__ == "__main__":  # python -m lib.core.results gather <run> [<run> ...]
    if len(sys.argv) < 3 or sys.argv[1] != "gather":
        sys.exit("usage: python -m lib.core.results gather <run> [<run> ...]")
    for name in sys.argv[2:]:
        out = gather(name)
        print(f"gathered {out} ({len(pd.read_csv(out))} rows)")
