"""Legibility of the report's figures (lib.core.legibility): every figure function drawn from the committed outputs
has no overlapping text, no text outside the figure and no text too small as shown; the checker itself flags a
planted overlap and the old Pareto figure's overlapping latency tick labels."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lib.core import legibility, paths, plots  # noqa: E402,F401  (plots: the rcParams the figures are saved with)

OUT = paths.outputs_root()
SUMMARY = OUT / "summary"
PARETO_RUNS = [r for r in ("wdbc", "pbcnt", "bcd", "wdbc-paper") if (OUT / r / "pareto_06.csv").exists()]


def _runs():
    from lib.analysis import tables
    return tables.available(tables.profile("full").runs)[0]


def _pareto(run):
    return pd.read_csv(OUT / run / "pareto_06.csv", index_col=0)


def _decision_inputs():
    from lib.analysis import tables
    from lib.compress import predictions
    runs = _runs()
    return ({r: predictions.load(r) for r in runs}, {r: tables.split_sizes(r) for r in runs}, runs,
            pd.read_csv(SUMMARY / "operating_point.csv"))


def _glance():
    """Questions of the answers figure from the committed comparisons (corrected and naive intervals per run)."""
    from types import SimpleNamespace
    comp = pd.read_csv(SUMMARY / "comparisons.csv")
    comp = comp[comp.metric == "accuracy"]
    out = []
    for a, b in (("SM", "TM"), ("SM", "SM_scratch"), ("SM_scratch", "TM"), ("SM_INT8", "LR"), ("SM_INT8", "RF")):
        d = comp[(comp.a == a) & (comp.b == b)]
        claims = [SimpleNamespace(run=r.run, value=r.mean_diff, low=r.corrected_ci_low, high=r.corrected_ci_high,
                                  naive_low=r.naive_ci_low, naive_high=r.naive_ci_high) for r in d.itertuples()]
        if claims:
            out.append({"a": a, "b": b, "claims": claims})
    return out


def _transfer():
    from lib.transfer import transfer_params
    return transfer_params.load("wdbc-to-bcd")


def _draw(name):
    """The figure ``name`` drawn as its notebook draws it, from the committed outputs."""
    from lib.analysis import documents, figures, runs as runs_
    from lib.compress import export
    from lib.core.decisions import load_decisions
    from lib.transfer import figures as tfig
    if name.startswith("06_pareto_"):
        run = name.removeprefix("06_pareto_")
        return export.plot_pareto(_pareto(run), run)
    if name == "08_paired_differences":
        return figures.plot_paired_differences(pd.read_csv(SUMMARY / "comparisons.csv"), _runs(),
                                               load_decisions().margin_accuracy)
    if name == "08_operating_point":
        opt = pd.read_csv(SUMMARY / "operating_point.csv")
        return figures.plot_operating_point(opt, {r: runs_.load_any(r).target_sensitivity for r in opt.run.unique()})
    if name == "08_roc_reliability":
        pred, sizes, runs, _ = _decision_inputs()
        return figures.plot_roc_reliability(pred, sizes, runs)
    if name == "08_decision_curve":
        return figures.plot_decision_curves(*_decision_inputs())
    if name == "08_accuracy_vs_size":
        return figures.plot_accuracy_vs_size(pd.read_csv(SUMMARY / "efficiency.csv"), _runs())
    if name == "08_answers":
        return documents.answers_forest(documents.forest_panels(_glance()[:2]))
    if name == "08_answers_basis":
        return documents.answers_forest(documents.forest_panels(_glance()[2:]))
    if name == "03b_transfer_accuracy":
        summary = pd.read_csv(OUT / "wdbc-to-bcd" / "transfer_summary.csv")
        return tfig.plot_accuracy(_transfer(), summary, {"majority rule": 0.65, "threshold rule": 0.8})
    if name == "03b_sign_flips":
        flips = pd.read_csv(OUT / "wdbc-to-bcd" / "sign_flips.csv")
        return tfig.plot_sign_flips(_transfer(), flips, 0.65)
    if name == "03b_loadings":
        from lib.transfer import transfer_data
        TP = _transfer()
        return tfig.plot_loadings(TP, transfer_data.load_data(TP))
    raise KeyError(name)


FIGURES = ([f"06_pareto_{r}" for r in PARETO_RUNS]
           + ["08_paired_differences", "08_operating_point", "08_roc_reliability", "08_decision_curve",
              "08_accuracy_vs_size", "08_answers", "08_answers_basis",
              "03b_transfer_accuracy", "03b_sign_flips", "03b_loadings"])


@pytest.mark.parametrize("name", FIGURES)
def test_report_figure_is_legible(name):
    fig = _draw(name)
    try:
        assert legibility.problems(fig) == []
    finally:
        plt.close(fig)


def test_the_cross_dataset_figures_tell_every_mark_apart():
    """03b_sign_flips: its key, below the panel, names the grey dots and the violins as well as the marked
    patterns, and covers none of the points. 03b_transfer_accuracy: the two target-only rules differ in line
    style as well as in colour."""
    fig = _draw("03b_sign_flips")
    try:
        fig.canvas.draw()
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels[0].startswith("one sign pattern, one seed") and labels[1].startswith("their spread")
        assert "installed solver's signs" in labels and not fig.axes[0].get_legend()
        assert fig.legends[0].get_window_extent().y1 <= fig.axes[0].get_window_extent().y0
    finally:
        plt.close(fig)
    fig = _draw("03b_transfer_accuracy")
    try:
        styles = {l.get_label(): l.get_linestyle() for l in fig.axes[0].get_lines() if "no WDBC data" in l.get_label()}
        assert len(styles) == 2 and len(set(styles.values())) == 2, styles
    finally:
        plt.close(fig)

def test_checker_flags_planted_overlap_outside_and_small_text():
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.text(0.5, 0.5, "first label", fontsize=10)
    ax.text(0.5, 0.5, "second label", fontsize=10)
    ax.annotate("beyond the right edge", (1, 0.5), xytext=(60, 0), textcoords="offset points", fontsize=10)
    ax.set_title("tiny title", fontsize=5)
    found = legibility.problems(fig)
    plt.close(fig)
    assert any(p.startswith("overlap") and "first label" in p and "second label" in p for p in found), found
    assert any(p.startswith("outside the figure") and "beyond the right edge" in p for p in found), found
    assert any(p.startswith("too small") and "tiny title" in p for p in found), found


def test_checker_passes_a_plain_report_figure():
    @plots.report_style
    def squares():
        fig, ax = plots.report_figure(height=3)
        ax.plot([1, 2, 3], [1, 4, 9]); ax.set(title="squares", xlabel="x", ylabel="x squared")
        return fig
    fig = squares()
    padded = fig.get_size_inches()[0] + 2 * matplotlib.rcParams["savefig.pad_inches"]
    assert fig.dpi == plots.REPORT_DPI and padded * fig.dpi == pytest.approx(legibility.COLUMN_PX)
    assert legibility.problems(fig) == []
    plt.close(fig)


def test_checker_measures_text_as_the_report_shows_it():
    """Text is measured in the image that shows it smallest: a figure at the notebooks' default dpi (90) shows
    11-pt ticks at 13.8 px, below the body text; one wider than the column is scaled down with its fonts."""
    fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    ax.plot([1, 2, 3], [1, 4, 9])
    found = legibility.problems(fig)
    assert found and all(p.startswith("too small") and "notebook image" in p for p in found), found
    assert legibility.problems(fig, min_px=13) == []  # 11 pt at 90 dpi, unscaled: 13.75 px
    plt.close(fig)
    fig, ax = plots.report_figure(height=3)
    fig.set_size_inches(2 * plots.REPORT_WIDTH_IN, 3)  # twice the column: every text shown at half its size
    ax.set_title("title", fontsize=12)
    found = legibility.problems(fig)
    title = [p for p in found if p.startswith("too small: Text 'title'")]
    assert title and 9.8 < float(title[0].split(" pt, ")[1].split(" px")[0]) < 10.6, found  # 12 pt = 20 px, halved
    plt.close(fig)


PARETO_PANELS = (("size_bytes", "TFLite file size (bytes, log)", "pareto_size"),
                 ("median_us", "median per-sample latency on this host (us, log)", "pareto_latency"))


def _old_plot_pareto(table, run):
    """plot_pareto as it was: log latency axis with labelled minor ticks, labels at a fixed offset, 12 in wide."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    for ax, (cost, label, flag) in zip(axes, PARETO_PANELS):
        on = table[flag]
        for name, r in table.iterrows():
            ax.errorbar(r[cost], r.accuracy, yerr=[[r.accuracy - r.ci_low], [r.ci_high - r.accuracy]], fmt="o",
                        mfc="C3" if on[name] else "white", mec="C3" if on[name] else "C0", ecolor="0.7", ms=7)
            ax.annotate(name, (r[cost], r.accuracy), textcoords="offset points", xytext=(5, 4), fontsize=8)
        f = table[on].sort_values(cost)
        ax.step(f[cost], f.accuracy, where="post", color="C3", alpha=0.4)
        ax.set_xscale("log"); ax.set_xlabel(label)
    axes[0].set_ylabel("test accuracy (mean, 95% CI)")
    fig.suptitle(f"{run}: accuracy vs size and latency (filled: Pareto-optimal)")
    return fig


