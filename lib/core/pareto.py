"""The Pareto front of models in (accuracy, cost) and the latency ties: one rule for the whole study.

Notebook 06 (its trade-off figure and ``pareto_06.csv``, through :mod:`lib.compress.export`) and notebook 08 (the
``pareto_*`` columns of ``efficiency.csv`` in :mod:`lib.analysis.tables`, the report's front and fastest models in
:mod:`lib.analysis.documents`) all ask this module, with the tie rule of ``params/report/decisions.yaml``
(``latency_tie``, :func:`tie_noise`), so a file cannot name a fastest model that the report calls a tie.

- Size (``cost='size_bytes'`` or any other exact cost): a model is dominated when another is at least as accurate
  and at least as cheap, and strictly better in one of the two.
- Latency (``cost='median_us'``): a measurement, so one model is faster than another only when its range of
  medians over repeats (``median_us_min``/``median_us_max``, notebook 06's ``latency.csv``), widened by the factor
  ``noise``, lies entirely below the other's; otherwise they are tied. A model is dominated when another is at
  least as accurate and faster.
"""
from __future__ import annotations

import pandas as pd

LATENCY = "median_us"
LATENCY_RANGE = ("median_us_min", "median_us_max")
# One network trained three ways (float TFLite): their latencies can differ by the host alone.
SAME_NETWORK = ("SM", "SM_scratch", "SM_paperloss")


def _names(table: pd.DataFrame) -> list:
    return list(table["model"]) if "model" in table.columns else list(table.index)


def _needs_ranges(table: pd.DataFrame) -> None:
    missing = [c for c in LATENCY_RANGE if c not in table.columns]
    if missing:
        raise ValueError(f"the latency front needs the range of medians over repeats: missing column(s) {missing} "
                         "(notebook 06's latency.csv, batch 1)")


def latency_noise(table: pd.DataFrame, same_network=SAME_NETWORK) -> float:
    """The host's noise between models, measured: the largest ratio of median latencies among models that are
    one network (``same_network``), whose latencies can differ by the host alone. 1.0 when fewer than two of them
    were timed."""
    d = table.assign(_name=_names(table))
    d = d[d["_name"].isin(same_network)].dropna(subset=[LATENCY])
    if len(d) < 2:
        return 1.0
    return float(d[LATENCY].max() / d[LATENCY].min())


def tie_noise(table: pd.DataFrame, rule: str, same_network=SAME_NETWORK) -> float:
    """The widening factor of the latency tie ``rule`` (``latency_tie`` of the decisions): :func:`latency_noise`
    for "... widened by the spread of one network", 1.0 for the ranges alone."""
    return latency_noise(table, same_network) if "widened" in rule else 1.0


def front(table: pd.DataFrame, cost: str, noise: float = 1.0) -> list[str]:
    """The models of ``table`` (one row per model: its ``model`` column, or its index when it has none) not
    dominated in (``accuracy``, ``cost``), in the table's order; rows without a ``cost`` are not on the front.
    For ``cost='median_us'`` the table needs ``median_us_min`` and ``median_us_max``, and ``noise`` widens the
    ranges (see the module's rule)."""
    if cost == LATENCY:
        _needs_ranges(table)
    d = table.assign(_name=_names(table)).dropna(subset=[cost]).reset_index(drop=True)
    out = []
    for i, r in d.iterrows():
        dominated = False
        for j, s in d.iterrows():
            if i == j:
                continue
            if cost == LATENCY:
                faster = s["median_us_max"] * noise < r["median_us_min"]
                dominated = s["accuracy"] >= r["accuracy"] and faster
            else:
                dominated = (s["accuracy"] >= r["accuracy"] and s[cost] <= r[cost]
                             and (s["accuracy"] > r["accuracy"] or s[cost] < r[cost]))
            if dominated:
                break
        if not dominated:
            out.append(r["_name"])
    return out


def front_fragility(table: pd.DataFrame, cost: str, rows_per_unit: float, cap: int = 200) -> int:
    """The fewest test rows whose change alters the front in (accuracy, ``cost``) when they all fall on one
    model: its mean accuracy moves by ``1 / rows_per_unit`` per row (``rows_per_unit`` = splits x test rows per
    split). ``cap + 1`` when no model's ``cap`` rows change it."""
    d = table.reset_index(drop=True)
    now = front(d, cost)
    for k in range(1, cap + 1):
        for i in range(len(d)):
            for sign in (1, -1):
                moved = d.copy()
                moved.loc[i, "accuracy"] = min(1.0, max(0.0, d.loc[i, "accuracy"] + sign * k / rows_per_unit))
                if front(moved, cost) != now:
                    return k
    return cap + 1


def front_flags(table: pd.DataFrame, tie_rule: str, same_network=SAME_NETWORK) -> tuple:
    """Per row of ``table`` (one row per model, with ``accuracy``, ``size_bytes``, ``median_us`` and its range
    over repeats): (on the size front, on the latency front under ``tie_rule``) as two boolean arrays."""
    names = _names(table)
    noise = tie_noise(table, tie_rule, same_network)
    on_size, on_latency = set(front(table, "size_bytes")), set(front(table, LATENCY, noise))
    return [n in on_size for n in names], [n in on_latency for n in names]


def fastest_ties(table: pd.DataFrame, noise: float = 1.0) -> list[str]:
    """The fastest model and every model it is not told apart from (the rule of :func:`front`): its range of
    medians over repeats overlaps the fastest one's range widened by ``noise``; fastest first."""
    _needs_ranges(table)
    d = table.assign(_name=_names(table)).dropna(subset=[LATENCY])
    if d.empty:
        return []
    best = d.loc[d[LATENCY].idxmin()]
    tied = d[d["median_us_min"] <= best["median_us_max"] * noise]
    return list(tied.sort_values(LATENCY)["_name"])
