"""lib.core.calibration: Platt scaling and the calibration intercept and slope."""
import numpy as np
import pytest

from lib.core import calibration


def _data(n=3000, steep=3.0, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-steep * z))  # scores three times too extreme


def test_platt_recovers_the_true_map():
    y, p = _data()
    a, b = calibration.platt(y, p)
    assert a == pytest.approx(1 / 3, abs=0.03) and b == pytest.approx(0, abs=0.08)
    after = calibration.intercept_slope(y, calibration.apply_platt(p, a, b))
    assert after["calibration_slope"] == pytest.approx(1, abs=0.02)
    assert after["calibration_intercept"] == pytest.approx(0, abs=0.02)


def test_slope_says_too_extreme_and_intercept_says_too_low():
    y, p = _data()
    before = calibration.intercept_slope(y, p)
    assert before["calibration_slope"] == pytest.approx(1 / 3, abs=0.03)
    shifted = calibration.apply_platt(p, 1.0, -1.0)  # every score lower: risk underestimated
    assert calibration.intercept_slope(y, shifted)["calibration_intercept"] > 0.5


def test_separated_scores_give_a_finite_fit_and_the_map_is_monotone():
    a, b = calibration.platt([0, 0, 0, 1, 1, 1], [0.0, 0.01, 0.02, 0.98, 0.99, 1.0])
    assert np.isfinite([a, b]).all() and a > 0
    s = np.linspace(0, 1, 11)
    assert (np.diff(calibration.apply_platt(s, a, b)) >= 0).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="both classes"):
        calibration.platt([1, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration.platt([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="one score per label"):
        calibration.platt([0, 1, 1], [0.2, 0.9])
    assert np.isnan(calibration.intercept_slope([1, 1], [0.2, 0.9])["calibration_slope"])
