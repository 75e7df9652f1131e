"""lib.core.pareto: one Pareto rule for notebook 06 and notebook 08; exact costs by the usual dominance, latency
by the range of medians over repeats (overlapping ranges are ties)."""
import numpy as np
import pandas as pd
import pytest

from lib.core import pareto


def _table():
    return pd.DataFrame({"model": ["SM", "SM_INT8", "SM_scratch", "TM_PTQ", "TM"],
                         "accuracy": [0.960, 0.955, 0.970, 0.950, 0.930],
                         "size_bytes": [5804, 2688, 6276, 764416, 2994616],
                         "median_us": [3.4, 3.1, 3.2, 21.6, 64.7],
                         "median_us_min": [3.3, 3.0, 2.0, 21.0, 63.0],
                         "median_us_max": [3.5, 3.2, 3.3, 22.0, 66.0]})


def test_size_front_is_the_usual_dominance():
    t = _table()
    assert pareto.front(t, "size_bytes") == ["SM", "SM_INT8", "SM_scratch"]
    # equal on both: neither dominates; strictly worse on one, equal on the other: dominated
    eq = pd.DataFrame({"model": ["a", "b", "c"], "accuracy": [0.9, 0.9, 0.8], "size_bytes": [1.0, 1.0, 1.0]})
    assert pareto.front(eq, "size_bytes") == ["a", "b"]


def test_latency_tie_keeps_both_models_on_the_front():
    t = _table()
    # SM_scratch is more accurate than SM and its median is lower (3.2 vs 3.4), but its range of medians over
    # repeats (2.0-3.3) overlaps SM's (3.3-3.5): a tie, so SM is not dominated
    assert pareto.front(t, "median_us") == ["SM", "SM_INT8", "SM_scratch"]
    # the rule on the medians alone would have dropped SM (SM_scratch: more accurate and a lower median)
    by_median = [m for m, a, c in zip(t.model, t.accuracy, t.median_us)
                 if not ((t.accuracy >= a) & (t.median_us <= c) & ((t.accuracy > a) | (t.median_us < c))).any()]
    assert by_median == ["SM_INT8", "SM_scratch"]
    # ranges apart: the faster, more accurate model dominates
    apart = t.assign(median_us_min=[3.4, 3.0, 2.0, 21.0, 63.0])
    assert pareto.front(apart, "median_us") == ["SM_INT8", "SM_scratch"]
    apart = t.assign(median_us_max=[3.5, 3.2, 3.29, 22.0, 66.0])
    assert pareto.front(apart, "median_us") == ["SM_INT8", "SM_scratch"]


def test_index_as_model_names_missing_costs_and_missing_ranges():
    t = _table().set_index("model")
    assert pareto.front(t, "size_bytes") == ["SM", "SM_INT8", "SM_scratch"]
    assert pareto.front(t, "median_us") == ["SM", "SM_INT8", "SM_scratch"]
    gaps = t.assign(median_us=[np.nan, 3.1, np.nan, 21.6, 64.7])  # not timed: not on the front, dominates nobody
    assert pareto.front(gaps, "median_us") == ["SM_INT8"]
    assert pareto.front(t.assign(median_us=np.nan), "median_us") == []
    with pytest.raises(ValueError, match="median_us_max"):
        pareto.front(t.drop(columns=["median_us_max"]), "median_us")
    assert pareto.front(t.iloc[:0], "size_bytes") == []
