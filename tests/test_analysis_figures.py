"""lib.analysis.figures (notebook 08): every figure draws from a tiny synthetic table, one panel per run, and saves
under the name notebook 08 gives it."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from lib.core import plots
from lib.analysis import figures

matplotlib.use("Agg")
RUNS = ["wdbc", "bcd"]


def _comp():
    rows = []
    for r in RUNS:
        for a, b, d in (("SM", "TM", 0.01), ("SM", "SM_scratch", -0.004), ("SM_INT8", "SM", np.nan)):
            rows.append({"run": r, "metric": "accuracy", "a": a, "b": b, "mean_diff": d, "naive_ci_low": d - 0.01,
                         "naive_ci_high": d + 0.01, "corrected_ci_low": d - 0.03, "corrected_ci_high": d + 0.03})
        rows.append({**rows[-1], "metric": "sensitivity"})
    return pd.DataFrame(rows)


def _pred():
    rng = np.random.default_rng(0)
    out = {}
    for r in RUNS:
        y = np.tile([0, 1, 0, 1, 1, 0, 0, 0], 4)
        rows = []
        for f in ("r0f0", "r0f1", "r1f0"):
            for m in ("TM", "SM_scratch", "SM", "SM_INT8"):
                score = np.clip(0.7 * y + rng.uniform(0, 0.4, len(y)), 0, 1)
                rows.append(pd.DataFrame({"run": r, "fold": f, "model": m, "row": np.arange(len(y)), "y": y,
                                          "score": score, "pred": (score >= 0.5).astype(int)}))
        out[r] = pd.concat(rows, ignore_index=True)
    return out


def _opt():
    rows = []
    for r in RUNS:
        for m, s05, sop in (("TM", 0.9, 0.95), ("SM", 0.92, 0.97), ("SM_INT8", 0.91, 0.96)):
            rows.append({"run": r, "model": m, "threshold_min": 0.2, "threshold_max": 0.35,
                         "sensitivity_05": s05, "sensitivity_05_low": s05 - 0.05, "sensitivity_05_high": min(1, s05 + 0.04),
                         "sensitivity_op": sop, "sensitivity_op_low": sop - 0.05, "sensitivity_op_high": min(1, sop + 0.02)})
    return pd.DataFrame(rows)


def _eff():
    return pd.DataFrame({"run": np.repeat(RUNS, 3), "model": ["SM", "SM_INT8", "TM"] * 2,
                         "accuracy": [0.96, 0.955, 0.93, 0.80, 0.79, 0.81], "size_bytes": [5804, 2688, 2994616] * 2,
                         "pareto_size_bytes": [True, True, False, False, True, True]})


SIZES = {r: {"protocol": "rigorous"} for r in RUNS}


@pytest.mark.parametrize("name, draw, panels", [
    ("08_paired_differences", lambda: figures.plot_paired_differences(_comp(), RUNS, 0.02), 2),
    ("08_operating_point", lambda: figures.plot_operating_point(_opt(), {"wdbc": 0.95, "bcd": 0.9}), 2),
    ("08_roc_reliability", lambda: figures.plot_roc_reliability(_pred(), SIZES, RUNS), 4),
    ("08_decision_curve", lambda: figures.plot_decision_curves(_pred(), SIZES, RUNS, _opt()), 2),
    ("08_accuracy_vs_size", lambda: figures.plot_accuracy_vs_size(_eff(), RUNS), 2),
])
def test_each_figure_draws_and_saves(scratch_outputs, name, draw, panels):
    fig = draw()
    assert len(fig.axes) == panels
    path = plots.save(fig, "summary-test", name)
    assert path == scratch_outputs / "summary-test" / "figures" / f"{name}.png" and path.stat().st_size > 0


def test_figures_read_their_tables():
    fig = figures.plot_paired_differences(_comp(), RUNS, 0.02)
    ax = fig.axes[0]
    assert ax.get_title() == "wdbc" and [t.get_text() for t in ax.get_yticklabels()] == ["SM − TM", "SM − SM_scratch",
                                                                                        "SM_INT8 − SM"]
    assert ax.get_xlim()[0] < -2 and ax.get_xlim()[1] > 2  # the ±2-point margin is always in view
    fig = figures.plot_roc_reliability(_pred(), SIZES, RUNS)
    assert [line.get_label().split(" ")[0] for line in fig.axes[0].get_lines()[:3]] == ["TM", "SM", "SM_INT8"]
    fig = figures.plot_decision_curves(_pred(), SIZES, RUNS, _opt())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["refer all", "refer none"] and "SM_INT8 thresholds" in labels and "SM_paperloss" not in labels
    fig = figures.plot_decision_curves(_pred(), SIZES, RUNS, _opt().iloc[:0])  # no operating point: no band
    assert "SM_INT8 thresholds" not in [t.get_text() for t in fig.legends[0].get_texts()]
    fig = figures.plot_accuracy_vs_size(_eff(), RUNS)
    colors = fig.axes[1].collections[0].get_facecolors()
    assert len(colors) == 3 and not np.allclose(colors[0], colors[1])  # Pareto-optimal in another colour


def test_the_roc_key_covers_no_curve():
    """The ROC panels' key (the AUCs) sits in the lower right, where no ROC curve runs: here a curve shaped as
    pbcnt's teacher (few normal tissues: a step at 1 - specificity 0.1, up the whole height), which the wider
    key of before covered. Every curve is sampled densely along its segments, in display coordinates."""
    import matplotlib.pyplot as plt

    y = np.r_[np.zeros(10, int), np.ones(80, int)]
    rows = []
    for m, neg, pos in (("TM", np.r_[0.95, np.full(9, 0.1)], np.r_[np.full(12, 0.97), np.full(68, 0.92)]),
                        ("SM", np.full(10, 0.2), np.full(80, 0.9)), ("SM_INT8", np.full(10, 0.3), np.full(80, 0.8))):
        score = np.r_[neg, pos]
        rows.append(pd.DataFrame({"run": "pbcnt", "fold": "r0f0", "model": m, "row": np.arange(len(y)), "y": y,
                                  "score": score, "pred": (score >= 0.5).astype(int)}))
    fig = figures.plot_roc_reliability({"pbcnt": pd.concat(rows, ignore_index=True)},
                                       {"pbcnt": {"protocol": "rigorous"}}, ["pbcnt"])
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    for line in ax.get_lines()[:3]:  # the three curves (the chance diagonal is drawn last)
        xy = line.get_xydata()
        dense = np.concatenate([np.linspace(a, b, 50) for a, b in zip(xy[:-1], xy[1:])])
        px = ax.transData.transform(dense)
        inside = (px[:, 0] > box.x0) & (px[:, 0] < box.x1) & (px[:, 1] > box.y0) & (px[:, 1] < box.y1)
        assert not inside.any(), (line.get_label(), dense[inside][:3])
    plt.close(fig)