def test_checker_flags_the_old_pareto_figure():
    fig = _old_plot_pareto(_pareto("wdbc"), "wdbc")
    found = legibility.problems(fig)
    plt.close(fig)
    # the labelled minor ticks of the latency axis (2x10^0, 3x10^0, ...) run into each other
    assert any(p.startswith("overlap") and p.count("times10^{0}") == 2 for p in found), found
    assert any(p.startswith("overlap") and "SM_paperloss" in p for p in found), found
    assert any(p.startswith("too small") for p in found), found


def test_save_warns_on_an_illegible_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "figures_dir", lambda run: tmp_path)
    fig, ax = plt.subplots(figsize=(4, 3), dpi=90)  # the notebooks' defaults: 11-pt ticks are 13.8 px
    with pytest.warns(plots.IllegibleFigure, match="figure planted is not legible.*too small"):
        path = plots.save(fig, "any", "planted")
    assert path.exists()  # saved all the same
    plt.close(fig)


def _illegible_in(nb_path):
    import json
    nb = json.loads(nb_path.read_text())
    return [o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
            for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "stream" and "IllegibleFigure" in "".join(o.get("text", ""))]


def test_no_executed_notebook_saved_an_illegible_figure():
    """Every figure of every committed executed notebook was legible when it was saved (lib.core.plots.save
    warns otherwise, and the warning stays in the notebook's output)."""
    executed = sorted(p for p in OUT.glob("*/[0-9]*.ipynb") if ".tmp." not in p.name and ".failed." not in p.name)
    assert executed
    found = {str(p.relative_to(OUT)): w for p in executed if (w := _illegible_in(p))}
    assert found == {}


