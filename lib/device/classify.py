"""Classify a CSV of raw measurements with a self-contained deployable model, as a clinic's device would.

``python -m lib.device.classify MODEL.tflite INPUT.csv [--contract MODEL.json] [--out OUT.csv]``

Needs only NumPy and LiteRT (``ai-edge-litert``, or the legacy ``tflite-runtime``): what a clinic's Raspberry Pi
would have; it never imports TensorFlow, pandas or scikit-learn. The model's input contract (``MODEL.json`` beside
the model by default, written by ``lib.compress.deploy.contract`` in notebook 06) names the raw features in the model's order, their units, and the
decision threshold on P(malignant). Every row must be complete: the model has no imputer inside (its
preprocessing is one affine map, :mod:`lib.compress.deploy`), so a missing or non-numeric cell is an error that names its
row and column, as is a missing or unexpected column. The output CSV has one line per input row: its number,
P(malignant) and the decision (1 = malignant) at the contract's threshold.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

from lib.device.litert import LiteModel

CONTRACT_KEYS = ("features", "threshold", "output")


class InputError(ValueError):
    """A CSV, contract or model that cannot be classified, with the row / column / file that is wrong."""


def read_contract(path) -> dict:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: the model's input contract is missing (it names the features and the threshold)")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not valid JSON ({e})") from None
    missing = [k for k in CONTRACT_KEYS if k not in doc]
    if missing:
        raise InputError(f"{p}: missing key(s) {missing}")
    if not isinstance(doc["features"], list) or not doc["features"]:
        raise InputError(f"{p}: 'features' must be a non-empty list of column names")
    t = doc["threshold"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
        raise InputError(f"{p}: 'threshold' must be a number in (0, 1), got {t!r}")
    return doc


def read_rows(path, features: list[str]) -> np.ndarray:
    """The CSV's rows as floats in the contract's feature order; errors name the file, row and column."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: input file not found")
    with p.open(newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputError(f"{p}: empty file (expected a header with the columns {features})") from None
        missing = [c for c in features if c not in header]
        extra = [c for c in header if c not in features]
        if missing:
            raise InputError(f"{p}: missing column(s) {missing}" + (f"; unexpected column(s) {extra}" if extra else ""))
        if len(set(header)) != len(header):
            raise InputError(f"{p}: duplicated column name(s) in the header")
        idx = [header.index(c) for c in features]
        rows = []
        for i, line in enumerate(reader, start=1):
            if not line or all(not c.strip() for c in line):
                continue
            if len(line) != len(header):
                raise InputError(f"{p}: data row {i} has {len(line)} cells, the header {len(header)}")
            vals = []
            for j in idx:
                cell = line[j].strip()
                if cell == "" or cell.lower() in ("na", "nan", "null", "none", "?"):
                    raise InputError(f"{p}: data row {i}: missing value in column '{header[j]}' (the model needs "
                                     "complete rows)")
                try:
                    v = float(cell)
                except ValueError:
                    raise InputError(f"{p}: data row {i}: column '{header[j]}' holds {cell!r}, not a number") from None
                if not math.isfinite(v):
                    raise InputError(f"{p}: data row {i}: column '{header[j]}' holds {cell!r}, not a finite number")
                vals.append(v)
            rows.append(vals)
    if not rows:
        raise InputError(f"{p}: no data rows")
    return np.asarray(rows, dtype=np.float32)


def classify(model_path, csv_path, contract_path=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(P(malignant), decisions, contract) for every row of the CSV."""
    model_path = Path(model_path)
    contract = read_contract(contract_path or model_path.with_suffix(".json"))
    X = read_rows(csv_path, contract["features"])
    try:
        lm = LiteModel.from_path(model_path)
    except (ValueError, FileNotFoundError) as e:
        raise InputError(str(e)) from None
    want = tuple(int(d) for d in lm.input["shape"][1:])
    if want != (len(contract["features"]),):
        raise InputError(f"{model_path}: the model takes rows of shape {want}, the contract lists "
                         f"{len(contract['features'])} features: not a deployable model with this contract")
    out = lm.predict(X).astype(np.float64)
    # lib.core.metrics.malignancy_score's formula, written here because lib.core.metrics imports scikit-learn, which a
    # clinic's Pi does not have
    s = out[:, 0] + out[:, 1]
    p = np.where(s > 0, out[:, 1] / np.where(s > 0, s, 1), 0.5)
    return p, (p >= contract["threshold"]).astype(int), contract  # lib.core.operating's decision: score >= threshold


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.device.classify", description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("csv")
    ap.add_argument("--contract", help="the model's input contract (default: MODEL with .json)")
    ap.add_argument("--out", help="write row, p_malignant, malignant to this CSV (default: standard output)")
    a = ap.parse_args(argv)
    try:
        p, d, contract = classify(a.model, a.csv, a.contract)
    except InputError as e:
        print(f"classify: {e}", file=sys.stderr)
        return 2
    out = open(a.out, "w", newline="") if a.out else sys.stdout
    w = csv.writer(out)
    w.writerow(["row", "p_malignant", "malignant"])
    for i, (pi, di) in enumerate(zip(p, d), start=1):
        w.writerow([i, f"{pi:.6f}", int(di)])
    if a.out:
        out.close()
    print(f"classify: {len(p)} rows, {int(d.sum())} malignant at threshold {contract['threshold']:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
