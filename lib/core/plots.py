"""Figure helpers shared by the notebooks."""
from __future__ import annotations

import contextlib
import functools
import warnings

import matplotlib.pyplot as plt
import seaborn as sns

from lib.core import legibility, paths

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 120, "savefig.bbox": "tight",
                     "svg.hashsalt": "kdstudy", "figure.max_open_warning": 0})


class IllegibleFigure(UserWarning):
    """A saved figure has overlapping text, text outside it, or text smaller than the report's body text as the
    report shows it (:mod:`lib.core.legibility`)."""


def save(fig, run: str, name: str):
    """Save ``fig`` as ``outputs/<run>/figures/<name>.png`` and return the path (the notebook shows the fig). A
    figure that is not legible as the report shows it is saved all the same, with an :class:`IllegibleFigure`
    warning that lists its problems (``tests/test_figures.py`` fails on any such warning in an executed notebook)."""
    found = legibility.problems(fig)
    if found:
        warnings.warn(f"figure {name} is not legible as the report shows it: " + "; ".join(found), IllegibleFigure,
                      stacklevel=2)
    path = paths.figures_dir(run) / f"{name}.png"
    fig.savefig(path, metadata={"Software": None})
    return path


# A report figure is drawn for the report's text column (lib.core.legibility: measured in Chromium) at the saved
# dpi, which is also its own, so that the notebook page and the figures page both show it unscaled (both images
# are cut to the drawn texts and padded by savefig.pad_inches each side); its smallest font is then at least the
# body text as shown (10 pt at 120 dpi is 16.7 px).
REPORT_DPI = plt.rcParams["savefig.dpi"]
REPORT_WIDTH_IN = legibility.COLUMN_PX / REPORT_DPI - 2 * plt.rcParams["savefig.pad_inches"]
MIN_FONT_PT = 10  # the smallest font a report figure uses
REPORT_RC = {"font.size": MIN_FONT_PT, "axes.titlesize": MIN_FONT_PT + 1, "axes.labelsize": MIN_FONT_PT,
             "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT,
             "legend.title_fontsize": MIN_FONT_PT, "figure.titlesize": MIN_FONT_PT + 1}


@contextlib.contextmanager
def report_rc():
    """Context in which new figures are report figures: the report's font sizes (``REPORT_RC``: none below
    ``MIN_FONT_PT`` unless asked for) and dpi (seaborn's grids included); size them to ``REPORT_WIDTH_IN``. Only
    these settings are restored on exit (``plt.rc_context`` restores every one, ``interactive`` included, which
    the notebook's inline backend turns on when it loads with the first figure: later figures would not show)."""
    rc = {**REPORT_RC, "figure.dpi": REPORT_DPI}
    saved = {k: plt.rcParams[k] for k in rc}
    plt.rcParams.update(rc)
    try:
        yield
    finally:
        plt.rcParams.update(saved)


def report_style(draw):
    """Decorator of a function that draws a report figure (:func:`report_rc` while it runs)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with report_rc():
            return draw(*args, **kwargs)
    return wrapper


def report_figure(nrows: int = 1, ncols: int = 1, *, height: float, **kw):
    """``plt.subplots`` for a report figure: the column's width, the report's dpi, constrained layout."""
    kw.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(REPORT_WIDTH_IN, height), dpi=REPORT_DPI, **kw)


def plain_log_ticks(axis, numticks: int = 6) -> None:
    """Major ticks of a log ``axis`` at powers of ten written as plain numbers (1, 10, 100, 1k, 10k, 1M: no
    superscripts, whose exponents mathtext draws at 70% of the font size), minor ticks unlabelled."""
    import matplotlib.ticker as mticker

    def plain(v, _):
        for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if v >= div:
                return f"{v / div:g}{unit}"
        return f"{v:g}"
    axis.set_major_locator(mticker.LogLocator(numticks=numticks))
    axis.set_major_formatter(mticker.FuncFormatter(plain))
    axis.set_minor_formatter(mticker.NullFormatter())


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
