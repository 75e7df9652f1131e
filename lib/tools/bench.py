"""The study's run time as a benchmark: what each notebook costs, and how far the teacher is from its floor.

``python -m lib.tools.bench`` (``make bench``) has three parts:

1. **Machine throughput**: a float32 matrix product in TensorFlow (the kernels training uses), with warm-up and
   many timed repeats; GFLOP/s as median and interquartile range.
2. **The teacher against its floor**: the FLOPs of one training epoch of the reference teacher, counted from its
   layers (:func:`forward_flops`; one training step costs about three forward passes: forward, and the two
   products of back-propagation), divided by that throughput, beside the measured seconds per epoch
   (median over splits of notebook 02's ``train_time_s`` over the epochs each teacher trained; from the notebooks just executed with
   ``--execute``, else from ``outputs/``). The ratio says how much of the teacher's time is
   arithmetic and how much is everything else (per-step Python, graph building, small kernels).
3. **Notebook wall times**: with ``--execute``, each notebook of the named runs is executed with papermill into
   a scratch outputs tree (``lib.tools.recheck.chain``) and timed; without it, the times are read from the papermill
   metadata of the executed notebooks already in ``outputs/``. A notebook takes minutes, so each is executed
   once (``--repeats`` to do more); the spread comes from the repeats when there are several.
4. **Fixed costs of the fast profile** (what it pays however few its epochs; a lower bound, not a floor): per
   notebook, start-up, imports and set-up (:func:`fixed_seconds`: the notebook's time outside its cells plus its
   first cell that imports ``lib``, which also loads the run's params, data and splits); per model, one TFLite
   conversion (:func:`conversion_time`: the reference teacher and student converted to float, warm-up and
   timed repeats, median and IQR; int8 conversions also calibrate, so they cost more), times the TFLite models
   the runs evaluated (:func:`saved_conversions`, the ``tflite`` rows of ``results.csv`` by model size; out-of-fold
   and size-only conversions are not saved and come on top).

``--teacher-bank`` times only the teacher bank (:mod:`lib.train.teacher_bank`, K teachers side by side) against
the Keras teacher trained alone, with the same floor (:func:`teacher_bank`), into ``outputs/bench/teacher_bank.md``.

Writes ``outputs/bench/bench.csv`` (one row per measurement) and ``outputs/bench/bench.md``, and prints the
tables. Times are measurements of the moment on this machine: no test compares them. A notebook that fails stops
the benchmark with its name; the scratch tree is then kept (its path is printed) and nothing is written.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lib.core import formatting, optional, params, paths
from lib.core.formatting import md_table
from lib.data import datasets
from lib.compress import tflite
from lib.analysis import runs as runs_mod
from lib.tools import recheck

# The chain of an ordinary run, in order; the cross-dataset run has its own notebook, 08 reads every run.
CHAIN = ("01_data_exploration", "02_teacher", "03_distillation", "04_pruning", "05_quantization",
         "06_tflite_export", "06b_seed_replicates", "07_pi_measurements")
TRAIN_PASSES = 3  # one training step = forward + backward (input and weight gradients): about 3 forward passes


class BenchError(ValueError):
    """A run, notebook or output the benchmark needs is missing; the message names it."""


# ------------------------------------------------------------------------------------------------ FLOPs
def layer_flops(layer) -> int:
    """FLOPs of one sample through ``layer`` (a multiply-add counts 2), from its configuration and shapes.

    Conv1D: 2 * out_steps * kernel * in_channels * filters (+ bias); Dense: 2 * inputs * units (+ bias);
    BatchNormalization at inference: 2 per element; activations, dropout, flatten: ignored (memory-bound and
    below 1% here)."""
    kind = type(layer).__name__
    out_shape = layer.output_shape
    if kind == "Conv1D":
        steps, filters = out_shape[1], out_shape[2]
        in_channels = layer.input_shape[-1]
        k = layer.kernel_size[0]
        return int(2 * steps * k * in_channels * filters + (steps * filters if layer.use_bias else 0))
    if kind == "Dense":
        n_in, units = layer.input_shape[-1], layer.units
        return int(2 * n_in * units + (units if layer.use_bias else 0))
    if kind == "BatchNormalization":
        return int(2 * np.prod([d for d in out_shape[1:]]))
    return 0


def forward_flops(model) -> int:
    """FLOPs of one sample's forward pass through ``model`` (sum of :func:`layer_flops`)."""
    return int(sum(layer_flops(layer) for layer in model.layers))


