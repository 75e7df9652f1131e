"""The Pareto front of models in (accuracy, cost): one rule for the whole study.

Notebook 06 (its trade-off figure and ``pareto_06.csv``, through :mod:`lib.compress.export`) and notebook 08 (the
``pareto_*`` columns of ``efficiency.csv`` in :mod:`lib.analysis.tables` and the report's front in
:mod:`lib.analysis.documents`) all ask :func:`front`, so a file cannot name a fastest model that the report calls
a tie.

- Size (``cost='size_bytes'`` or any other exact cost): a model is dominated when another is at least as accurate
  and at least as cheap, and strictly better in one of the two.
- Latency (``cost='median_us'``): a measurement, so one model is faster than another only when its range of
  medians over repeats (``median_us_min``/``median_us_max``, notebook 06's ``latency.csv``) lies entirely below
  the other's; overlapping ranges are ties. A model is dominated when another is at least as accurate and faster.
"""
from __future__ import annotations

import pandas as pd

LATENCY = "median_us"
LATENCY_RANGE = ("median_us_min", "median_us_max")


def front(table: pd.DataFrame, cost: str) -> list[str]:
    """The models of ``table`` (one row per model: its ``model`` column, or its index when it has none) not
    dominated in (``accuracy``, ``cost``), in the table's order; rows without a ``cost`` are not on the front.
    For ``cost='median_us'`` the table needs ``median_us_min`` and ``median_us_max`` (see the module's rule)."""
    if cost == LATENCY:
        missing = [c for c in LATENCY_RANGE if c not in table.columns]
        if missing:
            raise ValueError(f"the latency front needs the range of medians over repeats: missing column(s) {missing} "
                             "(notebook 06's latency.csv, batch 1)")
    names = list(table["model"]) if "model" in table.columns else list(table.index)
    d = table.assign(_name=names).dropna(subset=[cost]).reset_index(drop=True)
    out = []
    for i, r in d.iterrows():
        dominated = False
        for j, s in d.iterrows():
            if i == j:
                continue
            if cost == LATENCY:
                faster = s["median_us_max"] < r["median_us_min"]
                dominated = s["accuracy"] >= r["accuracy"] and faster
            else:
                dominated = (s["accuracy"] >= r["accuracy"] and s[cost] <= r[cost]
                             and (s["accuracy"] > r["accuracy"] or s[cost] < r[cost]))
            if dominated:
                break
        if not dominated:
            out.append(r["_name"])
    return out
