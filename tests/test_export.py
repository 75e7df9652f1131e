"""lib.compress.export (notebook 06): the host latency rows (from a stand-in benchmark and from a real one on the
committed int8 student), the trade-off table and figure by lib.core.pareto's rule, and the deployable artefacts,
rebuilt from the committed models of run wdbc: the same bytes and the lines notebook 06 printed."""
import shutil

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest

from lib.core import decisions, pareto, params, paths, plots
from lib.data import datasets
from lib.compress import export, tflite

matplotlib.use("Agg")
EXPORT = paths.ROOT / "outputs" / "wdbc" / "export"  # notebook 06's committed export of run wdbc, split r0f0


# ------------------------------------------------------------------------------------------------ latency
def _fake_bench(content, X, calls, warmup, repeats, batch):
    k = len(content)
    return {"load_ms": 0.5 * k, "first_us": 10.0 * k, "n_calls": calls * repeats, "median_us": 2.0 * k,
            "p95_us": 3.0 * k, "median_us_min": 1.5 * k, "median_us_max": 2.5 * k, "p95_us_min": 2.8 * k,
            "p95_us_max": 3.2 * k, "throughput_sps": 1000.0 / k,
            "batch_latencies_us": [[10.0 * k, 20.0 * k], [30.0 * k, 40.0 * k, 50.0 * k]]}


def test_host_latency_rows_and_printed_lines(monkeypatch, capsys):
    monkeypatch.setattr(export.pi_runner, "bench", _fake_bench)
    lat = export.host_latency({"A": b"x", "BB": b"yy"}, np.zeros((3, 4, 1), np.float32), run="r", host="h", calls=10,
                              warmup=1, repeats=2, batch=8)
    assert list(lat.columns) == ["run", "model", "batch", "n", "median_us", "p95_us", "load_ms", "host", "first_call_us",
                                 "median_us_min", "median_us_max", "p95_us_min", "p95_us_max", "throughput_sps"]
    assert lat[["model", "batch"]].values.tolist() == [["A", 1], ["A", 8], ["BB", 1], ["BB", 8]]
    a1, a8 = lat.iloc[0], lat.iloc[1]
    assert a1.n == 20 and a1.median_us == 2.0 and a1.throughput_sps == 1e6 / 2.0 and a1.p95_us_max == 3.2
    # batch rows: over every batched invoke, with the range of the per-repeat medians
    assert a8.n == 5 and a8.median_us == 30.0 and a8.median_us_min == 15.0 and a8.median_us_max == 40.0
    assert a8.p95_us == pytest.approx(np.percentile([10, 20, 30, 40, 50], 95)) and np.isnan(a8.p95_us_min)
    assert a8.throughput_sps == 1000.0 and a8.first_call_us == 10.0 and a8.host == "h"
    assert capsys.readouterr().out.splitlines()[0] == (
        "A             load    0.50 ms | first call     10.0 us | median     2.0 us (repeats 1.5-2.5) | p95     3.0 us | "
        "1,000 samples/s at batch 8")


def test_host_latency_times_a_real_model():
    content = (EXPORT / "sm_int8.tflite").read_bytes()
    X = np.random.default_rng(0).normal(size=(6, 26, 1)).astype(np.float32)
    lat = export.host_latency({"SM_INT8": content}, X, run="r", host="h", calls=5, warmup=1, repeats=2, batch=4)
    one = lat[lat.batch == 1].iloc[0]
    assert len(lat) == 2 and one.n == 10 and one.median_us_min <= one.median_us <= one.median_us_max
    assert lat[lat.batch == 4].n.iloc[0] == 2 * 2  # timed invokes of 4 rows: ceil(5 / 4) per repeat


# ------------------------------------------------------------------------------------------------ trade-off
def _summary():
    s = pd.DataFrame({"model": ["SM", "SM_INT8", "SM_scratch", "TM"], "accuracy": [0.960, 0.955, 0.970, 0.930],
                      "ci_low": [0.95, 0.94, 0.96, 0.92], "ci_high": [0.97, 0.97, 0.98, 0.94], "params": [518, 518, 518, 9],
                      "size_bytes": [5804.0, 2688.0, 6276.0, 2994616.0], "gzip_bytes": [3217.8, 1363.0, 3241.6, 2743919.5],
                      "agreement_with_keras": [1.0, 0.99, 1.0, 1.0]}).set_index("model")
    one = pd.DataFrame({"model": ["SM", "SM_INT8", "SM_scratch", "TM"], "median_us": [3.4, 3.1, 3.2, 64.7],
                        "median_us_min": [3.3, 3.0, 2.0, 63.0], "median_us_max": [3.5, 3.2, 3.3, 66.0],
                        "p95_us": 1.0}).set_index("model")
    return s, one


