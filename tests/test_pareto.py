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


def test_the_widened_tie_rule_keeps_the_front_and_the_fastest_models_in_agreement():
    """With the decisions' rule (ranges widened by the spread of one network), a model the report calls tied for
    fastest is never dominated on latency in pareto_06.csv or efficiency.csv."""
    e = pd.DataFrame({"model": ["SM_INT8", "SM_scratch", "SM", "TM_PTQ"], "accuracy": [0.96, 0.96, 0.96, 0.95],
                      "median_us": [2.2, 3.3, 3.8, 40.0], "median_us_min": [2.1, 3.2, 3.7, 39.0],
                      "median_us_max": [2.3, 3.4, 3.9, 41.0]})
    assert pareto.tie_noise(e, "overlapping repeat ranges") == 1.0
    noise = pareto.tie_noise(e, "overlapping repeat ranges, widened by the spread of one network")
    assert noise == pytest.approx(3.8 / 3.3)
    assert pareto.front(e, "median_us") == ["SM_INT8"]                       # ranges alone: SM_INT8 is faster
    tied = pareto.fastest_ties(e, noise)
    assert set(tied) <= set(pareto.front(e, "median_us", noise))             # every tied model is on the front
    assert "TM_PTQ" not in pareto.front(e, "median_us", noise)
