"""Classify a CSV of raw measurements with a self-contained deployable model, as a clinic's device would.

``python -m lib.device.classify MODEL.tflite INPUT.csv [--contract MODEL.json] [--out OUT.csv] [--strict]
[--id-column NAME]``

Needs only NumPy and LiteRT (``ai-edge-litert``, or the legacy ``tflite-runtime``): what a clinic's Raspberry Pi
would have; it never imports TensorFlow, pandas or scikit-learn, and of this repository only ``lib/__init__.py``,
``lib/device/__init__.py``, ``lib/device/classify.py`` and ``lib/device/litert.py`` (docs/classify.md: the minimal
install). The model's input contract (``MODEL.json`` beside the model by default, written by
``lib.compress.deploy.contract`` in notebook 06) names the raw features in the model's order, their units, and the
decision threshold on P(malignant).

**Reading the table.** The separator is a comma, a semicolon or a tab (the one that splits the first line into the
most cells); a UTF-8 byte order mark, quoted names and cells, and a trailing separator on every line (UCI's / Kaggle's
``wdbc.csv``: an empty last name over empty cells) are accepted. A column is found by its contract name; failing
that, by one of the contract's optional ``synonyms`` (``{feature: [other names]}``), by its name ignoring case,
spaces, underscores and punctuation, or by scikit-learn's ``load_breast_cancer`` names (``mean radius`` =
``radius_mean``, ``radius error`` = ``radius_se``, ``worst radius`` = ``radius_worst``); such a match is reported in
one line on standard error.

**Extra columns.** Columns the model does not use (a diagnosis, a label, a spreadsheet's unnamed index) are ignored
and named in one line on standard error; ``--strict`` makes them an error. An ID column is copied to the output (it
is not an extra column): the one ``--id-column NAME`` names, else the contract's ``id_column`` (a table run's sample
ID), else a column named ``id`` or ``sample_id`` (any case)
if there is one. An unnamed last column that is empty on every row (a trailing separator) is not a column; a value
under no name is an error, as are two columns that give one feature.

**Errors.** Every row must be complete: the model has no imputer inside (its preprocessing is one affine map,
:mod:`lib.compress.deploy`), so a missing, non-numeric or infinite cell is an error that names its row and column,
as is a missing column, a first line of numbers instead of names, a short row, an empty file and a corrupt model or
contract. A model that takes preprocessed inputs (features ``input_1..input_N``, or ``"preprocessed": true``) says
so and names the raw-input model beside it (``"raw_input_model"`` of the contract, else ``sm_deploy.tflite``). The
command prints ``classify: <message>`` on standard error and exits with status 2.

**Output.** One CSV line per input row: ``row`` (1 = the first line after the header), the ID if one is copied,
``p_<positive>`` (P(malignant), the model's raw score), ``p_<positive>_calibrated`` when the contract holds a
``calibration`` (the raw score through its Platt map, ``sigmoid(a * logit(p) + b)``), ``<positive>`` (the decision
at the contract's threshold on the raw score, 1 or 0) and ``label`` (its name). The names come from the contract's
optional ``"label": {"positive": ..., "negative": ...}``, by default malignant / benign:
``row,id,p_malignant,p_malignant_calibrated,malignant,label``.
"""
from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib.device.litert import LiteModel

CONTRACT_KEYS = ("features", "threshold", "output")
DEFAULT_LABEL = {"positive": "malignant", "negative": "benign"}
RAW_INPUT_MODEL = "sm_deploy.tflite"  # what notebook 06 exports beside sm_int8.tflite when the preprocessing is affine
DELIMITERS = (",", ";", "\t")
CLIP = 1e-6  # scores clipped before the logit of the calibration (lib.core.calibration.EPS), if the contract says none
ID_NAMES = ("id", "sample_id")  # normalised names of a column copied to the output without --id-column
MISSING_TOKENS = ("", "na", "n/a", "#n/a", "nan", "null", "none", "?")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PREPROCESSED = re.compile(r"input_(\d+)")
# how a column was found, in the order tried, and the words of the stderr line that reports it
RULES = {"synonym": "the contract's synonyms",
         "normalised": "their names ignoring case, spaces, underscores and punctuation",
         "sklearn": "scikit-learn's names (load_breast_cancer)"}


class InputError(ValueError):
    """A CSV, contract or model that cannot be classified, with the row / column / file that is wrong."""


