"""Per-row predictions of every TFLite model and every baseline on its split's test rows.

``results.csv`` holds one row of metrics per split and model; paired per-sample tests (McNemar), ROC curves and
reliability curves need the individual scores. Notebook 03 writes the baselines' (LR, RF) test scores to
``outputs/<run>/predictions_03.csv`` (:func:`lib.core.results.write_predictions`); notebook 06 runs every converted model of every split
in LiteRT once more on the split's test rows, adds the baselines' rows and writes ``outputs/<run>/predictions.csv``
(:data:`COLUMNS`); notebook 08 reads it with :func:`load`. ``row`` is the row's index in the dataset as loaded
(``lib.data.datasets``), so the same patient can be followed across models, splits and repeats.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lib.core import metrics, paths, results
from lib.core.formatting import write_csv
from lib.device import litert
from lib.compress import tflite

COLUMNS = results.PREDICTION_COLUMNS
FILE = "predictions.csv"


class PredictionsError(ValueError):
    """A predictions file is missing, unreadable or breaks its columns; the message names the file."""


def split_rows(run: str, split, prep, names) -> pd.DataFrame:
    """Malignancy score (lib.core.metrics.malignancy_score) and predicted class of each model in ``names`` (its
    ``.tflite`` of this split, in LiteRT) on the split's test rows."""
    parts = [results.prediction_rows(run, split, prep.y_test, name,
                   metrics.malignancy_score(litert.LiteModel(tflite.load(run, name, split.id)).predict(prep.X_test)))
             for name in names]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def write(run: str, df: pd.DataFrame):
    """Write ``outputs/<run>/predictions.csv`` atomically (scores to 7 significant digits: float32 precision)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsError(f"predictions for run '{run}': missing column(s) {missing}")
    return write_csv(df[COLUMNS], paths.run_dir(run) / FILE, float_format="%.7g")


def load(run: str) -> pd.DataFrame:
    """``outputs/<run>/predictions.csv``, checked: the columns, scores in [0, 1], labels and predictions 0/1."""
    path = paths.outputs_root() / run / FILE
    if not path.exists():
        raise PredictionsError(f"{path} not found: run notebook 06 for run '{run}' (make reproduce)")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise PredictionsError(f"{path}: unreadable CSV: {e}") from e
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsError(f"{path}: missing column(s) {missing}; expected {COLUMNS}")
    score = pd.to_numeric(df["score"], errors="coerce")
    if score.isna().any() or ((score < 0) | (score > 1)).any():
        bad = int(np.flatnonzero((score.isna() | (score < 0) | (score > 1)).to_numpy())[0])
        raise PredictionsError(f"{path}: score {df['score'].iloc[bad]!r} in data row {bad + 1} is not a number "
                               f"in [0, 1]")
    for c in ("y", "pred"):
        if not df[c].isin([0, 1]).all():
            bad = int(np.flatnonzero(~df[c].isin([0, 1]).to_numpy())[0])
            raise PredictionsError(f"{path}: column {c!r} must be 0 or 1, got {df[c].iloc[bad]!r} in data row "
                                   f"{bad + 1}")
    if df.duplicated(["fold", "row", "model"]).any():
        r = df[df.duplicated(["fold", "row", "model"])].iloc[0]
        raise PredictionsError(f"{path}: duplicate prediction for fold {r['fold']}, row {r['row']}, "
                               f"model {r['model']}")
    return df


def agreement_with_results(pred: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
    """Accuracy recomputed from the predictions next to the contract's (the tflite and sklearn rows of ``res``),
    per fold and model: the check that both files describe the same models."""
    acc = pred.assign(correct=pred["y"] == pred["pred"]).groupby(["fold", "model"])["correct"].mean()
    ref = res[res["format"].isin(["tflite", "sklearn"])].set_index(["fold", "model"])["accuracy"]
    both = pd.DataFrame({"from_predictions": acc, "from_results": ref}).dropna()
    return both.assign(equal=np.isclose(both["from_predictions"], both["from_results"], atol=1e-12))
