"""What notebook 08 makes of training-seed replicates (:mod:`lib.replicate.seeds`).

- :func:`combined`: replicate 0 (the run's results) and the replicates of the replicated models, one row per
  split x model x format x replicate;
- :func:`seed_mean`: the run's results with each replicated model's metrics averaged over its seeds, split by
  split (``decisions.yaml`` ``training_seeds``: the primary estimate of a split averages its seeds; intervals
  over splits stay Nadeau-Bengio corrected). Models without replicates keep their rows, and so do the operating
  point and the chosen cells (replicate 0's: :data:`AVERAGED`);
- :func:`frames`: one results table per replicate (its rows of the replicated models, the run's rows of the
  others), on which notebook 08 computes every claim again;
- :func:`variance_shares`: per paired difference, the split and seed shares of its variance
  (:func:`lib.core.stats.variance_components`);
- :func:`selection_agreement`: how often the seeds of a split choose the same (alpha, T) for SM and the same
  (learning rate, epochs) for SM_scratch;
- :func:`label`: a claim's stability from its replicates (``decisions.yaml`` ``verdict_stability``).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lib.core import results, stats
from lib.core.metrics import METRICS, SIGNED

MODELS = ("TM", "SM_scratch", "SM", "SM_paperloss", "SM_INT8")  # what a replicate re-trains (lib.replicate.seeds)

KEYS = ["fold", "model", "format"]


def combined(res: pd.DataFrame, reps: pd.DataFrame | None) -> pd.DataFrame:
    """Replicate 0 (``res``'s rows of the models ``reps`` replicates, ``training_seed`` = the split's seed) and
    ``reps``; empty without replicates."""
    if reps is None or not len(reps):
        return pd.DataFrame(columns=list(res.columns) + ["replicate", "training_seed"])
    have = reps[KEYS].drop_duplicates()
    base = res.merge(have, on=KEYS).assign(replicate=0, training_seed=lambda d: d["seed"])
    return pd.concat([base, reps], ignore_index=True).sort_values(KEYS + ["replicate"], ignore_index=True)


# What a split's seed mean averages: the metrics at 0.5, their counts, and the training and agreement figures. The
# operating point (op_*, cal_*), the chosen cells and the epochs are those of replicate 0, the run's own seed (a
# replicate teacher has no operating point, and a mean of chosen cells is no cell).
AVERAGED = tuple(METRICS) + tuple(SIGNED) + ("tp", "fp", "tn", "fn", "train_accuracy", "fit_train_accuracy",
                                             "train_time_s", "agreement")


def seed_mean(res: pd.DataFrame, reps: pd.DataFrame | None) -> pd.DataFrame:
    """``res`` with every replicated (split, model, format) averaged over its seeds in the :data:`AVERAGED`
    columns (every other column from replicate 0), plus ``seeds``: how many it averages (1 for the others). A
    count column turns float where a mean is not whole."""
    if reps is None or not len(reps):
        return res.assign(seeds=1)
    both = combined(res, reps)
    num = [c for c in AVERAGED if c in res.columns]
    mean = both.groupby(KEYS, sort=False)[num].mean()
    count = both.groupby(KEYS, sort=False)["replicate"].nunique().rename("seeds")
    out = res.set_index(KEYS)
    rep = out.index.isin(mean.index)
    values = mean.reindex(out.index[rep])
    for c in num:
        v = values[c].to_numpy(dtype=float)
        if pd.api.types.is_integer_dtype(out[c]):
            whole = np.isnan(v) | (v == np.round(v))
            if whole.all():
                out.loc[rep, c] = np.round(v).astype(out[c].dtype)
                continue
            out[c] = out[c].astype(float)
        out.loc[rep, c] = v
    out["seeds"] = count.reindex(out.index).fillna(1).astype(int)
    return out.reset_index()[list(res.columns) + ["seeds"]]


def frames(res: pd.DataFrame, reps: pd.DataFrame | None) -> dict[int, pd.DataFrame]:
    """{replicate: results table}: replicate 0 is ``res``; replicate r has its own rows of the replicated
    (split, model, format)s and ``res``'s rows of every other. Only replicate 0 without replicates."""
    out = {0: res}
    if reps is None or not len(reps):
        return out
    replaced = reps[KEYS].drop_duplicates()
    keep = res.merge(replaced, on=KEYS, how="left", indicator=True)
    keep = keep[keep["_merge"] == "left_only"].drop(columns="_merge")
    for r, g in reps.groupby("replicate"):
        out[int(r)] = pd.concat([keep, g.reindex(columns=res.columns)], ignore_index=True)[list(res.columns)]
    return out