def test_pareto_table_uses_the_latency_ranges(scratch_outputs):
    s, one = _summary()
    t = export.pareto_table(s, one)
    assert list(t.columns) == list(s.columns) + ["median_us", "pareto_size", "pareto_latency"]  # pareto_06.csv's
    assert t.index[t.pareto_size].tolist() == ["SM", "SM_INT8", "SM_scratch"]
    # SM's range of medians (3.3-3.5) overlaps SM_scratch's (2.0-3.3): a tie, though SM_scratch's median is lower
    assert t.index[t.pareto_latency].tolist() == ["SM", "SM_INT8", "SM_scratch"]
    # ranges that no longer overlap: the decisions' rule (params/report/decisions.yaml) widens them by the spread of
    # one network (SM, SM_scratch), so the same network trained twice is still a tie, as the report says
    apart = export.pareto_table(s, one.assign(median_us_min=[3.4, 3.0, 2.0, 63.0]))
    assert "widened" in decisions.load_decisions().latency_tie
    assert apart.index[apart.pareto_latency].tolist() == ["SM", "SM_INT8", "SM_scratch"]
    assert pareto.front(apart.join(one.assign(median_us_min=[3.4, 3.0, 2.0, 63.0])[["median_us_min", "median_us_max"]]),
                        "median_us") == ["SM_INT8", "SM_scratch"]  # the ranges alone would drop SM
    assert apart.drop(columns="pareto_latency").equals(t.drop(columns="pareto_latency"))
    fig = export.plot_pareto(t, "tiny")
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"] and "tiny" in fig._suptitle.get_text()
    path = plots.save(fig, "tiny", "06_pareto")
    assert path == scratch_outputs / "tiny" / "figures" / "06_pareto.png" and path.stat().st_size > 0


# ------------------------------------------------------------------------------------------------ artefacts
def test_thresholds_of_the_deployable_models():
    res = pd.DataFrame({"fold": ["a", "a", "b", "a"], "model": ["SM_INT8", "SM_DEPLOY", "SM_INT8", "SM"],
                        "op_threshold": [0.4, np.nan, 0.5, 0.3]})
    assert export.thresholds(res) == {("a", "SM_INT8"): 0.4, ("a", "SM_DEPLOY"): None, ("b", "SM_INT8"): 0.5}
    assert export.thresholds(res.drop(columns="op_threshold")) == {("a", "SM_INT8"): None, ("a", "SM_DEPLOY"): None,
                                                                   ("b", "SM_INT8"): None}


def test_write_deployables_rebuilds_the_committed_export(scratch_outputs, capsys):
    P = params.load("wdbc")
    ds = datasets.load(P)
    int8 = (EXPORT / "sm_int8.tflite").read_bytes()
    shutil.copy2(EXPORT / "sm_deploy.tflite", tflite.model_file(P.run, "SM_DEPLOY", "r0f0"))  # notebook 05's file
    committed = paths.ROOT / "outputs" / "wdbc"
    res = pd.concat([pd.read_csv(committed / f"results_{k}.csv") for k in ("02", "03", "04", "05", "06")])
    out = scratch_outputs / "wdbc" / "export"
    assert export.write_deployables(P, ds, "r0f0", int8, export.points(res), out, 65536) == {
        "sm_int8": "SM_INT8", "sm_deploy": "SM_DEPLOY"}
    # what notebook 06 printed (outputs/wdbc/06_tflite_export.ipynb) and wrote
    printed = [line for cell in nbformat.read(committed / "06_tflite_export.ipynb", as_version=4).cells
               for out in cell.get("outputs", []) for line in out.get("text", "").splitlines()
               if line.startswith(("sm_int8_model.h:", "sm_deploy_model.h:"))]
    assert len(printed) == 2 and capsys.readouterr().out.splitlines() == printed
    for symbol in ("sm_int8", "sm_deploy"):
        assert (out / f"{symbol}.tflite").read_bytes() == (EXPORT / f"{symbol}.tflite").read_bytes()
        assert (out / f"{symbol}_model.h").read_text() == (EXPORT / f"{symbol}_model.h").read_text()
        assert (out / f"{symbol}.json").read_text() == (EXPORT / f"{symbol}.json").read_text()
    # over the size limit: not exported, and said so
    again = export.write_deployables(P, ds, "r0f0", int8, {}, scratch_outputs / "small", 4096)
    assert again == {"sm_int8": "SM_INT8"} and "over export_max_bytes, not exported" in capsys.readouterr().out
    assert not (scratch_outputs / "small" / "sm_deploy.json").exists()
