"""Splits are reproducible and stratified; the rigorous pipeline never sees test rows (the paper's does)."""
import json

import numpy as np
import pytest

from lib.core import params
from lib.data import datasets, preprocess, splits


@pytest.fixture(scope="module")
def wdbc():
    return datasets.load_wdbc()


@pytest.mark.parametrize("run", ["wdbc", "wdbc-paper", "bcd-fast"])
def test_splits_identical_across_calls_and_stratified(run, wdbc):
    P = params.load(run)
    ds = datasets.load(P) if P.dataset != "wdbc" else wdbc
    a, b = splits.make_splits(P, ds.y), splits.make_splits(P, ds.y)
    assert [s.to_json() for s in a] == [s.to_json() for s in b]
    expected = P.paper_seeds if P.is_paper else P.folds * P.repeats
    assert len(a) == expected
    rate = ds.y.mean()
    for s in a:
        assert not set(s.train) & set(s.test)
        assert set(s.val) <= set(s.test) if P.is_paper else not (set(s.val) & (set(s.train) | set(s.test)))
        for part in (s.train, s.val, s.test):
            assert abs(ds.y[part].mean() - rate) < 0.03  # stratified
    if not P.is_paper:  # each repeat's test folds partition the rows
        for r in range(P.repeats):
            tests = np.concatenate([s.test for s in a if s.repeat == r])
            assert sorted(tests) == list(range(len(ds.y)))


def test_paper_split_sizes_match_reference(wdbc):
    s = splits.make_splits(params.load("wdbc-paper"), wdbc.y)[0]
    assert (len(s.train), len(s.test)) == (483, 86) and wdbc.y[s.test].sum() == 32  # 54 B / 32 M


def test_splits_saved_once_and_reused(scratch_outputs, wdbc):
    P = params.load("wdbc-fast")
    first = splits.ensure(P, wdbc.y)
    path = scratch_outputs / "wdbc-fast" / "splits.json"
    stamp = path.stat().st_mtime_ns
    again = splits.ensure(P, wdbc.y)
    assert path.stat().st_mtime_ns == stamp
    assert [s.id for s in again] == [s.id for s in first]
    np.testing.assert_array_equal(again[1].test, first[1].test)


def test_splits_recomputed_when_params_change(scratch_outputs, wdbc):
    splits.ensure(params.load("wdbc-fast"), wdbc.y)
    other = splits.ensure(params.load("wdbc-fast", folds=3), wdbc.y)
    saved = json.loads((scratch_outputs / "wdbc-fast" / "splits.json").read_text())
    assert saved["header"]["folds"] == 3 and len(other) == 3


def test_corrupt_splits_file_is_named(scratch_outputs, wdbc):
    (scratch_outputs / "wdbc-fast").mkdir()
    (scratch_outputs / "wdbc-fast" / "splits.json").write_text("{not json")
    with pytest.raises(ValueError, match="splits.json is corrupt"):
        splits.ensure(params.load("wdbc-fast"), wdbc.y)


def _poisoned(ds, rows):
    X = ds.X.copy()
    X.iloc[rows] = X.iloc[rows] * 1000.0 + 12345.0
    return datasets.Dataset(ds.name, X, ds.y, ds.source)


@pytest.mark.parametrize("run", ["wdbc", "bcd"])
def test_rigorous_pipeline_never_sees_test_rows(run):
    """Poison every test (and validation) row: training inputs and the fitted transform must not move."""
    P = params.load(run)
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    clean = preprocess.prepare(P, ds, s)
    dirty = preprocess.prepare(P, _poisoned(ds, np.concatenate([s.test, s.val])), s)
    np.testing.assert_array_equal(clean.X_train, dirty.X_train)
    probe = ds.X.to_numpy(dtype=float)[s.train[:20]]
    np.testing.assert_array_equal(clean.transform.transform(probe), dirty.transform.transform(probe))
    assert not np.allclose(clean.X_test, dirty.X_test)  # the poison did reach the test inputs
    assert not np.isnan(clean.X_train).any() and clean.X_train.shape[1:] == (P.pca_components or 9, 1)


def test_paper_protocol_leaks_test_rows_into_pca():
    """The authors' order fits PCA on all rows: poisoning test rows changes the training inputs."""
    P = params.load("wdbc-paper")
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    clean = preprocess.prepare(P, ds, s)
    dirty = preprocess.prepare(P, _poisoned(ds, s.test), s)
    assert not np.allclose(clean.X_train, dirty.X_train)
    assert clean.X_train.shape == (483, 26, 1)
    np.testing.assert_allclose(clean.X_train.mean(axis=0), 0, atol=1e-5)  # scaler fit on train


def test_pca_larger_than_training_rows_is_a_clear_error():
    P = params.load("wdbc-fast", pca_components=30)
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    s = splits.Split(s.id, 0, 0, 0, s.train[:20], s.val, s.test)
    with pytest.raises(ValueError, match="pca_components = 30 exceeds the 20 training rows"):
        preprocess.prepare(P, ds, s)