def variance_shares(both: pd.DataFrame, pairs, metric: str = "accuracy", fmt: str = "tflite") -> pd.DataFrame:
    """Per pair (a, b) whose a is replicated: the split and seed shares of the variance of a - b on ``metric``
    (``both``: :func:`combined` rows of one run plus, for a b without replicates such as LR, the run's rows,
    which are the same for every seed). One row per pair; none without replicates."""
    rows = []
    if both is None or not len(both) or both["replicate"].nunique() < 2:
        return pd.DataFrame(rows)
    seeds = sorted(both["replicate"].unique())
    for a, b in pairs:
        wide = {}
        for m in (a, b):
            d = both[(both["model"] == m) & (both["format"].isin([fmt, "sklearn"]))]
            if d.empty:
                break
            t = d.pivot_table(index="fold", columns="replicate", values=metric)
            wide[m] = t.reindex(columns=seeds).T.ffill().T if t.shape[1] == 1 else t.reindex(columns=seeds)
        if len(wide) < 2 or wide[a].shape[1] < 2:
            continue
        diff = (wide[a] - wide[b].reindex(wide[a].index)).dropna()
        vc = stats.variance_components(diff.to_numpy())
        rows.append({"run": both["run"].iloc[0], "comparison": f"{a} - {b}", "metric": metric,
                     "mean_diff": float(diff.to_numpy().mean()), **vc})
    return pd.DataFrame(rows)


def selection_agreement(both: pd.DataFrame) -> pd.DataFrame:
    """How alike the seeds of a split choose: SM's (alpha, T) and SM_scratch's (learning rate, epochs), from the
    Keras rows of :func:`combined`. Per choice: the splits, the seeds per split, the mean share of a split's seeds
    that pick its most frequent cell, and the splits whose seeds all pick the same cell."""
    rows = []
    if both is None or not len(both):
        return pd.DataFrame(rows)
    for model, cols, what in (("SM", ["kd_alpha", "kd_temperature"], "SM (alpha, T)"),
                              ("SM_scratch", ["student_lr", "student_epochs"], "SM_scratch (lr, epochs)")):
        if not set(cols) <= set(both.columns):
            continue
        d = both[(both["model"] == model) & (both["format"] == "keras")].dropna(subset=cols)
        if d.empty:
            continue
        cell = d[cols].astype(float).round(8).astype(str).agg(", ".join, axis=1)
        per = cell.groupby(d["fold"]).agg(lambda c: c.value_counts().iloc[0] / len(c))
        n = d.groupby("fold")["replicate"].nunique()
        rows.append({"run": d["run"].iloc[0], "choice": what, "splits": int(per.size), "seeds": int(n.max()),
                     "modal_share": float(per.mean()), "all_alike": int((per == 1).sum()),
                     "cells_seen": int(cell.nunique())})
    return pd.DataFrame(rows)


# Models trained or converted from replicate 0's networks only: a comparison with one of them is made on the run's
# own seed on both sides (:func:`like_for_like`), never a seed mean against one seed.
FROM_RUN_SEED = ("TM_pruned", "TM_pruned80", "TM_pruned90", "TM_PTQ", "TM_PTQ_INT8", "TM_QAT", "SM_DEPLOY")