def test_answers_figure_marks_the_holm_step_bound():
    from types import SimpleNamespace
    from lib.analysis import documents
    c = dict(value=0.02, low=-0.004, high=0.05, naive_low=0.005, naive_high=0.04, margin=0.02)
    glance = [{"a": "SM", "b": "TM", "claims": [SimpleNamespace(run="w", detail={"low_adjusted": -0.0138}, family="primary", **c),
                                                 SimpleNamespace(run="b", detail={}, family="descriptive", **c)]}]
    fig = documents.answers_forest(documents.forest_panels(glance))
    ax = fig.axes[0]
    ticks = [ln for ln in ax.lines if ln.get_marker() == "|"]
    assert [(float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in ticks] == [(-1.38, 1.0)]  # run w: top row
    assert [t.get_text() for t in ax.texts] == ["−1.38"]  # its value, printed beside it
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b\n(descriptive)", "w"]
    key = [t.get_text() for t in fig.legends[0].get_texts()]  # a visible key names every mark
    assert key == ["corrected 95% CI", "naive 95% CI", "mean A − B", "no difference", "margin ±2 accuracy",
                   "lower bound at its Holm step"]
    assert legibility.problems(fig) == []
    plt.close(fig)


def test_answers_figure_shades_a_margin_only_where_a_claim_has_one():
    """A difference question (no margin) is drawn without a band; sensitivity claims get a panel of their own,
    with their own margin; claims of one panel with different margins are an error."""
    from types import SimpleNamespace
    from lib.analysis import documents
    nan = float("nan")

    def claim(run, margin):
        return SimpleNamespace(run=run, value=0.01, low=-0.01, high=0.03, naive_low=0.0, naive_high=0.02,
                               margin=margin, detail={})
    glance = [{"a": "SM", "b": "TM", "claims": [claim("w", 0.02)], "sensitivity": [claim("w", 0.05)]},
              {"a": "SM", "b": "SM_scratch", "claims": [claim("w", nan)]}]
    panels = documents.forest_panels(glance)
    assert [(q["a"], q["b"], q.get("metric", "accuracy")) for q in panels] == [
        ("SM", "TM", "accuracy"), ("SM", "TM", "sensitivity"), ("SM", "SM_scratch", "accuracy")]
    fig = documents.answers_forest(panels)
    bands = [len(ax.patches) for ax in fig.axes[:3]]
    assert bands == [1, 1, 0]
    assert [ax.get_title() for ax in fig.axes[:3]] == ["SM − TM", "SM − TM, sensitivity", "SM − SM_scratch"]
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "margin ±2 accuracy, ±5 sensitivity"
    assert legibility.problems(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="different margins"):
        documents.answers_forest([{"a": "A", "b": "B", "claims": [claim("w", 0.02), claim("b", 0.05)]}])


def test_report_rc_restores_only_its_own_settings():
    """The inline backend turns ``interactive`` on when it loads with a notebook's first figure, inside the
    context: it must stay on after it, or no later figure of the notebook is shown."""
    before = dict(matplotlib.rcParams)
    was = matplotlib.rcParams["interactive"]
    try:
        with plots.report_rc():
            assert matplotlib.rcParams["figure.dpi"] == plots.REPORT_DPI
            assert matplotlib.rcParams["xtick.labelsize"] == plots.MIN_FONT_PT
            matplotlib.rcParams["interactive"] = not was  # what loading the backend does
        assert matplotlib.rcParams["interactive"] == (not was)
        after = dict(matplotlib.rcParams)
        assert {k for k in before if before[k] != after[k]} == {"interactive"}
    finally:
        matplotlib.rcParams["interactive"] = was


def test_checker_counts_superscripts_at_their_drawn_size():
    fig, ax = plots.report_figure(height=3)
    ax.set_xscale("log"); ax.set_xlim(1, 1e6)  # ticks 10^0 .. 10^6: 10-pt labels with 7-pt exponents
    with plots.report_rc():
        ax.tick_params(labelsize=plots.MIN_FONT_PT)
    found = legibility.problems(fig)
    assert any("too small" in p and "10^" in p for p in found), found
    plots.plain_log_ticks(ax.xaxis)
    assert legibility.problems(fig) == []
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "100" in labels and "10k" in labels and not any("$" in t for t in labels), labels
    plt.close(fig)


def _shows_its_figures(nb_path):
    """Cells of an executed notebook that save a figure unconditionally (a top-level ``plots.save``) but show no
    image."""
    import json
    nb = json.loads(nb_path.read_text())
    return [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            and any(line.startswith("plots.save(") for line in "".join(c["source"]).splitlines())
            and not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]


def test_executed_notebooks_show_every_figure_they_save():
    executed = sorted(p for p in OUT.glob("*/[0-9]*.ipynb") if ".tmp." not in p.name and ".failed." not in p.name)
    missing = {str(p.relative_to(OUT)): cells for p in executed if (cells := _shows_its_figures(p))}
    assert missing == {}
