"""Notebook 03b's figures: accuracy by PCA size, the sign flips and the PCA loadings."""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from lib.core.plots import report_figure, report_style
from lib.transfer import alignment
from lib.transfer.transfer_data import CNN_MODELS, MODELS, SIGN_FLIP_K, Data
from lib.transfer.transfer_params import TransferParams
from lib.transfer.verdict import PAPER_BY_K, PAPER_HEADLINE, model_label

@report_style
def plot_accuracy(TP: TransferParams, summary: pd.DataFrame, rules: dict | None = None):
    """Target accuracy vs k (mean, 95% t-interval band) per model, one panel per feature method; majority
    baseline dashed, the target-only ``rules`` ({name: accuracy}) dotted; the paper's SM at k = 6 (73.97 [65.04,
    82.90], z / n = 13) and its per-k SM means marked. SM_scratch's legend names its confound, if any."""

    methods = list(TP.features)
    fig, axes = report_figure(len(methods), 1, height=3.2 * len(methods) + 2.2, sharex=True, squeeze=False)
    axes = axes.T  # axes[0]: one panel per method, one under the other
    colors = dict(zip(MODELS, ("tab:blue", "tab:orange", "tab:green", "tab:purple")))
    s = summary[(summary.part == "target") & (summary.metric == "accuracy")]
    majority = float(s.majority.iloc[0]) * 100
    for ax, method in zip(axes[0], methods):
        for m in MODELS:
            g = s[(s.features == method) & (s.model == m)].sort_values("k")
            if g.empty:
                continue
            ax.plot(g.k, g["mean"] * 100, marker="o", color=colors[m], label=model_label(TP.params, m))
            ax.fill_between(g.k, (g.ci_low * 100).clip(0, 100), (g.ci_high * 100).clip(0, 100), color=colors[m],
                            alpha=0.15, lw=0)  # t-intervals over few seeds can leave [0, 100]: clipped for display
        ax.axhline(majority, ls="--", color="grey", lw=1, label=f"always 'benign' {majority:.1f}%")
        for (r, v), c, ls in zip((rules or {}).items(), ("tab:red", "tab:brown"), (":", "-.")):
            ax.axhline(100 * v, ls=ls, color=c, lw=1.2, label=f"{r} (no WDBC data) {100 * v:.1f}%")
        ax.set_ylim(0, 101)
        if method == "authors":
            ax.plot(PAPER_BY_K.index, PAPER_BY_K.SM, ls="none", marker="x", color="k", alpha=0.6,
                    label="paper SM (xlsx means)")
            h = PAPER_HEADLINE
            ax.errorbar([h["k"] + 0.12], [h["mean"]], yerr=[[h["mean"] - h["low"]], [h["high"] - h["mean"]]],
                        fmt="*", color="k", ms=10, capsize=4, label="paper 73.97 [65.04, 82.90]")
        ax.set(title=f"{method} features", ylabel="BCD accuracy (%)")
    axes[0][-1].set_xlabel("k (PCA components)")
    labels = {}
    for ax in axes[0]:  # one legend for all panels, below them
        for h, lab in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(lab, h)
    fig.legend(labels.values(), labels.keys(), loc="outside lower center", ncols=1)
    fig.suptitle(f"{TP.run}: train on WDBC, test on all {TP.target.upper()} rows\n(mean and 95% t-interval over "
                 f"{TP.seeds} seeds)")
    return fig


@report_style
def plot_sign_flips(TP: TransferParams, flips: pd.DataFrame, majority: float):
    """BCD accuracy of each model at k = 6 over every sign pattern of BCD's components (all seeds), with the
    installed solver's pattern and the loadings-matched pattern marked; the key, below the panel, names every
    mark (the grey dots and violins too)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = report_figure(height=5.8)  # the panel, and its key below it
    if flips.empty:
        ax.text(0.5, 0.5, "no sign-flip analysis (needs authors features and k = 6)", ha="center")
        return fig
    order = [m for m in CNN_MODELS if m in set(flips.model)]
    f = flips.assign(acc=flips.accuracy * 100)
    sns.violinplot(data=f, x="model", y="acc", order=order, color="0.9", inner="quartile", cut=0, ax=ax)
    sns.stripplot(data=f, x="model", y="acc", order=order, color="0.5", size=2, alpha=0.4, jitter=0.25, ax=ax)
    for col, label, color, marker in (("solver", "installed solver's signs", "tab:red", "D"),
                                      ("matches_wdbc", "BCD signs matched to WDBC's by loadings", "tab:blue", "o")):
        g = f[f[col]]
        ax.scatter([order.index(m) + 0.3 for m in g.model], g.acc, color=color, marker=marker, s=18,
                   label=label, zorder=3)
    ax.axhline(majority * 100, ls="--", color="grey", lw=1, label=f"always 'benign' {majority:.1%}")
    ax.set(title=f"{TP.run}: authors' features, k = {SIGN_FLIP_K}:\nBCD accuracy over all "
                 f"{2 ** SIGN_FLIP_K} sign patterns x {flips.seed.nunique()} seeds", xlabel="",
           ylabel="BCD accuracy (%)")
    handles, labels = ax.get_legend_handles_labels()
    n_seeds = flips.seed.nunique()
    handles = [Line2D([], [], ls="none", marker="o", ms=3, color="0.5", alpha=0.6),
               Patch(facecolor="0.9", edgecolor="0.3")] + handles
    labels = [f"one sign pattern, one seed ({2 ** SIGN_FLIP_K} x {n_seeds} per model)",
              "their spread (violin; lines at the quartiles)"] + labels
    fig.legend(handles, labels, loc="outside lower center", ncols=1)
    return fig


@report_style
def plot_loadings(TP: TransferParams, D: Data, k: int = SIGN_FLIP_K):
    """Loadings of the first ``k`` signed components (standardized, loadings sum positive; fit on all rows of
    each dataset, for display) of WDBC's 30 and BCD's 9 features: PC1 is "everything larger" in both, later
    components are contrasts between unrelated measurements."""

    k = min(k, D.W.shape[1], D.B.shape[1])
    cols = [f"PC{j + 1}" for j in range(k)]
    w = pd.DataFrame(alignment.SignedPCA(k).fit(D.W).components.T, index=D.source_features, columns=cols)
    b = pd.DataFrame(alignment.SignedPCA(k).fit(D.B).components.T, index=D.target_features, columns=cols)
    fig, axes = report_figure(2, 1, height=0.26 * (len(w) + len(b)) + 2.2,
                              gridspec_kw={"height_ratios": [len(w) + 2, len(b) + 2]})
    lim = max(np.abs(w.values).max(), np.abs(b.values).max())
    sns.heatmap(w, cmap="RdBu_r", vmin=-lim, vmax=lim, ax=axes[0], cbar=True, annot=True, fmt=".2f",
                cbar_kws={"shrink": 0.5})
    sns.heatmap(b, cmap="RdBu_r", vmin=-lim, vmax=lim, ax=axes[1], cbar=True, annot=True, fmt=".2f",
                cbar_kws={"shrink": 0.8})
    axes[0].set_title(f"WDBC ({D.W.shape[1]} features): signed PCA loadings")
    axes[1].set_title(f"{TP.target.upper()} ({D.B.shape[1]} features): signed PCA loadings")
    for ax in axes:
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle("PC j of one dataset is fed where the model learnt PC j\nof the other: only PC1 means the same")
    return fig
