"""Figure helpers shared by the notebooks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from lib.core import paths

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 120, "savefig.bbox": "tight",
                     "svg.hashsalt": "kdstudy", "figure.max_open_warning": 0})


def save(fig, run: str, name: str):
    """Save ``fig`` as ``outputs/<run>/figures/<name>.png`` and return the path (the notebook shows the fig)."""
    path = paths.figures_dir(run) / f"{name}.png"
    fig.savefig(path, metadata={"Software": None})
    return path


# the report shows a figure at most about 1,140 px wide: at the saved dpi a figure this wide (inches) is not scaled
REPORT_WIDTH_IN = 1140 / plt.rcParams["savefig.dpi"]
MIN_FONT_PT = 8  # smallest font a report figure uses (lib.core.legibility checks it)


def spread_labels(ax, x, y, labels, min_gap_pt: float | None = None, fontsize: float = MIN_FONT_PT) -> list:
    """Label scatter points without collisions: labels in one column right of the axes, at the height of their
    points where they fit, spaced at least ``min_gap_pt`` points apart (default: 1.3 x the font size), each
    joined to its point by a thin line. The figure is drawn first (and again if its layout engine moves the axes,
    the labels then placed anew), so that the spacing holds in the final layout. Returns the annotations."""
    import numpy as np

    gap = 1.3 * fontsize if min_gap_pt is None else min_gap_pt
    fig = ax.figure
    xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    placed_for, annotations = None, []
    for _ in range(4):
        fig.canvas.draw()
        where = tuple(np.round(ax.get_position().bounds, 4)) + tuple(np.round(ax.get_ylim(), 9))
        if where == placed_for:
            break
        for a in annotations:
            a.remove()
        to_pt = 72.0 / fig.dpi
        heights = ax.transData.transform(xy)[:, 1] * to_pt
        order = np.argsort(heights, kind="stable")
        # clusters of labels closer than the gap are spaced by the gap and centred on their points (merged
        # until no two clusters overlap)
        clusters = []  # [bottom, [wanted heights]]
        for i in order:
            clusters.append([heights[i], [heights[i]]])
            while len(clusters) > 1 and clusters[-2][0] + len(clusters[-2][1]) * gap > clusters[-1][0]:
                wants = clusters[-2][1] + clusters[-1][1]
                clusters[-2:] = [[float(np.mean([w - k * gap for k, w in enumerate(wants)])), wants]]
        placed = [bottom + k * gap for bottom, wants in clusters for k in range(len(wants))]
        shift = dict(zip(order, placed))
        annotations = [ax.annotate(lab, tuple(xy[i]), xytext=(1.04, shift[i] - heights[i]),
                                   textcoords=("axes fraction", "offset points"), fontsize=fontsize, va="center",
                                   annotation_clip=False, arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.6"})
                       for i, lab in enumerate(labels)]
        placed_for = where
    return annotations
