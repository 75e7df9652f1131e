"""Notebook 03b's tables and verdict: the transfer results summarised per (features, k, model), the
authors' table beside ours, and whether any cell beats the target's majority class.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from lib.core import formatting, stats
from lib.core.params import Params
from lib.transfer.transfer_data import CNN_MODELS, FEATURES, MODELS

# The authors' xlsx (reference section 8), percent: TM, SM_scratch, SM BCD accuracy means and their SM half-width
# (z, n = 13) over 10 runs per PCA size.
PAPER_BY_K = pd.DataFrame(
    [(9, 69.49, 65.12, 67.99, 7.22), (8, 69.52, 65.33, 73.13, 12.09), (7, 68.08, 65.12, 71.19, 11.15),
     (6, 68.48, 65.12, 73.97, 8.93), (5, 70.37, 65.04, 72.61, 6.23), (4, 68.21, 65.10, 72.05, 4.83),
     (3, 56.38, 65.01, 64.99, 6.93)],
    columns=["k", "TM", "SM_scratch", "SM", "SM_half_width"]).set_index("k").sort_index()
PAPER_HEADLINE = {"k": 6, "mean": 73.97, "low": 65.04, "high": 82.90}  # abstract: SM, PCA = 6

def _ci(mean, lo, hi) -> str:
    """A cell of the percent tables: '96.8 [96.7, 96.9]' (``lib.core.formatting.fmt_ci`` without the % sign)."""
    return formatting.fmt_ci(mean, lo, hi, sign=False)


def ci_table(summary: pd.DataFrame, features: str, metric: str = "accuracy", part: str = "target",
             models=MODELS) -> pd.DataFrame:
    """Mean [95% t-interval] in percent, one row per k, one column per model."""
    s = summary[(summary.features == features) & (summary.metric == metric) & (summary.part == part)
                & summary.model.isin(models)]
    tab = s.assign(cell=[_ci(m, lo, hi) for m, lo, hi in zip(s["mean"], s.ci_low, s.ci_high)]) \
        .pivot(index="k", columns="model", values="cell")
    return tab[[m for m in models if m in tab.columns]].rename_axis(columns=None).fillna("")


def authors_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The authors' method per k: our TM / SM_scratch / SM target accuracy (mean [t-interval], percent) and
    SM's z / n = 13 interval beside the paper's xlsx means and interval."""
    tab = ci_table(summary, "authors", models=CNN_MODELS)
    sm = summary[(summary.features == "authors") & (summary.model == "SM") & (summary.part == "target")
                 & (summary.metric == "accuracy")].set_index("k")
    tab["SM, authors' z/n=13"] = [_ci(r["mean"], r.authors_low, r.authors_high) for _, r in sm.loc[tab.index].iterrows()]
    paper = PAPER_BY_K.reindex(tab.index)
    tab["paper TM"] = paper.TM.map("{:.2f}".format)
    tab["paper SM_scratch"] = paper.SM_scratch.map("{:.2f}".format)
    tab["paper SM (z/n=13)"] = [f"{m:.2f} [{m - h:.2f}, {m + h:.2f}]" for m, h in zip(paper.SM, paper.SM_half_width)]
    return tab


def configuration_values(df: pd.DataFrame, features: str, k: int, model: str, metric: str = "accuracy",
                part: str = "target") -> np.ndarray:
    """Per-seed values of one cell (in seed order)."""
    g = df[(df.features == features) & (df.k == k) & (df.model == model) & (df.part == part)].sort_values("seed")
    return g[metric].to_numpy(float)