def training_flops(model, n_rows: int, epochs: int) -> int:
    """FLOPs of ``epochs`` of training on ``n_rows`` rows: about :data:`TRAIN_PASSES` forward passes a row."""
    return int(TRAIN_PASSES * forward_flops(model) * n_rows * epochs)


# ------------------------------------------------------------------------------------------------ throughput
def timed_calls(fn, warmup: int, repeats: int) -> np.ndarray:
    """Seconds of ``repeats`` timed calls of ``fn()`` after ``warmup`` untimed ones (a benchmark, not a test)."""
    for _ in range(warmup):
        fn()
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t0)
    return np.asarray(secs)


def matmul_throughput(n: int = 512, warmup: int = 5, repeats: int = 50) -> dict:
    """GFLOP/s of an ``n x n`` float32 matrix product in TensorFlow: median and quartiles over ``repeats`` timed
    calls after ``warmup`` untimed ones (a benchmark, not a test)."""
    import tensorflow as tf  # on use, as lib.train here: --timeline and the tests of this module run without it

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    secs = timed_calls(lambda: tf.linalg.matmul(a, b).numpy(), warmup, repeats)
    gflops = 2 * n ** 3 / secs / 1e9
    q1, med, q3 = np.percentile(gflops, [25, 50, 75])
    return {"n": n, "repeats": repeats, "warmup": warmup, "gflops_median": float(med), "gflops_q1": float(q1),
            "gflops_q3": float(q3), "threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "default")}


# ------------------------------------------------------------------------------------------------ teacher floor
def teacher_floor(run: str, gflops: float, outputs: Path | None = None) -> dict:
    """The reference teacher of ``run`` against its floor: FLOPs per epoch on one split's training rows, the floor
    in seconds at ``gflops``, and the measured seconds per epoch (median over the teachers, every split's in
    ``results_02.csv`` and every further training seed's in ``replicates.csv``, of TM's ``train_time_s`` over
    the epochs it trained: ``epochs_trained`` where early stopping ended it sooner, ``teacher_epochs``
    otherwise), read from ``outputs`` (default: the study's outputs tree)."""
    from lib.train import architectures  # TensorFlow on use: see matmul_throughput

    P = params.load(run)
    outputs = Path(outputs or paths.outputs_root())
    splits_file = outputs / run / "splits.json"
    res_file = outputs / run / "results_02.csv"
    for f in (splits_file, res_file):
        if not f.exists():
            raise BenchError(f"{f} not found: run notebooks 01-02 of run '{run}' first (make reproduce)")
    splits = json.loads(splits_file.read_text())["splits"]
    n_train = int(np.mean([len(s["train"]) for s in splits]))
    res = pd.read_csv(res_file)
    tm = res[(res.model == "TM") & res.train_time_s.notna()]
    rep_file = outputs / run / "replicates.csv"  # notebook 06b's teachers of the other training seeds
    if rep_file.exists():
        rep = pd.read_csv(rep_file)
        if len(rep):
            tm = pd.concat([tm, rep[(rep.model == "TM") & (rep.format == "keras") & rep.train_time_s.notna()]],
                           ignore_index=True)
    if tm.empty:
        raise BenchError(f"{res_file} has no TM row with train_time_s")
    n_features = P.pca_components or _n_features(P)
    teacher = architectures.build_teacher(n_features)
    per_epoch = training_flops(teacher, n_train, 1)
    floor_s = per_epoch / (gflops * 1e9)
    epochs = (tm["epochs_trained"].fillna(P.teacher_epochs) if "epochs_trained" in tm
              else pd.Series(P.teacher_epochs, index=tm.index)).astype(float)
    per_split = tm.train_time_s.astype(float) / epochs
    measured_s = float(per_split.median())
    return {"run": run, "n_features": n_features, "n_train": n_train, "teacher_params": int(teacher.count_params()),
            "forward_mflops_per_row": forward_flops(teacher) / 1e6, "gflops_per_epoch": per_epoch / 1e9,
            "floor_s_per_epoch": floor_s, "measured_s_per_epoch": measured_s,
            "measured_s_per_epoch_min": float(per_split.min()), "measured_s_per_epoch_max": float(per_split.max()),
            "times_floor": measured_s / floor_s, "epochs": float(epochs.median()), "splits": len(tm)}


def _n_features(P) -> int:
    return int(datasets.load(P).X.shape[1])


# ------------------------------------------------------------------------------------------------ notebooks
def _executed(outputs: Path, runs: list[str]):
    """``(run, notebook name, notebook dict, papermill metadata)`` of every executed notebook of ``runs`` under
    ``outputs`` whose duration papermill recorded, in run and notebook order (``.tmp`` / ``.failed`` left out)."""
    for run in runs:
        for nb in sorted((Path(outputs) / run).glob("[0-9]*.ipynb")):
            if nb.name.count(".") != 1:  # .tmp / .failed
                continue
            d = json.loads(nb.read_text())
            meta = d.get("metadata", {}).get("papermill", {})
            if meta.get("duration") is not None:
                yield run, nb.stem, d, meta


def recorded_times(outputs: Path, runs: list[str]) -> pd.DataFrame:
    """Wall time of every executed notebook of ``runs`` under ``outputs``, from papermill's metadata."""
    rows = [{"run": run, "notebook": name, "seconds": float(meta["duration"]), "repeat": 0, "source": "recorded",
             "fixed_seconds": fixed_seconds(d)} for run, name, d, meta in _executed(outputs, runs)]
    return pd.DataFrame(rows, columns=["run", "notebook", "seconds", "repeat", "source", "fixed_seconds"])


def timeline(outputs: Path, runs: list[str]) -> pd.DataFrame:
    """When each executed notebook of ``runs`` under ``outputs`` started and ended (papermill's metadata) and its
    minutes, by run and notebook: how a ``make -j2`` re-execution used its two slots (``--timeline``)."""
    rows = [{"run": run, "notebook": name, "start": meta.get("start_time"), "end": meta.get("end_time"),
             "minutes": round(float(meta["duration"]) / 60, 2)} for run, name, _, meta in _executed(outputs, runs)]
    df = pd.DataFrame(rows, columns=["run", "notebook", "start", "end", "minutes"])
    return df.sort_values(["run", "notebook"], ignore_index=True)


_IMPORTS_LIB = re.compile(r"^\s*(import|from)\s+lib\b", re.M)


def fixed_seconds(nb: dict) -> float:
    """Start-up, imports and set-up of an executed notebook (nbformat dict with papermill metadata): its duration
    outside every cell (kernel start-up, shut-down) plus its first code cell that imports ``lib`` (every study
    notebook imports there and loads its params, data and splits). NaN without the per-cell durations or without
    such a cell."""
    total = nb.get("metadata", {}).get("papermill", {}).get("duration")
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    durs = [c.get("metadata", {}).get("papermill", {}).get("duration") for c in cells]
    if total is None or not cells or any(d is None for d in durs):
        return float("nan")
    imports = next((d for c, d in zip(cells, durs) if _IMPORTS_LIB.search("".join(c.get("source", "")))), None)
    if imports is None:
        return float("nan")
    return float(total) - float(sum(durs)) + float(imports)


SIZES = ("teacher", "student")  # model sizes of the conversion benchmark: TM* models, everything else


def conversion_time(warmup: int = 2, repeats: int = 5) -> dict:
    """Seconds of one float TFLite conversion (:func:`lib.compress.tflite.convert`) of the reference teacher (748k
    parameters at 26 features) and of the reference student (518): for each, median and quartiles over
    ``repeats`` timed conversions after ``warmup`` untimed ones (a benchmark). The student's arithmetic is nil,
    so its time is what any conversion costs at least."""
    from lib.train import architectures  # TensorFlow on use: see matmul_throughput

    out = {}
    for size, build in zip(SIZES, (architectures.build_teacher, architectures.build_student)):
        model = build(26)
        secs = timed_calls(lambda m=model: tflite.convert(m, "float"), warmup, repeats)
        q1, med, q3 = np.percentile(secs, [25, 50, 75])
        out[size] = {"warmup": warmup, "repeats": repeats, "seconds_median": float(med), "seconds_q1": float(q1),
                     "seconds_q3": float(q3)}
    return out


def saved_conversions(outputs: Path, runs: list[str]) -> dict:
    """The TFLite models the runs converted, saved and evaluated, by size: the ``tflite`` rows of each run's
    ``results.csv`` whose model is the teacher or one of its variants (``TM*``) and the others (students). A run
    without results counts 0; conversions that are not saved (out-of-fold students, notebook 04's size-only
    teacher) come on top."""
    n = dict.fromkeys(SIZES, 0)
    for run in runs:
        f = Path(outputs) / run / "results.csv"
        if not f.exists():
            continue
        df = pd.read_csv(f)
        if not {"model", "format"} <= set(df.columns):
            raise BenchError(f"{f} has no 'model' and 'format' columns: not a results table")
        lite = df.loc[df["format"] == "tflite", "model"].astype(str)
        n["teacher"] += int(lite.str.startswith("TM").sum())
        n["student"] += int((~lite.str.startswith("TM")).sum())
    return n


def execute_times(runs: list[str], root: Path, repeats: int = 1) -> pd.DataFrame:
    """Execute each run's notebooks in order into the outputs tree ``root``, ``repeats`` times, and time each one
    (papermill's recorded duration of the notebook; its clock starts before the kernel, so start-up is
    included). A failing notebook raises :class:`BenchError` naming it; ``root`` is left as it is for inspection."""
    rows = []
    for rep in range(repeats):
        for run in runs:
            nbs = ("03b_cross_dataset",) if runs_mod.is_transfer(run) else CHAIN
            t0 = time.perf_counter()
            try:
                recheck.chain(run, root, nbs)
            except Exception as e:  # papermill's PapermillExecutionError names the cell
                raise BenchError(f"run '{run}' failed in {root / run} ({type(e).__name__}: {str(e)[:300]})") from e
            print(f"   {run}: {time.perf_counter() - t0:.0f} s", flush=True)
            df = recorded_times(root, [run])
            df["repeat"], df["source"] = rep, "executed"
            rows.append(df)
    return pd.concat(rows, ignore_index=True) if rows else recorded_times(root, [])


def per_notebook_table(times: pd.DataFrame) -> pd.DataFrame:
    """Runs x notebooks, minutes (median over repeats), with a total per run."""
    if times.empty:
        return pd.DataFrame()
    med = times.groupby(["run", "notebook"])["seconds"].median().unstack("notebook") / 60
    med["total"] = med.sum(axis=1)
    return med.round(2)


# ------------------------------------------------------------------------------------------------ teacher bank
def teacher_bank(sizes=(1, 6, 30), epochs: int = 5, repeats: int = 3, n_train: int = 386, n_val: int = 68,
                 n_features: int = 26) -> str:
    """``--teacher-bank``: seconds per teacher-epoch of K teachers trained in the bank against the Keras teacher
    trained alone (:func:`lib.train.fitting.train_teacher`), on WDBC-sized synthetic rows with the rigorous WDBC
    settings (class weights, BatchNorm recompute and validation after every epoch, patience beyond ``epochs`` so
    that all train ``epochs``), each timed over ``repeats`` calls after one warm-up call (which traces the bank's
    graph). A bank of K = 6 is one seed's teacher and its five out-of-fold copies (each on 4/5 of the rows), K = 30 five
    seeds of those. The floor is that of :func:`teacher_floor`: about three forward passes per real training row
    at the float32 matrix-product throughput measured here; the per-epoch BatchNorm recompute (one forward pass
    of the training rows) and validation come on top for both. Returns the markdown report (a measurement)."""
    from types import SimpleNamespace

    from lib.train import architectures, fitting
    from lib.train.teacher_bank import Member, train

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_train + n_val, n_features)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) + rng.standard_normal(len(X)) > 0.5).astype(int)
    X3 = X[..., None]
    P = SimpleNamespace(teacher_lr=1e-4, teacher_epochs=epochs, teacher_patience=epochs + 5, batch_size=32,
                        class_weight="balanced", bn_recompute=True)
    prep = SimpleNamespace(X_train=X3[:n_train], y_train=y[:n_train], X_val=X3[n_train:], y_val=y[n_train:],
                           n_features=n_features)
    folds = np.arange(n_train) % 5

    def members(k: int) -> list[Member]:
        out = []
        for seed in range(max(1, k // 6)):
            out.append(Member(f"TM{seed}", seed))
            out += [Member(f"TM{seed}_oof{f}", seed, rows=np.flatnonzero(folds != f)) for f in range(5)][:k - 1]
        return out

    mm = matmul_throughput()
    flops_row = TRAIN_PASSES * forward_flops(architectures.build_teacher(n_features))
    rows = []

    def record(what, k, n_rows, secs):
        floor = flops_row * n_rows * epochs / (mm["gflops_median"] * 1e9)
        per = secs / (k * epochs)
        q1, med, q3 = np.percentile(per, [25, 50, 75])
        rows.append({"trained": what, "K": k, "real rows per epoch": n_rows,
                     "s per teacher-epoch, median (IQR)": f"{med:.4f} ({q1:.4f}-{q3:.4f})",
                     "s per call, median": f"{np.median(secs):.2f}", "x floor": f"{np.median(secs) / floor:.1f}"})
        print(rows[-1], flush=True)

    secs = timed_calls(lambda: fitting.train_teacher(P, prep, seed=0), 1, repeats)
    record("Keras alone (train_teacher)", 1, n_train, secs)
    for k in sizes:
        ms = members(k)
        n_rows = sum(n_train if m.rows is None else len(m.rows) for m in ms)
        secs = timed_calls(lambda: train(P, ms, prep.X_train, prep.y_train, prep.X_val, prep.y_val), 1, repeats)
        record("bank", k, n_rows, secs)
    keras_per = float(rows[0]["s per teacher-epoch, median (IQR)"].split()[0])
    for r in rows:
        r["speed-up vs Keras"] = f"{keras_per / float(r['s per teacher-epoch, median (IQR)'].split()[0]):.1f}"
    m = machine()
    load = os.getloadavg()
    return "\n".join([
        f"# Teacher bank benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {m['cores']} cores, {m['processor']}, "
        f"TensorFlow intra-op threads {mm['threads']})", "",
        "`python -m lib.tools.bench --teacher-bank` (a measurement of the moment, no test compares it). WDBC-sized "
        f"synthetic rows: {n_train} training, {n_val} validation, {n_features} features; the rigorous WDBC "
        f"settings (batch 32, Adam 1e-4, class weights, BatchNorm recompute and validation after every epoch), "
        f"{epochs} epochs (no early stop), dropout on. Each time: {repeats} calls after one warm-up call, wall "
        "clock of the whole call (Keras: build, compile and fit; bank: initial weights from Keras and training). "
        "K = 6: one seed's teacher and its five out-of-fold copies (4/5 of the rows each); K = 30: five seeds of "
        "those. Floor: about 3 forward passes per real training row "
        f"({forward_flops(architectures.build_teacher(n_features)) / 1e6:.2f} MFLOP each) at the float32 "
        f"{mm['n']}x{mm['n']} matrix-product throughput measured in the same process, median "
        f"{mm['gflops_median']:.1f} GFLOP/s (IQR {mm['gflops_q1']:.1f}-{mm['gflops_q3']:.1f}); the per-epoch "
        "recompute and validation (about 1.2 more passes) are not in the floor, for either.", "",
        f"Load average during the run: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min): the machine was shared.", "",
        md_table(pd.DataFrame(rows)), ""])


# ------------------------------------------------------------------------------------------------ main
def machine() -> dict:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version()}


def markdown(mm: dict, floors: list[dict], times: pd.DataFrame, conv: dict | None = None,
             n_converted: dict | None = None) -> str:
    m = machine()
    lines = [f"# Benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {m['cores']} cores, {m['processor']})", "",
             f"float32 {mm['n']}x{mm['n']} matrix product in TensorFlow, {mm['warmup']} warm-up + {mm['repeats']} "
             f"timed calls, intra-op threads {mm['threads']}: median {mm['gflops_median']:.1f} GFLOP/s "
             f"(IQR {mm['gflops_q1']:.1f}-{mm['gflops_q3']:.1f}).", ""]
    if floors:
        df = pd.DataFrame([{
            "run": f["run"], "features": f["n_features"], "training rows": f["n_train"],
            "MFLOP per row (forward)": f"{f['forward_mflops_per_row']:.2f}",
            "GFLOP per epoch": f"{f['gflops_per_epoch']:.2f}", "floor s/epoch": f"{f['floor_s_per_epoch']:.3f}",
            "measured s/epoch (min-max)": f"{f['measured_s_per_epoch']:.3f} ({f['measured_s_per_epoch_min']:.3f}-"
                                          f"{f['measured_s_per_epoch_max']:.3f})",
            "x floor": f"{f['times_floor']:.1f}"} for f in floors])
        lines += ["## The teacher against its floor", "",
                  f"One training epoch costs about {TRAIN_PASSES} forward passes per training row; the floor is those "
                  "FLOPs at the measured throughput. Measured: median over splits of notebook 02's `train_time_s` / "
                  "the epochs the teacher trained (`epochs_trained` where early stopping ended it, else "
                  "`teacher_epochs`); it includes the first epoch's graph tracing and the BatchNorm recomputation, "
                  "which weigh more in a teacher stopped early.", "", md_table(df), ""]
    table = per_notebook_table(times)
    if not table.empty:
        src = ", ".join(sorted(set(times.source)))
        reps = int(times.repeat.max()) + 1
        fast = [r for r in table.index if r.endswith("-fast")]
        full = [r for r in table.index if not r.endswith("-fast")]
        sums = [f"{', '.join(full)} {table.loc[full, 'total'].sum():.1f} min" if full else "",
                f"the fast profile's {len(fast)} runs {table.loc[fast, 'total'].sum():.1f} min" if fast else ""]
        lines += [f"## Notebook wall times (minutes; {src}, {reps} repeat(s), median)", "",
                  md_table(table.reset_index().map(lambda v: "" if isinstance(v, float) and np.isnan(v)
                                                   else f"{v:.2f}" if isinstance(v, float) else v)), "",
                  f"Added up: {'; '.join(x for x in sums if x)}.", ""]
        lines += fixed_cost_lines(times, table, conv, n_converted)
    return "\n".join(lines)


def fixed_cost_lines(times: pd.DataFrame, table: pd.DataFrame, conv: dict | None, n_converted: dict | None) -> list:
    """The fast profile's fixed costs against its total (markdown lines; none without fast runs)."""
    fast = times[times.run.str.endswith("-fast")]
    if fast.empty:
        return []
    total = table.loc[[r for r in table.index if r.endswith("-fast")], "total"].sum()
    per_nb = fast.groupby(["run", "notebook"])["fixed_seconds"].median()
    known = per_nb.dropna()
    rows = []
    if len(known):
        rows.append({"cost": f"start-up, imports and set-up cell, {len(known)} of {len(per_nb)} notebooks",
                     "each": f"{known.median():.1f} s (median; {known.min():.1f}-{known.max():.1f})",
                     "minutes": known.sum() / 60})
    for size in SIZES:
        n = (n_converted or {}).get(size, 0)
        if conv is not None and n:
            c = conv[size]
            rows.append({"cost": f"TFLite conversions of {size}-sized models, at least {n} (tflite rows of "
                                 "results.csv), at the float conversion's time",
                         "each": f"{c['seconds_median']:.2f} s (median of {c['repeats']}; IQR "
                                 f"{c['seconds_q1']:.2f}-{c['seconds_q3']:.2f})",
                         "minutes": n * c["seconds_median"] / 60})
    if not rows:
        return []
    fixed = sum(r["minutes"] for r in rows)
    rows.append({"cost": "together, at least", "each": "", "minutes": fixed})
    df = pd.DataFrame(rows)
    df["minutes"] = df["minutes"].map(lambda v: f"{v:.1f}")
    return ["## The fast profile's fixed costs", "",
            "What the fast profile pays however few its epochs: per notebook its start-up, imports and set-up (time "
            "outside the cells plus the first cell that imports `lib`), and one TFLite conversion per saved model "
            "(int8 conversions also calibrate, and unsaved conversions come on top, so these are lower bounds).", "",
            md_table(df), "", f"Of the fast profile's {total:.1f} min, at least {fixed:.1f} min ({fixed / total:.0%}) "
            "do not shrink with fewer epochs.", ""]


def default_runs() -> list[str]:
    """One full run (wdbc) and every fast run whose data are here (pbcnt-fast only with PBCNT)."""
    fast = [r for r in runs_mod.ordinary_runs() + runs_mod.transfer_runs() if r.endswith("-fast")]
    return ["wdbc"] + [r for r in fast if not r.startswith("pbcnt") or optional.available("pbcnt")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.tools.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="*", default=None,
                    help="runs whose notebooks are timed (default: wdbc and every fast run whose data are here)")
    ap.add_argument("--execute", action="store_true",
                    help="execute the notebooks into a scratch tree and time them (default: read the recorded times)")
    ap.add_argument("--repeats", type=int, default=1, help="executions of each notebook with --execute (default 1)")
    ap.add_argument("--floor-runs", nargs="*", default=None,
                    help="ordinary runs whose teacher is compared with its floor (default: the full runs timed, "
                         "else every full run with results)")
    ap.add_argument("--matmul-n", type=int, default=512)
    ap.add_argument("--out", type=Path, default=None, help="folder for bench.csv and bench.md (default outputs/bench)")
    ap.add_argument("--teacher-bank", action="store_true",
                    help="only time the teacher bank (lib.train.teacher_bank) against the Keras teacher trained alone, "
                         "write outputs/bench/teacher_bank.md (or into --out), and stop (a few minutes)")
    ap.add_argument("--timeline", type=Path, default=None, metavar="CSV",
                    help="only write when each recorded notebook of --runs (default: every run) started and ended, "
                         "with its minutes, to CSV (e.g. after a fresh-clone make -j2 reproduce), and stop")
    a = ap.parse_args(argv)
    known, ordinary = set(runs_mod.all_runs()), set(runs_mod.ordinary_runs())
    runs = a.runs if a.runs is not None else default_runs()
    if a.timeline is not None:
        known |= {"summary", "summary-fast"}  # notebook 08's folders: only a timeline reads them
    unknown = [r for r in runs if r not in known] + [r for r in (a.floor_runs or []) if r not in ordinary]
    if unknown:
        print(f"bench: unknown run(s) {', '.join(unknown)}; runs are the files of params/ ({', '.join(sorted(known))}),"
              f" and a teacher floor needs an ordinary run (not a cross-dataset one)", file=sys.stderr)
        return 2
    if a.repeats < 1:
        print("bench: --repeats must be at least 1", file=sys.stderr)
        return 2
    if a.timeline is not None:
        chosen = a.runs if a.runs is not None else sorted(known)
        df = timeline(paths.outputs_root(), chosen)
        formatting.write_csv(df, a.timeline)
        print(f"{len(df)} notebooks, {df.minutes.sum():.1f} min added up -> {a.timeline}")
        return 0
    outputs = paths.outputs_root()
    if a.teacher_bank:
        md = teacher_bank()
        out = a.out or (outputs / "bench")
        out.mkdir(parents=True, exist_ok=True)
        formatting.write_text(md, out / "teacher_bank.md")
        print(md)
        return 0
    print(">> matrix-product throughput", flush=True)
    mm = matmul_throughput(a.matmul_n)
    print(f"   {mm['gflops_median']:.1f} GFLOP/s (IQR {mm['gflops_q1']:.1f}-{mm['gflops_q3']:.1f})", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="kdbench.")) if a.execute else None
    try:
        if scratch is not None:
            print(f">> executing the notebooks of {', '.join(runs)} ({a.repeats} repeat(s)) in {scratch}", flush=True)
            times = execute_times(runs, scratch, a.repeats)
        else:
            times = recorded_times(outputs, runs)
        timed_full = [r for r in runs if r in ordinary and not r.endswith("-fast")]
        floor_runs = a.floor_runs if a.floor_runs is not None else (timed_full if scratch is not None else [
            r for r in sorted(ordinary) if not r.endswith("-fast") and (outputs / r / "results_02.csv").exists()])
        floors = [teacher_floor(r, mm["gflops_median"], scratch if scratch is not None and r in runs else outputs)
                  for r in floor_runs]
        fast_runs = [r for r in runs if r.endswith("-fast")]
        conv, n_converted = None, saved_conversions(scratch if scratch is not None else outputs, fast_runs)
        if fast_runs:
            print(">> one float TFLite conversion of the reference teacher and student", flush=True)
            conv = conversion_time()
            print("   " + "; ".join(f"{k} {v['seconds_median']:.2f} s (IQR {v['seconds_q1']:.2f}-{v['seconds_q3']:.2f})"
                                    for k, v in conv.items())
                  + f"; TFLite models evaluated in the fast runs: {n_converted}", flush=True)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        if scratch is not None:
            print(f"bench: the scratch tree is kept for inspection: {scratch}", file=sys.stderr)
        return 1
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    out = a.out or (outputs / "bench")
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"kind": "matmul", **mm, **machine()}] + [{"kind": "teacher_floor", **f} for f in floors] + \
        [{"kind": "notebook", **r} for r in times.to_dict("records")] + \
        ([{"kind": "conversion", "size": k, **v, "saved_conversions": n_converted[k]} for k, v in conv.items()]
         if conv is not None else [])
    md = markdown(mm, floors, times, conv, n_converted)
    formatting.write_csv(pd.DataFrame(rows), out / "bench.csv")
    formatting.write_text(md + "\n", out / "bench.md")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