def like_for_like(comp_mean: pd.DataFrame, comp_own: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons of the seed-averaged results (``comp_mean``), except those with a model of
    :data:`FROM_RUN_SEED`, which come from the run's own seed (``comp_own``, replicate 0's results): a compressed
    teacher is compared with the teacher and students of the seed it was made from."""
    if comp_mean is None or not len(comp_mean):
        return comp_mean
    own = comp_mean["a"].isin(FROM_RUN_SEED) | comp_mean["b"].isin(FROM_RUN_SEED)
    keys = ["run", "metric", "a", "b"]
    if not own.any():
        return comp_mean
    swap = comp_mean[own][keys].merge(comp_own, on=keys, how="left")
    out = pd.concat([comp_mean[~own], swap], ignore_index=True)
    order = comp_mean[keys].reset_index().merge(out, on=keys)["index"]
    return out.iloc[order.argsort()].reset_index(drop=True) if len(order) == len(out) else out


AGGREGATES = ("student_matches_teacher", "kd_beats_scratch", "student_as_good_as_LR", "student_as_good_as_RF")
SEED_FREE = ("LR", "RF")  # models whose fit does not depend on a training seed


def outcome(row) -> str:
    """What must agree across replicates, as the report words it: a front's models; an answer across runs by its
    verdict (yes / no / not shown); any other claim by its answer, with the better model where the verdict names
    one (a difference detected either way, or non-inferiority not shown with B better)."""
    if row.get("question") == "front":
        return str(row.get("detail", ""))
    if row.get("name") in AGGREGATES:
        return str(row.get("verdict", ""))
    a = row.get("answer")
    a = a if isinstance(a, str) and a else str(row.get("verdict", ""))
    v = row.get("verdict")
    return f"{a}/{v}" if v in ("a_better", "b_better") else a


def _models(subject) -> set:
    return set(re.findall(r"\w+", subject)) if isinstance(subject, str) else set()


def label(main: dict, replicate_rows: list[dict], rule: dict, replicated_runs) -> dict:
    """A claim's stability (``decisions.yaml`` ``verdict_stability``: ``agreement``, ``min_fragility``) from its
    rows in each replicate's claims (``replicate_rows``, replicate 0 first; None where a replicate has no such
    claim or its run lacks that replicate). ``replicated_runs``: the runs with replicates ('all', a claim across
    runs, counts when any has).

    - ``stability`` '' for a claim without a verdict (descriptive, no test) or about models that no training seed
      moves (LR, RF);
    - 'not replicated' when its run has no replicate or fewer than two replicates state it (a replicate teacher
      has no operating point);
    - 'firm' when at least ``agreement`` of the replicates give the claim's own outcome (:func:`outcome`, the
      seed-averaged data's) and its fragility is at least ``min_fragility`` rows; else 'unstable', with
      ``unstable_because`` 'seeds' (too few agree), 'rows' (too few rows flip it, or their number is unknown) or
      'seeds, rows' (both).
    ``seeds``: replicates that state it; ``agreeing``: those with the claim's outcome."""
    none = {"seeds": 0, "agreeing": 0, "stability": "", "unstable_because": ""}
    if main.get("answer") in ("descriptive", "no_test") or main.get("verdict") in ("descriptive", "missing"):
        return none
    names = _models(main.get("subject")) & set(results.MODELS)
    if names and names <= set(SEED_FREE):
        return none
    run = main.get("run")
    in_run = run in replicated_runs or (run == "all" and len(replicated_runs) > 0)
    stated = [r for r in replicate_rows if r is not None and r.get("verdict") != "missing"
              and r.get("answer") != "no_test"]
    if not in_run or len(stated) < 2:
        return {**none, "seeds": len(stated) if in_run else 1, "stability": "not replicated"}
    want = outcome(main)
    agree = sum(outcome(r) == want for r in stated)
    frag = main.get("fragility")
    seeds_ok = agree / len(stated) >= float(rule["agreement"])
    rows_ok = frag is not None and not pd.isna(frag) and float(frag) >= float(rule["min_fragility"])
    return {"seeds": len(stated), "agreeing": int(agree), "stability": "firm" if seeds_ok and rows_ok else "unstable",
            "unstable_because": ", ".join(why for why, ok in (("seeds", seeds_ok), ("rows", rows_ok)) if not ok)}


def index(claims_by_replicate: dict[int, pd.DataFrame], seeds_of: dict | None = None) -> dict:
    """{(name, run): [row of replicate 0, row of replicate 1, ...]}: None where a replicate lacks the claim, or
    (``seeds_of``: {run: its replicates}) where the claim's run has no such replicate; a claim across runs
    ('all') keeps the replicates every run with replicates has."""
    reps = sorted(claims_by_replicate)
    keyed = {r: {(c["name"], c["run"]): c for c in claims_by_replicate[r].to_dict("records")} for r in reps}
    keys = set().union(*[set(k) for k in keyed.values()]) if keyed else set()
    seeds_of = seeds_of or {}
    several = [set(v) for v in seeds_of.values() if len(v) > 1]
    common = set.intersection(*several) if several else set(reps)

    def has(run, r):
        return r in (common if run == "all" else set(seeds_of.get(run, reps)))
    return {k: [keyed[r].get(k) if has(k[1], r) else None for r in reps] for k in keys}
