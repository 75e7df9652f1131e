"""lib.transfer.alignment: the authors' WDBC -> BCD features, the sign-fixed alternative, and the authors' interval."""
import inspect

import numpy as np
import pytest

from lib.core import stats
from lib.data import datasets
from lib.transfer import alignment as cd

PCA6_SM_BCD = [74.82, 74.38, 65.01, 81.70, 86.97, 90.04, 85.65, 75.40, 32.50, 73.21]  # reference section 8


@pytest.fixture(scope="module")
def pair():
    w, b = datasets.load_wdbc(), datasets.load_bcd(dropna=True)
    tr, ho = cd.authors_split(w.y, seed=0)
    return w.X.to_numpy(float), w.y, b.X.to_numpy(float), b.y, tr, ho


def test_data_and_split_as_the_authors(pair):
    W, yw, B, yb, tr, ho = pair
    assert W.shape == (569, 30) and B.shape == (683, 9) and (yb == 0).sum() == 444
    assert (len(tr), len(ho)) == (341, 228) and not np.intersect1d(tr, ho).size
    assert abs(yw[tr].mean() - yw[ho].mean()) < 0.01
    assert cd.majority_baseline(yb) == pytest.approx(444 / 683) == pytest.approx(0.65007, abs=1e-5)
    assert cd.majority_baseline([1, 1, 0]) == pytest.approx(2 / 3)


@pytest.mark.parametrize("fn", [cd.authors_features, cd.signed_features])
@pytest.mark.parametrize("k", [1, 6, 9])
def test_shapes_and_dtype(pair, fn, k):
    W, _, B, _, tr, ho = pair
    a, h, b = fn(W, B, k, tr, ho)
    assert a.shape == (341, k, 1) and h.shape == (228, k, 1) and b.shape == (683, k, 1)
    assert a.dtype == h.dtype == b.dtype == np.float32
    with pytest.raises(ValueError, match="k = 10"):
        fn(W, B, 10, tr, ho)


def test_authors_features_pc1_variance_and_no_scaling(pair):
    W, _, B, _, tr, ho = pair
    a, h, b = cd.authors_features(W, B, 6, tr, ho)
    scores = np.empty((569, 6))
    scores[tr], scores[ho] = a[..., 0], h[..., 0]
    ratio = scores.var(axis=0) / W.var(axis=0).sum()
    assert ratio[:3] == pytest.approx([0.98204, 0.01618, 0.00156], abs=5e-6)  # reference section 1
    assert abs(scores[:, 0].mean()) < 1e-3 and scores[:, 0].std() > 600  # centred on all rows, raw scale
    bcd_ratio = b[..., 0].var(axis=0) / B.var(axis=0).sum()
    assert bcd_ratio[0] == pytest.approx(0.6905, abs=1e-4)


def test_authors_sign_conventions(pair):
    from sklearn.decomposition import PCA
    from sklearn.utils.extmath import svd_flip

    W, _, B, _, tr, ho = pair
    for X, got in ((W, np.vstack(cd.authors_features(W, B, 6, tr, ho)[:2])), (B, None)):
        v = cd._authors_pca_scores(X, 6, "v")
        np.testing.assert_allclose(v, PCA(6, svd_solver="full").fit_transform(X), atol=1e-6)  # sklearn >= 1.5
        U, S, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
        U, Vt = svd_flip(U, Vt, u_based_decision=True)  # what sklearn < 1.5 returned
        np.testing.assert_allclose(cd._authors_pca_scores(X, 6, "u"), (U * S)[:, :6], atol=1e-6)
    va, vh, vb = cd.authors_features(W, B, 6, tr, ho, sign_convention="v")
    ua, uh, ub = cd.authors_features(W, B, 6, tr, ho, sign_convention="u")
    flipped_w = np.sign((va * ua).sum(axis=(0, 2)))
    flipped_b = np.sign((vb * ub).sum(axis=(0, 2)))
    assert list(flipped_w) == [1, 1, 1, -1, -1, -1] and list(flipped_b) == [1, -1, -1, -1, -1, 1]
    with pytest.raises(ValueError, match="sign convention"):
        cd.authors_features(W, B, 3, tr, ho, sign_convention="x")


def test_authors_features_leak_holdout_rows(pair):
    """Documented leakage: in the authors' features the WDBC holdout rows shape the PCA of the training rows."""
    W, _, B, _, tr, ho = pair
    poisoned = W.copy()
    poisoned[ho] = np.random.default_rng(0).uniform(0, 1e4, size=(len(ho), W.shape[1]))
    assert not np.allclose(cd.authors_features(W, B, 3, tr, ho)[0], cd.authors_features(poisoned, B, 3, tr, ho)[0])


