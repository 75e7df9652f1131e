"""Notebook 06's work: the host latency benchmark, the accuracy / size / latency trade-off and the deployable
artefacts.

- :func:`host_latency`: per model, the cold load, the first un-warmed call, warmed single-row invokes over
  repeats (with the range of their medians) and batched throughput (:func:`lib.device.pi_runner.bench`); the
  rows of ``outputs/<run>/latency.csv``.
- :func:`pareto_table` and :func:`plot_pareto`: the Pareto-optimal models in (accuracy, size) and (accuracy,
  latency) by :func:`lib.core.pareto.front`, the rule notebook 08's report uses (``pareto_06.csv`` and
  ``figures/06_pareto.png``).
- :func:`points`, :func:`thresholds` and :func:`write_deployables`: the int8 student (and the deployable model
  with its preprocessing inside, when small enough) of one split as a C array for TensorFlow Lite Micro, its
  input contract (with the operating point's threshold and calibration) and its ``.tflite`` file, in
  ``outputs/<run>/export/``.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from lib.core import operating, pareto, plots
from lib.core.decisions import load_decisions
from lib.device import pi_runner
from lib.data import datasets
from lib.compress import deploy, tflite

LATENCY_COLUMNS = ["run", "model", "batch", "n", "median_us", "p95_us", "load_ms", "host"]  # first in latency.csv
# (cost column, axis label, flag column of pareto_06.csv) of the trade-off figure's two panels
PARETO_PANELS = (("size_bytes", "TFLite file size (bytes, log)", "pareto_size"),
                 ("median_us", "median per-sample latency on this host (µs, log)", "pareto_latency"))
DEPLOYABLE = ("SM_INT8", "SM_DEPLOY")
INT8_UNITS = ("the split's preprocessed features (lib.data.preprocess, fitted on the split's training rows), "
              "not raw measurements")


# ------------------------------------------------------------------------------------------------ latency
def host_latency(models: dict, X: np.ndarray, *, run: str, host: str, calls: int, warmup: int, repeats: int,
                 batch: int) -> pd.DataFrame:
    """Benchmark each model (``{name: tflite bytes}``) on the rows ``X`` on this host, printing one line per model;
    two rows per model: batch 1 (median and 95th percentile over ``repeats`` x ``calls`` warmed single-row
    invokes, the range of the medians and 95th percentiles over repeats) and batch ``batch`` (over every
    batched invoke, with the range of the per-repeat medians), with the cold load and first call of each."""
    rows = []
    for name, content in models.items():
        b = pi_runner.bench(content, X, calls=calls, warmup=warmup, repeats=repeats, batch=batch)
        common = {"run": run, "model": name, "load_ms": b["load_ms"], "host": host, "first_call_us": b["first_us"]}
        rows.append({**common, "batch": 1, "n": b["n_calls"], "median_us": b["median_us"], "p95_us": b["p95_us"],
                     "median_us_min": b["median_us_min"], "median_us_max": b["median_us_max"],
                     "p95_us_min": b["p95_us_min"], "p95_us_max": b["p95_us_max"],
                     "throughput_sps": 1e6 / b["median_us"]})
        flat = np.concatenate([np.asarray(v) for v in b["batch_latencies_us"]])
        per_rep = [float(np.median(v)) for v in b["batch_latencies_us"]]
        rows.append({**common, "batch": batch, "n": len(flat), "median_us": float(np.median(flat)),
                     "p95_us": float(np.percentile(flat, 95)), "median_us_min": min(per_rep),
                     "median_us_max": max(per_rep), "throughput_sps": b["throughput_sps"]})
        print(f"{name:13s} load {b['load_ms']:7.2f} ms | first call {b['first_us']:8.1f} us | median {b['median_us']:7.1f} us "
              f"(repeats {b['median_us_min']:.1f}-{b['median_us_max']:.1f}) | p95 {b['p95_us']:7.1f} us | "
              f"{b['throughput_sps']:,.0f} samples/s at batch {batch}")
    latency = pd.DataFrame(rows)
    return latency[LATENCY_COLUMNS + [c for c in latency.columns if c not in LATENCY_COLUMNS]]


# ------------------------------------------------------------------------------------------------ trade-off
def pareto_table(summary: pd.DataFrame, one: pd.DataFrame) -> pd.DataFrame:
    """``summary`` (one row per model, indexed by model: accuracy, ci_low, ci_high, size_bytes, ...) with the
    batch-1 ``median_us`` of ``one`` (the latency rows of batch 1, indexed by model) and the flags
    ``pareto_size`` and ``pareto_latency`` of :func:`lib.core.pareto.front` (latency: from ``one``'s range of
    medians over repeats, ``median_us_min``/``median_us_max``, which the table itself does not keep, widened as
    ``params/report/decisions.yaml``'s ``latency_tie`` says)."""
    t = summary.join(one[["median_us"]])
    on_size, on_latency = pareto.front_flags(t.join(one[list(pareto.LATENCY_RANGE)]), load_decisions().latency_tie)
    return t.assign(pareto_size=on_size, pareto_latency=on_latency)


@plots.report_style
def plot_pareto(table: pd.DataFrame, run: str):
    """Accuracy (mean, uncorrected 95% CI over splits) against file size (top) and against median per-sample
    latency (bottom), log scales; the Pareto-optimal models of :func:`pareto_table` filled, joined by a step line
    on size (an exact cost, so the front is a staircase) and not on latency (a measurement: models within the
    host's measured noise tie, so the models not dominated need not form a staircase). Only major ticks are
    labelled (latency in plain numbers); the model names stand in a column right of each panel, spread apart
    (:func:`lib.core.plots.spread_labels`)."""
    fig, axes = plots.report_figure(2, 1, height=7.0)
    fig.get_layout_engine().set(h_pad=0.1, hspace=0.06)
    for ax, (cost, label, flag) in zip(axes, PARETO_PANELS):
        on = table[flag]
        for name, r in table.iterrows():
            ax.errorbar(r[cost], r.accuracy, yerr=[[r.accuracy - r.ci_low], [r.ci_high - r.accuracy]], fmt="o",
                        mfc="C3" if on[name] else "white", mec="C3" if on[name] else "C0", ecolor="0.7", ms=6)
        if cost != pareto.LATENCY:
            f = table[on].sort_values(cost)
            ax.step(f[cost], f.accuracy, where="post", color="C3", alpha=0.4)
        ax.set_xscale("log"); ax.set_xlabel(label)
        lo, hi = table[cost].min(), table[cost].max()
        ax.set_xlim(lo / 1.6, hi * 1.6)
        if hi / lo < 100:  # up to two decades: ticks at 1, 2, 5 x 10^k, plain numbers
            ax.xaxis.set_major_locator(mticker.LogLocator(subs=(1, 2, 5)))
            ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(mticker.NullFormatter())
        else:  # more: powers of ten only
            plots.plain_log_ticks(ax.xaxis)
        ax.set_ylabel("test accuracy (mean,\nuncorrected 95% CI)")
    axes[0].set_title("filled, joined: Pareto-optimal")
    axes[1].set_title("filled: not dominated (within the\nmeasured noise, latencies tie)")
    fig.suptitle(f"{run}: accuracy vs size and latency")
    for ax, (cost, _, _) in zip(axes, PARETO_PANELS):  # once the panels stand where they end up
        plots.spread_labels(ax, table[cost].to_numpy(), table.accuracy.to_numpy(), list(table.index))
    return fig


# ------------------------------------------------------------------------------------------------ artefacts
def points(res: pd.DataFrame) -> dict:
    """``{(split, model): operating point}`` of the deployable models (:data:`DEPLOYABLE`): each one's threshold
    and Platt calibration per split from the results (:func:`lib.core.operating.point_of`), None where it has
    none."""
    rows = res[res.model.isin(DEPLOYABLE)]
    return {(r["fold"], r["model"]): operating.point_of(r) for r in rows.to_dict("records")}


def thresholds(res: pd.DataFrame) -> dict:
    """``{(split, model): threshold}`` of the deployable models (:func:`points`), None where it has none."""
    return {k: None if p is None else p.threshold for k, p in points(res).items()}


def write_deployables(P, ds, split_id: str, int8: bytes, operating_points: dict, out: Path, max_bytes: int) -> dict:
    """Write the deployable models of split ``split_id`` to ``out`` (created if missing), printing one line each:
    SM_INT8 (``int8``: its TFLite bytes) as ``sm_int8``, and SM_DEPLOY (notebook 05's file, if any) as
    ``sm_deploy`` unless it is over ``max_bytes`` (then it stays in ``outputs/<run>/models/``). Each as
    ``<symbol>_model.h`` (a C array for TensorFlow Lite Micro), ``<symbol>.json`` (its input contract, with the
    operating point of ``operating_points``, :func:`points`: threshold and calibration) and ``<symbol>.tflite``.
    Returns ``{symbol: model name}``."""
    out = Path(out)
    out.mkdir(exist_ok=True)
    op = {m: operating_points.get((split_id, m)) for m in DEPLOYABLE}
    exports = {"sm_int8": ("SM_INT8", int8, None, INT8_UNITS)}
    deploy_bytes = (len(tflite.load(P.run, "SM_DEPLOY", split_id))
                    if tflite.model_file(P.run, "SM_DEPLOY", split_id).exists() else None)
    if deploy_bytes is not None and deploy_bytes > max_bytes:  # pbcnt: a 1926 x 60 float map
        print(f"SM_DEPLOY of split {split_id} is {deploy_bytes:,} bytes (its float preprocessing map holds {len(ds.feature_names):,} "
              f"raw features): over export_max_bytes, not exported; it stays in outputs/{P.run}/models/")
    elif deploy_bytes is not None:
        exports["sm_deploy"] = ("SM_DEPLOY", tflite.load(P.run, "SM_DEPLOY", split_id), ds.feature_names,
                                datasets.units_of(P, ds))
    for symbol, (name, content, features, units) in exports.items():
        point = op[name]
        spec = deploy.contract(content, model=name, run=P.run, split=split_id, features=features, units=units,
                               threshold=None if point is None else point.threshold,
                               labels=datasets.contract_labels(P), id_column=P.id_column,
                               calibration=None if point is None else (point.cal_a, point.cal_b))
        comment = [f"{name} of run {P.run}, split {split_id}: {len(content)} bytes, {spec['input']['dtype']} input / "
                   f"{spec['output_tensor']['dtype']} output.",
                   f"C++ (TensorFlow Lite Micro): tflite::GetModel({symbol}_model). Input contract: {symbol}.json.",
                   f"Decision: {spec.get('decision_int8', spec['decision'])}"]
        if "calibration" in spec:
            c = spec["calibration"]
            sign = "+" if c["b"] >= 0 else "-"
            comment.append(f"Calibrated probability: sigmoid({c['a']:.6g} * logit(p) {sign} {abs(c['b']):.6g}), "
                           f"p = the raw p1 / (p0 + p1) (Platt, {c['fitted_on']}); the decision uses the raw p.")
        (out / f"{symbol}_model.h").write_text(deploy.c_array(content, f"{symbol}_model", comment))
        (out / f"{symbol}.json").write_text(json.dumps(spec, indent=2) + "\n")
        (out / f"{symbol}.tflite").write_bytes(content)  # what python -m lib.device.classify and a Pi load
        print(f"{symbol}_model.h: {name}, {len(content):,} bytes; input {spec['input']['dtype']} {tuple(spec['input']['shape'])}; "
              f"{spec.get('decision_int8', spec['decision'])}")
    return {symbol: v[0] for symbol, v in exports.items()}
