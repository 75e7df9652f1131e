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

``python -m lib.tools.seed_spread`` prints the table and writes ``outputs/bench/seed_spread.csv`` and ``.md``;
``tests/test_recheck.py`` checks that the full profile's rules are at least as wide as what it derives.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

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


def derived(table: pd.DataFrame) -> dict:
    """``{group: {"split": atol, "mean": atol}}``: the tolerances the full profile derives from ``table``
    (the largest over runs of the per-split 90th percentile, and of the median change of a mean)."""
    out = {}
    for group, g in table.groupby("group"):
        out[group] = {"split": float(g["split_q90"].max()), "mean": float(g["mean_median"].max()),
                      "mean_max": float(g["mean_max"].max())}
    return out


def markdown(table: pd.DataFrame) -> str:
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
    table.to_csv(out / "seed_spread.csv", index=False)
    (out / "seed_spread.md").write_text(markdown(table))
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
