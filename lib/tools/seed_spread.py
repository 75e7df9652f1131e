"""How far another training seed moves the study's numbers: the yardstick of the full profile's tolerances.

Another CPU sums floats in another order; training amplifies that into a slightly different model. That is a
smaller perturbation than another training seed (which also changes the initial weights and the data order), so
the distance between two seeds of the same split bounds what another machine may do to a number. This module
measures it on the committed replicates (notebook 06b: every replicated model of a split trained with several
seeds on the same split) and derives the full profile's tolerances of ``tests/tolerances.yaml`` from it:

- **per split**: for each (model, split, format) and each replicate r > 0, ``|x_r - x_0|``, the change of a
  split's metric from the run's own seed to another seed. A tolerance of a per-split metric is the 90th percentile
  of those changes (the largest over runs), and a tenth of the rows may lie beyond it;
- **mean over splits**: for each (model, format) and replicate, the mean over the run's splits, and
  ``|mean_r - mean_0|``. A tolerance of a mean (and of an interval bound, which moves with the mean and the
  spread) is the median of those changes (the largest over runs), the largest change is quoted beside it.

Statistics over splits (p-values, interval bounds, fragility counts, variance shares, rank tests) are measured
the same way, on what another seed makes of them:

- **claims**: notebook 08 computes every claim once per training seed (``summary/claims_per_seed.csv``); for each
  replicated claim and seed r > 0, the change of its two-sided p-value, of its interval bounds and of its
  fragility count from seed 0;
- **rank tests**: Friedman's statistic, each model's average rank and its Nemenyi p-value against the student, on
  each seed's results table (``stability.frames``) against seed 0's;
- **variance shares**: the split share of each paired difference with one seed left out, against all seeds.

An interval bound or a spread moves with every split's value, so it is ruled as a split's value is: the 90th
percentile of a seed's changes, a tenth of rows further. A p-value, a fragility count, a rank or a variance share
is ruled by the median change (what another seed typically does; their 90th percentiles span most of their range:
a p-value 0.49, an average rank 1.5), a tenth of a column's rows further; a count adds the median relative change.

``python -m lib.tools.seed_spread`` prints the tables and writes ``outputs/bench/seed_spread.csv`` and ``.md``;
``tests/test_recheck.py`` checks that the full profile's rules are at least as wide as what it derives.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from lib.analysis import tables
from lib.core import paths, results
from lib.replicate import seeds, stability

# Column groups of tests/tolerances.yaml's full profile and the metrics that measure them.
GROUPS = {
    "rates": ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc"),
    "brier": ("brier",),
}
RUNS = ("wdbc", "bcd", "pbcnt")


def changes(both: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """``(per split, per mean)``: the absolute changes of ``metric`` from replicate 0 to every other replicate,
    per (model, format, fold) and per (model, format) mean over folds."""
    p = both.pivot_table(index=["model", "format", "fold"], columns="replicate", values=metric)
    if 0 not in p.columns or p.shape[1] < 2:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    split = p.drop(columns=0).sub(p[0], axis=0).abs().stack().dropna()
    mean = p.groupby(level=["model", "format"]).mean()
    over = mean.drop(columns=0).sub(mean[0], axis=0).abs().stack().dropna()
    return split, over


def spread(runs=RUNS) -> pd.DataFrame:
    """One row per (run, group): how far another seed moves a split's metric and a mean over splits (runs
    without replicates are left out)."""
    rows = []
    for run in runs:
        reps = seeds.load(run)
        if reps is None or not len(reps):
            continue
        res = results.load(run)
        both = stability.combined(res, reps)
        for group, metrics in GROUPS.items():
            split = pd.concat([changes(both, m)[0] for m in metrics if m in both])
            mean = pd.concat([changes(both, m)[1] for m in metrics if m in both])
            rows.append({"run": run, "group": group, "seeds": int(both["replicate"].nunique()),
                         "split_changes": len(split), "split_median": float(split.median()),
                         "split_q90": float(split.quantile(0.9)), "split_max": float(split.max()),
                         "mean_changes": len(mean), "mean_median": float(mean.median()),
                         "mean_max": float(mean.max())})
    return pd.DataFrame(rows)


def _moves(p: pd.DataFrame) -> pd.Series:
    """``|x_r - x_0|`` of a (thing x replicate) pivot, every replicate r > 0."""
    if 0 not in p.columns or p.shape[1] < 2:
        return pd.Series(dtype=float)
    return p.drop(columns=0).sub(p[0], axis=0).abs().stack().dropna()


def claim_moves(per_seed: pd.DataFrame, claims: pd.DataFrame) -> dict[str, pd.Series]:
    """``{"p": .., "bound": .., "fragility": .., "fragility_rel": ..}``: how far another seed moves each replicated
    claim's two-sided p-value, interval bounds and fragility count (``claims_per_seed.csv`` against seed 0).
    Claims that no seed moves are left out, so that they do not dilute the spread: those ``claims.csv`` labels
    'not replicated' (their seeds are one table), and those whose value and bounds are the same numbers on every
    seed (a float statistic that five seeds leave unchanged does not depend on them: a baseline's operating point,
    LR; a cross-dataset claim of a run without replicates)."""
    replicated = claims.loc[claims["stability"].fillna("") != "not replicated", ["name", "run"]]
    d = per_seed.merge(replicated, on=["name", "run"])
    fixed = d.groupby(["name", "run"])[["value", "low", "high"]].agg(
        lambda x: x.notna().all() and x.round(12).nunique() == 1).all(axis=1)
    d = d.merge(fixed[~fixed].index.to_frame(index=False), on=["name", "run"])
    piv = {c: d.pivot_table(index=["name", "run"], columns="replicate", values=c) for c in
           ("p_two_sided", "low", "high", "fragility")}
    frag = piv["fragility"]
    rel = (frag.drop(columns=0).sub(frag[0], axis=0).abs().div(frag[0].clip(lower=1), axis=0).stack().dropna()
           if 0 in frag.columns and frag.shape[1] > 1 else pd.Series(dtype=float))
    return {"p": _moves(piv["p_two_sided"]), "bound": pd.concat([_moves(piv["low"]), _moves(piv["high"])]),
            "fragility": _moves(frag), "fragility_rel": rel}


def rank_moves(res: pd.DataFrame, reps: pd.DataFrame) -> dict[str, pd.Series]:
    """How far another seed moves the rank tests of a run (``tables.rank_tests`` on each seed's results table):
    each model's average rank, Friedman's statistic (relative change) and the Nemenyi p-values against SM."""
    by_seed = {k: tables.rank_tests(f) for k, f in stability.frames(res, reps).items()}
    rank = pd.DataFrame({k: fr["avg_ranks"] for k, fr in by_seed.items()})
    chi2 = pd.DataFrame({k: [fr["statistic"]] for k, fr in by_seed.items()})
    nem = pd.DataFrame({k: fr["nemenyi"]["SM"].drop("SM") for k, fr in by_seed.items() if "SM" in fr["nemenyi"]})
    return {"rank": _moves(rank), "chi2_rel": _moves(chi2) / abs(chi2[0].iloc[0]), "nemenyi_p": _moves(nem)}


def share_moves(res: pd.DataFrame, reps: pd.DataFrame, shares: pd.DataFrame) -> pd.Series:
    """How far the split share of each paired difference (notebook 06b's ``variance_shares_06b.csv``) moves when
    one training seed is left out: the seed set's own effect on the decomposition."""
    both = stability.combined(res, reps)
    pairs = [tuple(c.split(" - ")) for c in shares["comparison"]]
    metric = shares["metric"].iloc[0] if "metric" in shares else "accuracy"
    full = stability.variance_shares(both, pairs, metric).set_index("comparison")["split_share"]
    out = []
    for s in sorted(both["replicate"].unique()):
        part = stability.variance_shares(both[both["replicate"] != s], pairs, metric)
        if len(part):
            out.append((part.set_index("comparison")["split_share"] - full).abs().dropna())
    return pd.concat(out) if out else pd.Series(dtype=float)


STATISTICS = {"p": "a two-sided p-value of a claim", "bound": "an interval bound of a claim",
              "fragility": "a claim's fragility count (rows)", "fragility_rel": "its change relative to the count",
              "rank": "a model's average rank", "chi2_rel": "Friedman's statistic, relative change",
              "nemenyi_p": "a Nemenyi p-value against SM", "share": "a difference's split share of variance"}


def statistics_spread(runs=RUNS) -> pd.DataFrame:
    """One row per statistic over splits: how far another training seed moves it (median, 90th percentile,
    largest), over every run with replicates."""
    moves: dict[str, list] = {k: [] for k in STATISTICS}
    summary = paths.outputs_root() / "summary"
    if (summary / "claims_per_seed.csv").exists() and (summary / "claims.csv").exists():
        for k, v in claim_moves(pd.read_csv(summary / "claims_per_seed.csv"),
                                pd.read_csv(summary / "claims.csv")).items():
            moves[k].append(v)
    for run in runs:
        reps = seeds.load(run)
        if reps is None or not len(reps):
            continue
        res = results.load(run)
        for k, v in rank_moves(res, reps).items():
            moves[k].append(v)
        shares_path = paths.run_dir(run) / "variance_shares_06b.csv"
        if shares_path.exists():
            moves["share"].append(share_moves(res, reps, pd.read_csv(shares_path)))
    rows = []
    for k, parts in moves.items():
        v = pd.concat(parts) if parts else pd.Series(dtype=float)
        if len(v):
            rows.append({"statistic": k, "what": STATISTICS[k], "changes": len(v), "median": float(v.median()),
                         "q90": float(v.quantile(0.9)), "max": float(v.max())})
    return pd.DataFrame(rows)


def derived(table: pd.DataFrame) -> dict:
    """``{group: {"split": atol, "mean": atol}}``: the tolerances the full profile derives from ``table``
    (the largest over runs of the per-split 90th percentile, and of the median change of a mean)."""
    out = {}
    for group, g in table.groupby("group"):
        out[group] = {"split": float(g["split_q90"].max()), "mean": float(g["mean_median"].max()),
                      "mean_max": float(g["mean_max"].max())}
    return out


BY_Q90 = ("bound",)  # statistics ruled by the 90th percentile of a seed's changes (the others: the median)


def derived_statistics(stats: pd.DataFrame) -> dict:
    """``{statistic: tolerance}``: the full profile's tolerance of each statistic over splits, the 90th percentile
    of a seed's changes for :data:`BY_Q90`, the median for the others (a tenth of a column's rows may move
    further)."""
    return {r.statistic: float(r.q90 if r.statistic in BY_Q90 else r.median) for r in stats.itertuples()}


def derived_caps(stats: pd.DataFrame) -> dict:
    """``{statistic: cap}``: how far the tenth of rows beyond a tolerance may move: the largest change a seed makes
    for :data:`BY_Q90`, the 90th percentile for the others."""
    return {r.statistic: float(r.max if r.statistic in BY_Q90 else r.q90) for r in stats.itertuples()}


def markdown(table: pd.DataFrame, stats: pd.DataFrame | None = None) -> str:
    d = derived(table)
    lines = ["# How far another training seed moves the numbers (lib/tools/seed_spread.py)", "",
             "Changes of a split's metric, and of a mean over a run's splits, from the run's own seed to each "
             "other seed (notebook 06b's replicates; rates in [0, 1]).", "",
             "| run | group | seeds | per split: median | 90th pct | max | mean over splits: median | max |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.run} | {r.group} | {r.seeds} | {r.split_median:.4f} | {r.split_q90:.4f} | "
                     f"{r.split_max:.4f} | {r.mean_median:.4f} | {r.mean_max:.4f} |")
    lines += ["", "Derived tolerances of the full profile (tests/tolerances.yaml must be at least as wide):", ""]
    for g, v in d.items():
        lines.append(f"- {g}: a split's value {v['split']:.4f} (a tenth of rows beyond), a mean or bound "
                     f"{v['mean']:.4f} (largest change of a mean {v['mean_max']:.4f})")
    if stats is not None and len(stats):
        lines += ["", "## Statistics over splits", "",
                  "Changes from seed 0 to each other seed of claims computed per seed (`summary/claims_per_seed.csv`; "
                  "claims that are not replicated left out), of the rank tests on each seed's results, and of a split "
                  "share of variance with one seed left out.", "",
                  "| statistic | what | changes | median | 90th pct | max |", "|---|---|---|---|---|---|"]
        for r in stats.itertuples():
            lines.append(f"| {r.statistic} | {r.what} | {r.changes} | {r.median:.4f} | {r.q90:.4f} | {r.max:.4f} |")
        lines += ["", "Derived tolerances of the full profile: the 90th percentile for a bound, the median change "
                  "for the others, with a tenth of a column's rows allowed further (tests/tolerances.yaml must be at "
                  "least as wide):", ""]
        caps = derived_caps(stats)
        for k, v in derived_statistics(stats).items():
            lines.append(f"- {k} ({STATISTICS[k]}): {v:.4f}; a cap for the rows beyond it, where a rule has "
                         f"one: {caps[k]:.4f}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.tools.seed_spread", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", nargs="+", default=list(RUNS))
    a = ap.parse_args(argv)
    table = spread(a.runs)
    if table.empty:
        print("no replicates found (notebook 06b of the full runs has not run)", file=sys.stderr)
        return 1
    out = paths.outputs_root() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stats = statistics_spread(a.runs)
    table.to_csv(out / "seed_spread.csv", index=False)
    stats.to_csv(out / "seed_spread_statistics.csv", index=False)
    (out / "seed_spread.md").write_text(markdown(table, stats))
    print(markdown(table, stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
