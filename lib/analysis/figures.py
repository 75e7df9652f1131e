"""Notebook 08's figures, one function each; each returns the figure (the notebook saves it with
:func:`lib.core.plots.save`).

- :func:`plot_paired_differences`: A - B per run, naive and corrected 95% intervals, the pre-specified margin;
- :func:`plot_operating_point`: sensitivity at 0.5 and at the operating-point threshold, Wilson intervals;
- :func:`plot_roc_reliability`: ROC and reliability curves of the first pass;
- :func:`plot_decision_curves`: net benefit against the threshold probability, first pass;
- :func:`plot_accuracy_vs_size`: accuracy against TFLite size with the Pareto-optimal models marked.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from lib.core import stats
from lib.core.plots import plain_log_ticks, report_figure, report_style, spread_labels  # noqa: F401  (spread_labels: re-exported)
from lib.analysis import tables

DECISION_THRESHOLDS = np.linspace(0.02, 0.6, 59)  # threshold probabilities of the decision curves


def _grid(n: int, height: float):
    """Axes for ``n`` panels, one a row (the report's column is narrow), each ``height`` inches high."""
    fig, axes = report_figure(n, 1, height=height * n, squeeze=False)
    return fig, list(axes.flat)


@report_style
def plot_paired_differences(comp: pd.DataFrame, runs: list, margin: float):
    """Accuracy differences A - B of :func:`lib.analysis.tables.comparisons` (``comp``), one panel per run, each
    on its own scale so that its intervals can be read: the naive and the corrected 95% interval, the mean, and
    the pre-specified ``margin`` (a fraction: decisions.yaml's ``margin_accuracy``) as a shaded band."""
    n = comp[comp.metric == "accuracy"].groupby("run").size().max() if len(comp) else 0
    fig, axes = _grid(len(runs), 0.32 * (0 if pd.isna(n) else n) + 1.1)
    m = 100 * margin
    for ax, r in zip(axes, runs):
        d = comp[(comp.run == r) & (comp.metric == "accuracy")].reset_index(drop=True)
        y = np.arange(len(d))[::-1]
        ax.axvspan(-m, m, color="0.92", zorder=0, label=f"±{m:g}-point margin")
        ax.hlines(y + 0.12, 100 * d.naive_ci_low, 100 * d.naive_ci_high, color="0.6", lw=3, label="naive 95% CI")
        ax.hlines(y - 0.12, 100 * d.corrected_ci_low, 100 * d.corrected_ci_high, color="C0", lw=3, label="corrected 95% CI")
        ax.plot(100 * d.mean_diff, y, "ko", ms=4, label="mean A − B")
        ax.axvline(0, color="C3", lw=1)
        ends = 100 * pd.concat([d.corrected_ci_low, d.corrected_ci_high, d.mean_diff]).dropna()
        lo, hi = min(ends.min(), -m), max(ends.max(), m)
        ax.set_xlim(lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo))
        ax.set_yticks(y, [f"{a} − {b}" for a, b in zip(d.a, d.b)])
        ax.set_title(r); ax.set_xlabel("accuracy difference A − B (points)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3)
    fig.suptitle("Paired differences on the same splits:\ncorrected vs naive intervals (each panel its own scale)")
    return fig


@report_style
def plot_operating_point(opt: pd.DataFrame, targets: dict):
    """Per run of :func:`lib.analysis.tables.operating_point` (``opt``, not empty), each model's first-pass
    sensitivity at 0.5 and at its operating-point threshold with Wilson 95% intervals, and the run's target
    sensitivity (``targets``: {run: target}) dotted; the first panel's legend names the three."""
    fig, axes = _grid(opt.run.nunique(), 3.0)
    for ax, (r, g) in zip(axes, opt.groupby("run", sort=False)):
        x = np.arange(len(g))
        for k, (w, label) in enumerate((("05", "at 0.5"), ("op", "at the threshold"))):
            est = g[f"sensitivity_{w}"].to_numpy()
            err = [est - g[f"sensitivity_{w}_low"].to_numpy(), g[f"sensitivity_{w}_high"].to_numpy() - est]
            ax.errorbar(x + (k - 0.5) * 0.25, est, yerr=err, fmt="o", capsize=3, label=label)
        ax.axhline(targets[r], color="k", ls=":", lw=1, label="target")
        ax.set_xticks(x, g.model, rotation=90)
        ax.set_title(f"{r}: sensitivity (first pass, Wilson 95%)")
        ax.set_ylim(max(0, min(0.5, ax.get_ylim()[0])), 1.01)
    axes[0].legend(loc="lower left")
    return fig


@report_style
def plot_roc_reliability(pred: dict, sizes: dict, runs: list):
    """Per run (a row each): ROC curves with their AUC (left) and reliability curves over 10 bins (right) of
    :data:`lib.analysis.tables.CURVE_MODELS` on the first pass of ``pred[run]`` (``sizes[run]['protocol']``)."""
    fig, grid = report_figure(len(runs), 2, height=3.4 * len(runs), squeeze=False)
    axes = grid.T  # axes[0][j]: ROC of run j, axes[1][j]: its reliability
    for j, r in enumerate(runs):
        one = tables.first_pass(pred[r], sizes[r]["protocol"])
        for k, m in enumerate(tables.CURVE_MODELS):
            p = one[one.model == m]
            if p.empty or p.y.nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(p.y, p.score)
            axes[0][j].plot(fpr, tpr, color=f"C{k}", label=f"{m} {roc_auc_score(p.y, p.score):.3f}")
            rel = stats.reliability(p.y.to_numpy(), p.score.to_numpy(), bins=10)
            axes[1][j].plot(rel["mean_predicted"], rel["observed_rate"], "o-", color=f"C{k}", ms=4, label=m)
        axes[0][j].plot([0, 1], [0, 1], ":", color="0.6"); axes[0][j].set_title(f"{r}: ROC (first pass)")
        axes[0][j].set_xlabel("1 − specificity"); axes[0][j].set_ylabel("sensitivity")
        axes[1][j].plot([0, 1], [0, 1], ":", color="0.6"); axes[1][j].set_title(f"{r}: reliability")
        axes[1][j].set_xlabel("mean predicted P(malignant)\nin bin"); axes[1][j].set_ylabel("observed share malignant")
        # the AUCs as the legend's title and values: a narrow key in the lower right, where no ROC curve runs
        axes[0][j].legend(title="ROC AUC", loc="lower right", handlelength=1, borderaxespad=0.2, labelspacing=0.2,
                          framealpha=0.8)
    return fig


@report_style
def plot_decision_curves(pred: dict, sizes: dict, runs: list, opt: pd.DataFrame, thresholds=DECISION_THRESHOLDS):
    """Decision curves, one panel per run: the net benefit of referring every first-pass row whose score is at
    least a threshold probability, for :data:`lib.analysis.tables.DIAG_MODELS`, against "refer all" and "refer
    none" (0); a model is useful where it lies above both. The deployable student's operating-point thresholds
    over splits (``opt``, training rows only) shaded."""
    fig, axes = _grid(len(runs), 2.6)
    for ax, r in zip(axes, runs):
        one = tables.first_pass(pred[r], sizes[r]["protocol"])
        y_all = one[one.model == one.model.iloc[0]].y
        ax.plot(thresholds, tables.net_benefit(y_all, np.ones(len(y_all)), thresholds), color="0.6", ls="--", label="refer all")
        ax.axhline(0, color="0.3", lw=0.8, label="refer none")
        for k, m in enumerate(tables.DIAG_MODELS):
            p = one[one.model == m]
            if len(p):
                ax.plot(thresholds, tables.net_benefit(p.y, p.score, thresholds), color=f"C{k}", label=m)
        prev = y_all.mean()
        o = opt[(opt.run == r) & (opt.model == tables.DEPLOYABLE)] if len(opt) else opt
        if len(o):  # the deployable student's operating-point thresholds over splits (training rows only)
            ax.axvspan(o.threshold_min.iloc[0], o.threshold_max.iloc[0], color="C3", alpha=0.12, label=f"{tables.DEPLOYABLE} thresholds")
        ax.set_ylim(-0.05, prev + 0.05); ax.set_title(r)
        ax.set_xlabel("threshold probability"); ax.set_ylabel("net benefit")
    labels = {}
    for ax in axes:  # one legend for all panels, below them
        for h, lab in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(lab, h)
    fig.legend(labels.values(), labels.keys(), loc="outside lower center", ncols=3)
    fig.suptitle("Decision curves (first pass)")
    return fig


@report_style
def plot_accuracy_vs_size(eff: pd.DataFrame, runs: list):
    """Per run of :func:`lib.analysis.tables.efficiency` (``eff``): accuracy against TFLite size (log), the
    Pareto-optimal models in (accuracy, size) red, labels spread apart."""
    fig, axes = _grid(len(runs), 3.4)
    for ax, r in zip(axes, runs):
        d = eff[eff.run == r].dropna(subset=["size_bytes"]).reset_index(drop=True)
        ax.scatter(d.size_bytes, 100 * d.accuracy, c=["C3" if p else "C0" for p in d.pareto_size_bytes], s=18, zorder=3)
        ax.set_xscale("log"); ax.set_xlabel("TFLite size (bytes, log)"); ax.set_title(r)
        ax.set_ylabel("accuracy (%),\nmean over splits")
        ax.set_xlim(d.size_bytes.min() / 2, d.size_bytes.max() * 2)
        plain_log_ticks(ax.xaxis)
    fig.suptitle("Accuracy against size (red: Pareto-optimal)")
    for ax, r in zip(axes, runs):  # once the panels stand where they end up
        d = eff[eff.run == r].dropna(subset=["size_bytes"]).reset_index(drop=True)
        spread_labels(ax, d.size_bytes.to_numpy(), (100 * d.accuracy).to_numpy(), list(d.model))
    return fig