def test_no_target_labels_in_signatures():
    for fn in (cd.authors_features, cd.signed_features):
        names = list(inspect.signature(fn).parameters)
        assert names[:5] == ["wdbc_X", "bcd_X", "k", "train_idx", "holdout_idx"]
        assert not any(n.startswith("y") or "label" in n for n in names)


def test_signed_features_holdout_rows_do_not_influence_fit(pair):
    W, _, B, _, tr, ho = pair
    clean = cd.signed_features(W, B, 6, tr, ho)
    poisoned = W.copy()
    poisoned[ho] = np.random.default_rng(0).uniform(0, 1e4, size=(len(ho), W.shape[1]))
    dirty = cd.signed_features(poisoned, B, 6, tr, ho)
    np.testing.assert_array_equal(clean[0], dirty[0])  # training rows: same scaler, PCA, signs, scale
    np.testing.assert_array_equal(clean[2], dirty[2])  # BCD untouched
    assert not np.allclose(clean[1], dirty[1])  # the poisoned rows themselves are (only) transformed


def test_signed_features_unit_variance_and_pc1_points_to_malignant(pair):
    from sklearn.metrics import roc_auc_score

    W, yw, B, yb, tr, ho = pair
    a, h, b = cd.signed_features(W, B, 6, tr, ho)
    np.testing.assert_allclose(a[..., 0].std(axis=0, ddof=1), 1, atol=1e-5)
    np.testing.assert_allclose(b[..., 0].std(axis=0, ddof=1), 1, atol=1e-5)
    # the label-free convention happens to orient PC1 towards malignant in both datasets (checked, not used)
    assert roc_auc_score(yw[tr], a[:, 0, 0]) > 0.9 and roc_auc_score(yb, b[:, 0, 0]) > 0.9


def test_orientation_ignores_the_solvers_sign():
    rng = np.random.default_rng(0)
    C = rng.normal(size=(4, 9))
    C[0] = np.abs(C[0])
    signs = cd.orient_by_loadings(C)
    for flip in ([1, 1, 1, 1], [-1, 1, -1, 1], [-1, -1, -1, -1]):
        flipped = C * np.array(flip)[:, None]
        np.testing.assert_array_equal(flipped * cd.orient_by_loadings(flipped)[:, None], C * signs[:, None])
    assert ((C * signs[:, None]).sum(axis=1) > 0).all()
    contrast = np.array([[0.5, -0.5, 0.1, -0.1]])  # sum 0: the largest |loading| decides
    assert cd.orient_by_loadings(contrast)[0] == 1 and cd.orient_by_loadings(-contrast)[0] == -1


def test_signed_pca_same_loadings_for_minus_x_and_for_a_flipping_solver(pair, monkeypatch):
    """Negating a dataset whose PC1 loadings are all same-sign: the oriented loadings are identical (the sign no
    longer depends on what the solver returns) and the scores negate (the convention ties the sign to what the
    features mean: fed -X it is told that larger means *less* abnormal)."""
    _, _, B, _, _, _ = pair
    pos, neg = cd.SignedPCA(4).fit(B), cd.SignedPCA(4).fit(-B)
    assert (pos.components[0] > 0).all()
    np.testing.assert_allclose(neg.components, pos.components, atol=1e-10)
    np.testing.assert_allclose(neg.transform(-B), -pos.transform(B), atol=1e-8)

    # a solver that returns every component with the opposite sign changes nothing in signed_features
    W, _, B, _, tr, ho = pair
    before = cd.signed_features(W, B, 6, tr, ho)
    original = cd.PCA

    class FlippingPCA(original):
        def fit(self, X, y=None):
            super().fit(X, y)
            self.components_ = -self.components_
            return self

    monkeypatch.setattr(cd, "PCA", FlippingPCA)
    np.testing.assert_allclose(FlippingPCA(3, svd_solver="full").fit(B).components_,
                               -original(3, svd_solver="full").fit(B).components_)
    for x, y in zip(before, cd.signed_features(W, B, 6, tr, ho)):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_authors_ci_reproduces_the_paper():
    mean, lo, hi = cd.authors_ci(PCA6_SM_BCD)
    assert mean == pytest.approx(73.968)
    assert (lo, hi) == pytest.approx((65.04, 82.89), abs=0.006)  # paper: [65.04, 82.90] from unrounded values
    assert (hi - lo) / 2 == pytest.approx(8.926, abs=0.001)
    tm, tlo, thi = stats.t_interval(PCA6_SM_BCD)
    assert tm == pytest.approx(mean) and (thi - tlo) / 2 == pytest.approx(11.75, abs=0.01)
    tab = cd.interval_table(PCA6_SM_BCD)
    assert list(tab["n"]) == [13, 10]
    assert tab["half_width"].tolist() == pytest.approx([8.926, 11.75], abs=0.01)
    assert tab["low"].iloc[1] < 65.007  # the honest interval reaches below the all-benign rate