def balanced_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Target sensitivity / specificity / balanced accuracy / ROC AUC (mean [t-interval], percent) of every cell."""
    s = summary[(summary.part == "target") & summary.metric.isin(["accuracy", "sensitivity", "specificity",
                                                                    "balanced_accuracy", "roc_auc"])]
    s = s.assign(cell=[_ci(m, lo, hi) for m, lo, hi in zip(s["mean"], s.ci_low, s.ci_high)])
    tab = s.pivot_table(index=["features", "k", "model"], columns="metric", values="cell", aggfunc="first")
    order = sorted(tab.index, key=lambda ix: (FEATURES.index(ix[0]), ix[1], MODELS.index(ix[2])))
    return tab.loc[order, ["accuracy", "sensitivity", "specificity", "balanced_accuracy", "roc_auc"]] \
        .rename_axis(columns=None)


def sign_flip_summary(flips: pd.DataFrame, majority: float) -> pd.DataFrame:
    """Per model: the spread of BCD accuracy over every (seed, sign pattern), and the mean over seeds of the
    installed solver's pattern, the other convention's and the loadings-matched pattern (percent)."""
    rows = []
    for m in [m for m in CNN_MODELS if m in set(flips.model)]:
        g = flips[flips.model == m]
        per_pattern = g.groupby("pattern")["accuracy"].mean()
        other = g[g.convention.fillna("").str.len().gt(0) & ~g.solver]
        rows.append({"model": m, "seeds x patterns": len(g), "min": g.accuracy.min() * 100,
                     "q25": g.accuracy.quantile(0.25) * 100, "median": g.accuracy.median() * 100,
                     "q75": g.accuracy.quantile(0.75) * 100, "max": g.accuracy.max() * 100,
                     "best pattern (mean over seeds)": per_pattern.max() * 100,
                     "worst pattern": per_pattern.min() * 100,
                     "solver's pattern": g[g.solver].accuracy.mean() * 100,
                     "other convention": other.accuracy.mean() * 100 if len(other) else np.nan,
                     "loadings-matched": g[g.matches_wdbc].accuracy.mean() * 100,
                     f"share > majority {majority:.1%}": (g.accuracy > majority + 1e-12).mean() * 100})
    return pd.DataFrame(rows).set_index("model")


def configurations(summary: pd.DataFrame, rules: dict | None = None, n_rows: int | None = None) -> pd.DataFrame:
    """The cross-dataset criterion, one for the study: notebook 03b (:func:`verdict`) and notebook 08
    (``lib.analysis.tables.transfer_verdict``) both read it. One row per (features, k, model) on the target: its accuracy
    (``mean``, t-interval over seeds ``ci_low`` / ``ci_high``, ``n`` seeds), the majority-class rate and

    - ``above_majority``: the accuracy interval lies entirely above the majority-class rate and, where balanced
      accuracy is reported, its interval entirely above 0.5 (the majority rule's);
    - with ``rules`` ({name: accuracy on the target} of rules that use no WDBC data, :mod:`lib.transfer.target_only`) and
      ``n_rows`` target rows (default: the summary's ``n_rows`` column): ``best_rule``, ``low_rows`` (the Wilson
      95% lower bound of the cell's mean accuracy over the ``n_rows`` rows) and ``above_rules``: the lower of the
      two lower bounds (over seeds, over target rows) lies above the best rule. The interval over seeds only
      measures how the WDBC split moves the cell; the rule is scored on the same rows, so what separates the two
      is the rows: a cell must clear both. Only such a cell shows something learnt on WDBC that BCD's own feature
      distribution does not give, and "transfers" is said of it alone. This check is unpaired (the models'
      row-level predictions are not kept), so conservative; notebook 08 tests the pre-specified cell against
      each rule row by row (McNemar, ``lib.transfer.target_only.paired``)."""
    keys = ["features", "k", "model"]
    t = summary[summary["part"] == "target"]
    acc = t[t["metric"] == "accuracy"][keys + ["mean", "ci_low", "ci_high", "n", "majority"]].reset_index(drop=True)
    majority = float(acc["majority"].dropna().iloc[0]) if acc["majority"].notna().any() else float("nan")
    acc["majority"] = majority
    above = (acc["ci_low"] > majority).to_numpy(bool).copy()
    bal = t[t["metric"] == "balanced_accuracy"]
    if len(bal):
        ok = acc[keys].merge(bal.assign(bal_ok=bal["ci_low"] > 0.5)[keys + ["bal_ok"]], on=keys, how="left")
        above &= ok["bal_ok"].fillna(False).to_numpy(bool)
    acc["above_majority"] = above
    if rules:
        if n_rows is None:
            if "n_rows" not in summary.columns or summary["n_rows"].isna().all():
                raise ValueError("configurations(): comparing with the target-only rules needs n_rows, the target's row count")
            n_rows = int(summary["n_rows"].dropna().iloc[0])
        best = max(float(v) for v in rules.values())
        acc["best_rule"] = best
        acc["low_rows"] = [stats.wilson(round(m * n_rows), n_rows)[1] for m in acc["mean"]]
        acc["above_rules"] = (np.fmin(acc["ci_low"], acc["low_rows"]) > best).to_numpy(bool)
    return acc


def confounds(P: Params) -> list[str]:
    """What SM − SM_scratch mixes besides KD in a run's settings (the authors' cross-dataset notebook trains the
    distilled student at Adam 1e-3 and the scratch one at 1e-4): one sentence per setting that differs, read from
    the params. Empty when the two students share their learning rate and epochs."""
    out = []
    if P.student_lr != P.kd_lr:
        out.append(f"learning-rate confound: SM_scratch trains at Adam {P.student_lr:g}, SM at {P.kd_lr:g} "
                   f"({max(P.student_lr, P.kd_lr) / min(P.student_lr, P.kd_lr):g}x), so SM − SM_scratch measures KD "
                   f"and the learning rate together, not KD")
    if P.student_epochs != P.kd_epochs:
        out.append(f"epoch confound: SM_scratch trains {P.student_epochs} epochs, SM {P.kd_epochs}")
    return out


def model_label(P: Params, model: str) -> str:
    """A model's name in 03b's figure legends, with its confound when it carries one."""
    return f"{model} (Adam {P.student_lr:g}: learning-rate confound)" if model == "SM_scratch" and confounds(P) else model


def verdict(summary: pd.DataFrame, rules: dict | None = None, confound: list[str] | None = None,
            n_rows: int | None = None) -> list[str]:
    """Plain sentences, computed from the summary by :func:`configurations`: which (features, k, model) cells beat the
    majority class (accuracy and balanced-accuracy t-intervals), and, given the target-only ``rules`` and the
    target's ``n_rows``, which beat the best of them, the only ones said to transfer; then the run's ``confound``
    sentences (:func:`confounds`)."""
    c = configurations(summary, rules, n_rows).set_index(["features", "k", "model"])
    t = summary[summary.part == "target"].set_index(["features", "k", "model", "metric"])
    bal, sens, spec = (t.xs(m, level="metric") for m in ("balanced_accuracy", "sensitivity", "specificity"))
    n_cells, majority = len(c), float(c.majority.iloc[0])

    def name(ix):
        f, k, m = ix
        return f"{f} k={k} {m}"

    def detail(ix):
        return (f"{name(ix)}: accuracy {_ci(c.loc[ix, 'mean'], c.loc[ix, 'ci_low'], c.loc[ix, 'ci_high'])}, "
                f"sensitivity {sens.loc[ix, 'mean'] * 100:.1f}, specificity {spec.loc[ix, 'mean'] * 100:.1f}, "
                f"balanced {bal.loc[ix, 'mean'] * 100:.1f}")

    lines = [f"{n_cells} (features, k, model) cells, {int(c.n.max())} seed(s) each; majority-class rate "
             f"(always 'benign') {majority:.1%}."]
    notes = [f"Note: {s}." for s in (confound or [])]
    if c.n.max() < 2:
        return lines + ["With one seed there is no interval: no claim either way."] + notes
    above = c[c.above_majority]
    lines.append(f"Above the majority class: {len(above)} of {n_cells} cells have a 95% t-interval of target "
                 f"accuracy entirely above {majority:.1%} and of balanced accuracy entirely above 50%"
                 + (":" if len(above) else "."))
    lines += [f"  - {detail(ix)}" for ix in above.index]
    for f in c.index.get_level_values("features").unique():
        sub = c.xs(f, level="features")
        best = sub["mean"].idxmax()
        lines.append(f"Best {f} cell by mean target accuracy: k={best[0]} {best[1]} "
                     f"{_ci(sub.loc[best, 'mean'], sub.loc[best, 'ci_low'], sub.loc[best, 'ci_high'])} — picked on "
                     f"the target itself (best of {len(sub)}), so optimistic; every k is reported above.")
    if rules:
        best_rule = float(c.best_rule.iloc[0])
        lines.append("Rules that use no WDBC data at all, on the same target rows (lib/transfer/target_only.py): "
                     + ", ".join(f"{r} {100 * v:.1f}%" for r, v in rules.items()) + ".")
        moved = c[c.above_rules]
        top = c["mean"].idxmax()
        closest = (f" The closest, {name(top)}: {c.loc[top, 'mean']:.1%}, interval over seeds "
                   f"[{c.loc[top, 'ci_low']:.1%}, {c.loc[top, 'ci_high']:.1%}], Wilson lower bound over the "
                   f"target rows {c.loc[top, 'low_rows']:.1%}.")
        if len(moved):
            lines.append(f"Verdict: {len(moved)} of {n_cells} cells transfer: the lower bounds of their accuracy "
                         f"over seeds and over the target rows lie above the best target-only rule "
                         f"({best_rule:.1%}): " + ", ".join(name(ix) for ix in moved.index) + ".")
        elif len(above):
            lines.append(f"Verdict: no cell is shown to transfer. {len(above)} cell(s) beat the majority class, but "
                         f"none is shown to beat the best target-only rule ({best_rule:.1%}), which BCD's own feature "
                         f"distribution gives without any WDBC row: no cell's lower bounds (over seeds and over the "
                         f"target rows) both lie above it." + closest)
        else:
            lines.append("Verdict: no cell transfers: none even beats always answering 'benign'.")
    elif len(above):
        lines.append(f"Verdict: {len(above)} of {n_cells} cells beat the majority class; whether any of them "
                     f"transfers needs the target-only rules (not given here).")
    else:
        lines.append("Verdict: no cell transfers: none even beats always answering 'benign'.")
    return lines + notes