class MissingColumnsError(InputError):
    """The header lacks some of the contract's features (``missing``)."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


@dataclass
class Table:
    """The rows of a CSV as the model's input, with what was read how."""
    X: np.ndarray  # float32 (n, features) in the contract's order
    rows: list[int]  # each row's number in the file (1 = the first line after the header)
    ids: list[str] | None = None  # the copied ID column's cells
    id_name: str | None = None
    notes: list[str] = field(default_factory=list)  # what to tell the user on stderr (mapped names, ignored columns)


@dataclass
class Result:
    p: np.ndarray  # P(positive) of every row
    decision: np.ndarray  # 1 when p >= threshold
    contract: dict
    table: Table
    p_calibrated: np.ndarray | None = None  # p through the contract's calibration, if it has one


# ---------------------------------------------------------------------------------------------------- the contract

def read_contract(path) -> dict:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: the model's input contract is missing (it names the features and the threshold; "
                         "give it with --contract if it is not beside the model)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{p}: not a model contract (a JSON object with the keys {list(CONTRACT_KEYS)})")
    missing = [k for k in CONTRACT_KEYS if k not in doc]
    if missing:
        raise InputError(f"{p}: missing key(s) {missing}")
    feats = doc["features"]
    if not isinstance(feats, list) or not feats or not all(isinstance(f, str) and f.strip() for f in feats):
        raise InputError(f"{p}: 'features' must be a non-empty list of column names")
    if len(set(feats)) != len(feats):
        raise InputError(f"{p}: 'features' names {_dupes(feats)} more than once")
    t = doc["threshold"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t < 1:
        raise InputError(f"{p}: 'threshold' must be a number in [0, 1), got {t!r}")
    cal = doc.get("calibration")
    if cal is not None and not (isinstance(cal, dict) and all(_finite(cal.get(k)) for k in ("a", "b"))
                                and _finite(cal.get("clip", CLIP)) and 0 < cal.get("clip", CLIP) < 0.5):
        raise InputError(f"{p}: 'calibration' must be {{\"a\": number, \"b\": number}} (with an optional "
                         f"\"clip\" in (0, 0.5)), got {cal!r}")
    syn = doc.get("synonyms", {})
    if not isinstance(syn, dict) or not all(
            k in feats and isinstance(v, list) and all(isinstance(s, str) for s in v) for k, v in syn.items()):
        raise InputError(f"{p}: 'synonyms' must map features of the contract to lists of other names")
    owner = {}
    for f in feats:
        owner[normalise(f)] = f
    for f, names in syn.items():
        for s in names:
            if owner.setdefault(normalise(s), f) != f:
                raise InputError(f"{p}: synonym {s!r} of {f} also names {owner[normalise(s)]}")
    label = doc.get("label", DEFAULT_LABEL)
    if not (isinstance(label, dict) and all(isinstance(label.get(k), str) and label[k].strip()
                                            for k in ("positive", "negative"))
            and label["positive"] != label["negative"]):
        raise InputError(f"{p}: 'label' must be {{\"positive\": name, \"negative\": other name}}, got {label!r}")
    if not isinstance(doc.get("preprocessed", False), bool):
        raise InputError(f"{p}: 'preprocessed' must be true or false")
    if not isinstance(doc.get("raw_input_model", ""), str):
        raise InputError(f"{p}: 'raw_input_model' must be a file name")
    return doc


def _finite(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def calibrated(p: np.ndarray, calibration: dict) -> np.ndarray:
    """The contract's Platt map of raw scores ``p``: ``sigmoid(a * logit(p) + b)``, p clipped to [clip, 1 - clip]
    (lib.core.calibration.apply_platt, written here with NumPy alone)."""
    clip = calibration.get("clip", CLIP)
    q = np.clip(np.asarray(p, dtype=np.float64), clip, 1 - clip)
    z = calibration["a"] * np.log(q / (1 - q)) + calibration["b"]
    return 1.0 / (1.0 + np.exp(-z))


def labels(contract: dict) -> tuple[str, str]:
    """(positive, negative) label names of the contract's decision (default malignant, benign)."""
    lab = contract.get("label", DEFAULT_LABEL)
    return lab["positive"].strip(), lab["negative"].strip()


def is_preprocessed(contract: dict) -> bool:
    """The model takes the study's preprocessed inputs (``input_1..input_N``), not raw measurements."""
    if "preprocessed" in contract:
        return bool(contract["preprocessed"])
    return [f"input_{i + 1}" for i in range(len(contract["features"]))] == contract["features"]


def raw_input_model(model_path, contract: dict, contract_path=None) -> Path | None:
    """The raw-input model to use instead of a preprocessed one: the contract's ``raw_input_model`` (relative to
    the contract's folder), else ``sm_deploy.tflite`` beside the model if it exists."""
    model_path = Path(model_path)
    base = Path(contract_path).parent if contract_path else model_path.parent
    if contract.get("raw_input_model"):
        return base / contract["raw_input_model"]
    for folder in dict.fromkeys([model_path.parent, base]):
        if (folder / RAW_INPUT_MODEL).exists() and (folder / RAW_INPUT_MODEL).resolve() != model_path.resolve():
            return folder / RAW_INPUT_MODEL
    return None


# --------------------------------------------------------------------------------------------------- column names

def normalise(name: str) -> str:
    """A column name without case, spaces, underscores and punctuation between its words: 'Concave Points Mean',
    'concave points_mean' and 'concave_points_mean' are all 'concave_points_mean'."""
    return "_".join(re.findall(r"[^\W_]+", name.replace("\ufeff", "").lower()))


def sklearn_to_uci(norm: str) -> str:
    """scikit-learn's ``load_breast_cancer`` name (normalised) in the UCI / Kaggle convention: 'mean_radius' ->
    'radius_mean', 'radius_error' -> 'radius_se', 'worst_radius' -> 'radius_worst'; any other name unchanged."""
    if norm.startswith("mean_"):
        return norm[5:] + "_mean"
    if norm.startswith("worst_"):
        return norm[6:] + "_worst"
    if norm.endswith("_error"):
        return norm[:-6] + "_se"
    return norm


def match_columns(header: list[str], contract: dict) -> dict[int, tuple[str, str]]:
    """{header position: (feature, rule)} for the header's columns that are features of the contract; rule is
    'exact' or one of :data:`RULES`. Unnamed columns match nothing."""
    feats = contract["features"]
    exact = {f.strip(): f for f in feats}
    syn = {normalise(s): f for f, names in contract.get("synonyms", {}).items() for s in names}
    norm = {normalise(f): f for f in feats}
    sk = {sklearn_to_uci(normalise(f)): f for f in feats}
    out = {}
    for j, h in enumerate(header):
        n = normalise(h)
        if not n:
            continue
        if h in exact:
            out[j] = (exact[h], "exact")
        elif n in syn:
            out[j] = (syn[n], "synonym")
        elif n in norm:
            out[j] = (norm[n], "normalised")
        elif sklearn_to_uci(n) in sk:
            out[j] = (sk[sklearn_to_uci(n)], "sklearn")
    return out


def _dupes(names) -> list:
    seen, twice = set(), []
    for n in names:
        if n in seen and n not in twice:
            twice.append(n)
        seen.add(n)
    return twice


def _col(header: list[str], j: int) -> str:
    return f"'{header[j]}'" if header[j] else f"column {j + 1} (no name)"


def _short(names: list[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


# ------------------------------------------------------------------------------------------------------ the file

def read_text(path) -> str:
    """The file as text: UTF-8 with or without a byte order mark, UTF-16 with one, else Latin-1 (every byte is a
    character there; numbers and the usual names read the same). A spreadsheet or other binary file is an error."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: input file not found")
    if p.is_dir():
        raise InputError(f"{p}: a folder, not a CSV file")
    data = p.read_bytes()
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{p}: a spreadsheet workbook (Excel .xlsx/.xls or similar), not CSV text: save the sheet "
                         "as CSV first")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise InputError(f"{p}: not a text file (it holds NUL bytes): classify reads CSV text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def sniff_delimiter(first_line: str) -> str:
    """The separator among comma, semicolon and tab that splits the line into the most cells (comma on a tie)."""
    counts = [(len(next(csv.reader([first_line], delimiter=d))), -i, d) for i, d in enumerate(DELIMITERS)]
    return max(counts)[2]


def _number(cell: str) -> float | None:
    """The cell's value, None if it is not a number (NaN and infinity are numbers here: the caller says why not)."""
    if _NUMBER.fullmatch(cell) or cell.lower().lstrip("+-") in ("inf", "infinity"):
        return float(cell)
    return None


def read_table(path, contract: dict, *, strict: bool = False, id_column: str | None = None) -> Table:
    """The CSV's rows as floats in the contract's feature order (module docstring: how the file and its columns
    are read); errors name the file, row and column."""
    p = Path(path)
    text = read_text(p)
    feats = contract["features"]
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        raise InputError(f"{p}: empty file (expected a header line with the columns {_short(feats)})")
    delim = sniff_delimiter(first)
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        header = None
        while header is None:
            line = next(records)
            if line and any(c.strip() for c in line):
                header = [h.replace("\ufeff", "").strip() for h in line]
    except csv.Error as e:
        raise InputError(f"{p}: the header line is not readable CSV ({e})") from None
    # a trailing separator on every line: an unnamed last column, dropped when all its cells are empty
    named = len(header)
    while named > 0 and not header[named - 1]:
        named -= 1

    cols = match_columns(header[:named], contract)
    found: dict[str, list[int]] = {}
    for j, (f, _) in cols.items():
        found.setdefault(f, []).append(j)
    twice = {f: js for f, js in found.items() if len(js) > 1}
    if twice:
        f, js = next(iter(twice.items()))
        raise InputError(f"{p}: the columns {', '.join(f'{_col(header, j)} (column {j + 1})' for j in js)} all "
                         f"give the feature {f}: keep one")
    dup = _dupes([h for h in header[:named] if h])
    if dup:
        raise InputError(f"{p}: the header names {dup} more than once")
    missing = [f for f in feats if f not in found]
    if missing:
        raise _missing_error(p, header[:named], missing, contract)

    # the ID column: --id-column, else a column named id / sample_id that is not a feature
    id_j = None
    if id_column is not None:
        want = [j for j, h in enumerate(header[:named]) if h == id_column.strip()] or \
               [j for j, h in enumerate(header[:named]) if normalise(h) == normalise(id_column) and normalise(h)]
        if not want:
            raise InputError(f"{p}: no column {id_column!r} for --id-column (the header: "
                             f"{_short([h for h in header if h], 12)})")
        id_j = want[0]
    else:  # the contract's ID column (a table run's id_column), else a column named id / sample_id
        names = ((normalise(contract["id_column"]),) if contract.get("id_column") else ()) + ID_NAMES
        id_j = next((j for n in names for j, h in enumerate(header[:named]) if j not in cols and normalise(h) == n),
                    None)
    extra = [j for j in range(named) if j not in cols and j != id_j]
    if extra and strict:
        raise InputError(f"{p}: {len(extra)} column(s) not used by the model: "
                         f"{', '.join(_col(header, j) for j in extra)} (--strict: remove them, or leave out "
                         "--strict to ignore them)")

    idx = [found[f][0] for f in feats]
    X, rows, ids = [], [], []
    i = 0
    try:
        for i, line in enumerate(records, start=1):
            if not line or all(not c.strip() for c in line):
                continue
            cells = [c.strip() for c in line]
            while len(cells) > named and not cells[-1]:
                cells.pop()  # trailing empty cells: a trailing separator, or the empty unnamed last column
            if len(cells) > named:
                raise InputError(f"{p}: data row {i} has {len(cells)} cells, the header {named} names: a value in "
                                 f"column {len(cells)} has no column name")
            if len(cells) < named:
                raise InputError(f"{p}: data row {i} has {len(cells)} cells, the header {named}")
            X.append([_value(p, i, header[j], cells[j]) for j in idx])
            rows.append(i)
            if id_j is not None:
                ids.append(cells[id_j])
    except csv.Error as e:
        raise InputError(f"{p}: data row {i + 1} is not readable CSV ({e})") from None
    if not X:
        raise InputError(f"{p}: no data rows (only the header line)")

    notes = []
    by_rule = {}
    for j in idx:
        f, rule = cols[j]
        if rule != "exact":
            by_rule.setdefault(rule, []).append(f"'{header[j]}' = {f}")
    if by_rule:
        notes.append("recognised the columns by " + "; ".join(
            f"{RULES[r]} for {len(m)} of the {len(feats)} features (e.g. {m[0]})" for r, m in by_rule.items()))
    if extra:
        notes.append(f"ignored {len(extra)} column(s) not used by the model: "
                     f"{', '.join(header[j] or f'column {j + 1} (no name)' for j in extra)}")
    if id_j is not None:
        notes.append(f"copied the ID column '{header[id_j]}' to the output")
    return Table(np.asarray(X, dtype=np.float32), rows, ids if id_j is not None else None,
                 header[id_j] if id_j is not None else None, notes)


def _value(p: Path, i: int, name: str, cell: str) -> float:
    if cell.lower() in MISSING_TOKENS:
        raise InputError(f"{p}: data row {i}: missing value in column '{name}' (the model needs complete rows)")
    v = _number(cell)
    if v is None:
        hint = (" (a comma inside a number: write decimals with a point and no thousands separator)"
                if re.fullmatch(r"[+-]?\d+(,\d+)+", cell) else "")
        raise InputError(f"{p}: data row {i}: column '{name}' holds {cell!r}, not a number{hint}")
    if not math.isfinite(v):
        raise InputError(f"{p}: data row {i}: column '{name}' holds {cell!r}, not a finite number")
    return v


def _missing_error(p: Path, header: list[str], missing: list[str], contract: dict) -> InputError:
    """The most likely cause of missing features: a first line of numbers, one cell per line (another separator),
    near-miss names, or simply absent columns."""
    feats = contract["features"]
    cells = [h for h in header if h]
    numeric = [h for h in cells if _number(h) is not None or h.lower() in MISSING_TOKENS]
    if len(missing) == len(feats) and cells and len(numeric) * 2 >= len(cells):
        extra = len(header) - len(feats)
        more = (f"; the line has {len(header)} values and the model {len(feats)} features: name the other {extra} "
                "column(s) too (columns the model does not use are ignored)") if extra > 0 else ""
        return MissingColumnsError(
            f"{p}: the first line holds numbers, not column names: add the header line with the contract's "
            f"features (any order){more}: {','.join(feats)}", missing)
    if len(header) == 1 and len(feats) > 1:
        return MissingColumnsError(
            f"{p}: the first line is one column ({header[0][:60]!r}): separate the columns with commas, semicolons "
            f"or tabs; the model needs the columns {_short(feats)}", missing)
    msg = f"{p}: missing column(s) {missing if len(missing) <= 12 else _short(missing, 12)}"
    if len(missing) == len(feats):
        msg = (f"{p}: missing column(s): none of the model's {len(feats)} features is in the header (the header: "
               f"{_short(cells, 10)}; the model needs: {_short(feats, 10)})")
    used = set(match_columns(header, contract))
    ids = {normalise(contract.get("id_column") or ""), *ID_NAMES}
    unused = [h for j, h in enumerate(header) if h and j not in used and normalise(h) not in ids]
    near = []
    norm_unused = {sklearn_to_uci(normalise(h)): h for h in unused}
    for f in missing:
        close = difflib.get_close_matches(sklearn_to_uci(normalise(f)), list(norm_unused), n=1, cutoff=0.8)
        if close:
            near.append(f"'{norm_unused[close[0]]}' for {f}")
    if near:
        msg += f"; did you mean {_short(near, 5)}?"
    elif unused and len(missing) < len(feats):
        msg += f"; columns the model does not use (is one of them misnamed?): {_short(unused, 10)}"
    return MissingColumnsError(msg, missing)


def read_rows(path, features: list[str]) -> np.ndarray:
    """The CSV's rows as floats in the order of ``features`` (:func:`read_table` with a bare contract)."""
    return read_table(path, {"features": list(features)}).X


# --------------------------------------------------------------------------------------------------- the model

def run(model_path, csv_path, contract_path=None, *, strict: bool = False, id_column: str | None = None) -> Result:
    """P(positive), the decisions, the contract and the table read, for every row of the CSV."""
    model_path = Path(model_path)
    contract_path = Path(contract_path) if contract_path else model_path.with_suffix(".json")
    contract = read_contract(contract_path)
    try:
        lm = LiteModel.from_path(model_path)
    except (ValueError, FileNotFoundError) as e:
        raise InputError(str(e)) from None
    n = len(contract["features"])
    want = tuple(int(d) for d in lm.input["shape"][1:])
    if int(np.prod(want)) != n:
        raise InputError(f"{model_path}: the model takes rows of shape {want}, the contract lists "
                         f"{n} features: not a deployable model with this contract")
    try:
        table = read_table(csv_path, contract, strict=strict, id_column=id_column)
    except MissingColumnsError as e:
        if not is_preprocessed(contract) or len(e.missing) < n:
            raise
        raise InputError(_preprocessed_message(model_path, contract, contract_path)) from None
    out = lm.predict(table.X.reshape(len(table.X), *want)).astype(np.float64)
    out = out.reshape(len(out), -1)
    if out.shape[1] != 2:
        raise InputError(f"{model_path}: the model gives {out.shape[1]} output(s) per row, not two "
                         "(P(benign), P(malignant))")
    # lib.core.metrics.malignancy_score's formula, written here because lib.core.metrics imports scikit-learn, which a
    # clinic's Pi does not have
    s = out[:, 0] + out[:, 1]
    p = np.where(s > 0, out[:, 1] / np.where(s > 0, s, 1), 0.5)
    # lib.core.operating's decision: raw score >= threshold
    cal = contract.get("calibration")
    return Result(p, (p >= contract["threshold"]).astype(int), contract, table,
                  None if cal is None else calibrated(p, cal))


def _preprocessed_message(model_path: Path, contract: dict, contract_path: Path) -> str:
    feats = contract["features"]
    names = f"{feats[0]}..{feats[-1]}" if len(feats) > 1 else feats[0]
    msg = (f"{model_path}: this model takes preprocessed inputs ({names}: the features after the study's fitted "
           "preprocessing), not raw measurements, and the CSV has none of them. ")
    raw = raw_input_model(model_path, contract, contract_path)
    if raw is None:
        return msg + (f"No raw-input model ({RAW_INPUT_MODEL}) is beside it: this run exports none (notebook 06 "
                      "exports it when the run has one within the export size limit), so raw measurements cannot be "
                      "classified with this run's models on a device")
    there = "" if raw.exists() else " (not found there: copy it beside this model)"
    return msg + (f"Classify raw measurements with the raw-input model beside it, {raw.name}{there}: "
                  f"python -m lib.device.classify {raw} INPUT.csv")


def classify(model_path, csv_path, contract_path=None, *, strict: bool = False,
             id_column: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(P(malignant), decisions, contract) for every row of the CSV (:func:`run` without the table)."""
    r = run(model_path, csv_path, contract_path, strict=strict, id_column=id_column)
    return r.p, r.decision, r.contract


def output_columns(contract: dict, id_name: str | None = None) -> list[str]:
    """``row, [id], p_<positive>, [p_<positive>_calibrated], <positive>, label`` (the ID under its own name; the
    calibrated probability when the contract has a calibration)."""
    pos = labels(contract)[0]
    key = "_".join(re.findall(r"[^\W_]+", pos)) or "positive"
    cal = [f"p_{key}_calibrated"] if contract.get("calibration") is not None else []
    return ["row", *([id_name] if id_name else []), f"p_{key}", *cal, key, "label"]


def write_csv(f, r: Result) -> None:
    pos, neg = labels(r.contract)
    w = csv.writer(f, lineterminator="\n")
    w.writerow(output_columns(r.contract, r.table.id_name))
    ids = r.table.ids
    for k, (row, pi, di) in enumerate(zip(r.table.rows, r.p, r.decision)):
        cal = [f"{r.p_calibrated[k]:.6f}"] if r.p_calibrated is not None else []
        w.writerow([row, *([ids[k]] if ids is not None else []), f"{pi:.6f}", *cal, int(di), pos if di else neg])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.device.classify", description=__doc__.split("\n\n")[0],
                                 epilog="docs/classify.md: the minimal install, examples and every error")
    ap.add_argument("model", help="the .tflite model (sm_deploy.tflite takes raw measurements)")
    ap.add_argument("csv", help="the table of raw measurements, one row per sample, with a header line")
    ap.add_argument("--contract", help="the model's input contract (default: MODEL with .json)")
    ap.add_argument("--out", help="write the output CSV here (default: standard output)")
    ap.add_argument("--strict", action="store_true",
                    help="a column the model does not use is an error (default: ignored and named on stderr)")
    ap.add_argument("--id-column", metavar="NAME",
                    help="copy this column to the output (default: a column named id or sample_id, if any)")
    a = ap.parse_args(argv)
    try:
        r = run(a.model, a.csv, a.contract, strict=a.strict, id_column=a.id_column)
        for note in r.table.notes:
            print(f"classify: {note}", file=sys.stderr)
        if a.out:
            try:
                with open(a.out, "w", newline="", encoding="utf-8") as f:
                    write_csv(f, r)
            except OSError as e:
                raise InputError(f"{a.out}: cannot write the output ({e.strerror or e})") from None
        else:
            try:
                write_csv(sys.stdout, r)
                sys.stdout.flush()
            except BrokenPipeError:  # the reader stopped early (| head): not an error of ours, and no traceback
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
    except InputError as e:
        print(f"classify: {e}", file=sys.stderr)
        return 2
    pos = labels(r.contract)[0]
    print(f"classify: {len(r.p)} rows, {int(r.decision.sum())} {pos} at threshold {r.contract['threshold']:g}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
