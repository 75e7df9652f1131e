"""Latency, throughput and system-load benchmark of TFLite models, for a Raspberry Pi 4B (runs anywhere).

The authors timed one un-warmed ``invoke`` per model with ``time.time()``. This runner times thousands of
warmed-up single-sample invokes with ``time.perf_counter_ns``, in several repeats, plus batched throughput,
while a background thread records CPU, memory, swap, SoC temperature and throttling.

It needs only NumPy, psutil and ``ai-edge-litert`` (or the legacy ``tflite-runtime``): it never imports
TensorFlow, pandas, scikit-learn or SciPy, so ``lib/__init__.py`` and the folder ``lib/device/`` are all a Pi needs
(see ``docs/pi.md``)::

    python -m lib.device.pi_runner BUNDLE_DIR --out OUT_DIR [--calls 1000] [--warmup 100] [--repeats 5] [--batch 32]
        [--threads 1] [--interval 0.5] [--device NAME] [--models NAME,NAME]

Bundle (written by :func:`write_bundle`, from notebook 06)
---------------------------------------------------------
``BUNDLE_DIR/manifest.json``::

    {"run": str, "split": str, "created_utc": str, "inputs": "inputs.npy", "labels": "labels.npy",
     "models": [{"name": str, "file": "<name>.tflite", "sha256": "<hex digest of the file>"}, ...]}

``BUNDLE_DIR/<name>.tflite`` the models; ``inputs.npy`` float32 (n, F, 1), test rows already preprocessed
(the model's float input; integer models quantize them with rounding and clipping, outside the timed region);
``labels.npy`` int (n,), 1 = malignant (the models' output column 1).

CSV (one file per session: ``OUT_DIR/pi_session_<hostname>_<UTC yyyymmddTHHMMSSZ>.csv``)
------------------------------------------------------------------------------------------
One row per event, written and flushed one at a time (a runner killed mid-way leaves a readable prefix whose
last line may be cut; ``lib.device.pilogs.parse_runner`` drops it). Empty cells where a column does not apply. Rows
are not strictly in time order (invoke rows are written after each repeat, monitor rows as they come): sort on
``t_rel_s``.

=============== ===========================================================================================
session         ``<hostname>_<UTC yyyymmddTHHMMSSZ>``, the same in every row of a file
device          ``--device``, else ``/proc/device-tree/model`` (e.g. "Raspberry Pi 4 Model B Rev 1.4"),
                else the host name
os              ``platform.platform()``
machine         ``platform.machine()`` (``aarch64`` on 64-bit Raspberry Pi OS)
python          Python version
runtime         ``ai-edge-litert`` or ``tflite-runtime``
runtime_version its package version
threads         interpreter threads (``--threads``)
run, split      from the bundle's manifest
model           model name (on monitor rows: the model being benchmarked at that moment, empty between)
model_sha256    sha256 of the .tflite file
event           ``load`` | ``accuracy`` | ``invoke`` | ``batch`` | ``monitor``
repeat          repeat number from 0 (invoke, batch)
index           call number within the repeat (invoke)
batch           rows per invoke (1 for invoke rows, ``--batch`` for batch rows)
timestamp_utc   ISO 8601 UTC time of the event (invoke: start of the call)
t_rel_s         seconds since the session started (same clock as timestamp_utc)
latency_us      invoke: that call's latency; batch: median latency of one batch invoke in that repeat;
                load: the first invoke right after loading (cold, un-warmed: what the paper timed)
load_ms         load: interpreter construction + ``allocate_tensors`` from the model's bytes
throughput_sps  batch: samples per second in that repeat (batch x invokes / summed invoke time)
accuracy        accuracy: share of bundle rows classified correctly (batch 1, argmax, 1 = malignant)
cpu_percent     monitor: ``psutil.cpu_percent`` since the previous sample (all cores)
mem_percent     monitor: ``psutil.virtual_memory().percent``
swap_percent    monitor: ``psutil.swap_memory().percent``
temp_c          monitor: SoC temperature from ``/sys/class/thermal/thermal_zone0/temp`` (empty if absent)
throttled       monitor: ``vcgencmd get_throttled`` as hex, e.g. ``0x50000`` (empty without vcgencmd)
=============== ===========================================================================================

What is timed: an "invoke" is :meth:`lib.device.litert.LiteModel.invoke` on an already prepared input, i.e.
``set_tensor`` + ``invoke`` + ``get_tensor``. Warm-up before the timed repeats: the accuracy pass (one
invoke per bundle row) and ``--warmup`` further invokes.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import psutil

from lib.device.litert import Interpreter, LiteModel

COLUMNS = (
    "session", "device", "os", "machine", "python", "runtime", "runtime_version", "threads", "run", "split",
    "model", "model_sha256", "event", "repeat", "index", "batch", "timestamp_utc", "t_rel_s", "latency_us",
    "load_ms", "throughput_sps", "accuracy", "cpu_percent", "mem_percent", "swap_percent", "temp_c", "throttled",
)
EVENTS = ("load", "accuracy", "invoke", "batch", "monitor")
MANIFEST = "manifest.json"
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
DEVICE_MODEL = Path("/proc/device-tree/model")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class BundleError(ValueError):
    """A bundle folder that cannot be benchmarked; the message names the offending file."""


# ------------------------------------------------------------------------------------------------ bundle
def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write_bundle(dir, run: str, split: str, models: dict, inputs: np.ndarray, labels: np.ndarray) -> Path:
    """Write a benchmark bundle (layout in the module docstring) to ``dir`` and return its path.

    ``models`` maps a name (letters, digits, ``_.-``) to .tflite bytes; ``inputs`` are preprocessed float rows
    (n, F, 1); ``labels`` are n class indices (1 = malignant).
    """
    d = Path(dir)
    X = np.asarray(inputs, dtype=np.float32)
    y = np.asarray(labels)
    if X.ndim != 3 or X.shape[2] != 1 or len(X) == 0:
        raise BundleError(f"inputs must have shape (n > 0, F, 1), got {X.shape}")
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer) or not np.isin(y, (0, 1)).all():
        raise BundleError(f"labels must be {len(X)} integers in {{0, 1}}, got shape {y.shape} dtype {y.dtype}")
    if not models:
        raise BundleError("no models to write")
    bad = [n for n in models if not _NAME_RE.match(str(n))]
    if bad:
        raise BundleError(f"model names must be letters, digits, '_', '.', '-': {bad}")
    d.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, content in models.items():
        content = bytes(content)
        (d / f"{name}.tflite").write_bytes(content)
        entries.append({"name": name, "file": f"{name}.tflite", "sha256": sha256(content)})
    np.save(d / "inputs.npy", X)
    np.save(d / "labels.npy", y.astype(np.int64))
    manifest = {"run": str(run), "split": str(split), "created_utc": _utc_iso(time.time()),
                "inputs": "inputs.npy", "labels": "labels.npy", "models": entries}
    (d / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return d


@dataclass
class Bundle:
    path: Path
    run: str
    split: str
    models: list  # [{"name", "file", "sha256", "content"}]
    inputs: np.ndarray
    labels: np.ndarray


def read_bundle(dir, names: list[str] | None = None) -> Bundle:
    """Read and check a bundle: manifest keys, files present, sha256 of every model, inputs and labels,
    and that the inputs fit every model's input (loading each once). ``names`` selects models."""
    d = Path(dir)
    mpath = d / MANIFEST
    if not d.is_dir():
        raise BundleError(f"{d}: bundle folder not found")
    if not mpath.exists():
        raise BundleError(f"{mpath}: manifest missing (is {d} a bundle written by write_bundle?)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{mpath}: not valid JSON: {e}") from e
    missing = [k for k in ("run", "split", "inputs", "labels", "models") if k not in manifest]
    if missing:
        raise BundleError(f"{mpath}: missing keys {missing}")

    def load_npy(key):
        p = d / manifest[key]
        if not p.exists():
            raise BundleError(f"{p}: file missing (listed as '{key}' in {mpath})")
        try:
            return p, np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise BundleError(f"{p}: not a readable .npy file: {e}") from e

    xpath, X = load_npy("inputs")
    ypath, y = load_npy("labels")
    if X.ndim != 3 or X.shape[2] != 1 or len(X) == 0 or not np.issubdtype(X.dtype, np.floating):
        raise BundleError(f"{xpath}: inputs must be floats of shape (n > 0, F, 1), got {X.dtype} {X.shape}")
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer):
        raise BundleError(f"{ypath}: labels must be {len(X)} integers (one per input row), got {y.dtype} {y.shape}")

    entries = manifest["models"]
    available = [m.get("name") for m in entries]
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise BundleError(f"{mpath}: no model named {unknown}; the bundle has {available}")
        entries = [m for m in entries if m.get("name") in names]
    models = []
    for m in entries:
        if not {"name", "file", "sha256"} <= set(m):
            raise BundleError(f"{mpath}: model entry needs name, file and sha256: {m}")
        p = d / m["file"]
        if not p.exists():
            raise BundleError(f"{p}: model file missing (listed for '{m['name']}' in {mpath})")
        content = p.read_bytes()
        if sha256(content) != m["sha256"]:
            raise BundleError(f"{p}: sha256 mismatch: file has {sha256(content)}, manifest says {m['sha256']}")
        try:
            lm = LiteModel(content)
        except ValueError as e:
            raise BundleError(f"{p}: {e}") from e
        want = tuple(int(s) for s in lm.input["shape"][1:])
        if tuple(X.shape[1:]) != want:
            raise BundleError(f"{p}: model input is (batch, {', '.join(map(str, want))}) but {xpath} rows are "
                              f"{tuple(X.shape[1:])}")
        models.append({**m, "content": content})
    return Bundle(d, str(manifest["run"]), str(manifest["split"]), models, X.astype(np.float32), y.astype(int))


# ------------------------------------------------------------------------------------------------ timing
def _time_calls(lm: LiteModel, xs: list, n: int, starts: list | None = None) -> list[int]:
    """THE timing loop: ``n`` invokes cycling through prepared inputs ``xs``; per-call nanoseconds.
    ``starts`` (optional) receives each call's ``perf_counter_ns`` start."""
    out = [0] * n
    k = len(xs)
    for c in range(n):
        x = xs[c % k]
        t0 = time.perf_counter_ns()
        lm.invoke(x)
        out[c] = time.perf_counter_ns() - t0
        if starts is not None:
            starts.append(t0)
    return out


def cold_start(content: bytes, X: np.ndarray, num_threads: int = 1) -> tuple[LiteModel, float, float]:
    """Load a model from its bytes and invoke it once on row 0, as the paper did (but with
    ``perf_counter_ns`` and without a print in the timed block). Returns (model, load_ms, first_call_us)."""
    t0 = time.perf_counter_ns()
    lm = LiteModel(content, num_threads)
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    first_us = _time_calls(lm, [lm.prepare_input(X[:1])], 1)[0] / 1e3
    return lm, load_ms, first_us


def bench(lm_or_content, X: np.ndarray, calls: int = 1000, warmup: int = 100, repeats: int = 5, batch: int = 32,
          *, num_threads: int = 1, on_repeat=None) -> dict:
    """Latency and throughput of one model on float rows ``X`` (n, F, 1).

    Given bytes, the model is loaded first (``load_ms``, ``first_us``: the cold first call). Then ``warmup``
    discarded invokes, ``repeats`` x ``calls`` single-row invokes timed one by one
    (cycling through the rows, inputs prepared beforehand), and, if ``batch`` > 0, batched throughput: per
    repeat ``ceil(calls / batch)`` invokes of ``batch`` rows (rows cycled), after a short warm-up at that size.

    Returns ``median_us`` / ``p95_us`` (median over repeats of each repeat's median / 95th percentile),
    their spread over repeats (``*_min``, ``*_max``), ``throughput_sps`` (median over repeats, samples/s),
    ``n_calls`` (timed single-row calls in all), the raw ``latencies_us`` (one list per repeat) and
    ``starts_ns`` (``perf_counter_ns`` at each call's start), ``batch_latencies_us`` and
    ``throughput_sps_repeats`` (per repeat). ``on_repeat(r, latencies_us, starts_ns)`` is called after each
    single-row repeat, outside the timed region.
    """
    if calls < 1 or repeats < 1 or warmup < 0 or batch < 0:
        raise ValueError("need calls >= 1, repeats >= 1, warmup >= 0, batch >= 0")
    X = np.asarray(X, dtype=np.float32)
    res: dict = {}
    if isinstance(lm_or_content, (bytes, bytearray, memoryview)):
        lm, res["load_ms"], res["first_us"] = cold_start(bytes(lm_or_content), X, num_threads)
    else:
        lm = lm_or_content
    xs = [lm.prepare_input(X[i:i + 1]) for i in range(len(X))]
    _time_calls(lm, xs, warmup)
    lat, starts = [], []
    for r in range(repeats):
        s: list = []
        us = [v / 1e3 for v in _time_calls(lm, xs, calls, s)]
        lat.append(us)
        starts.append(s)
        if on_repeat is not None:
            on_repeat(r, us, s)
    med = [float(np.median(v)) for v in lat]
    p95 = [float(np.percentile(v, 95)) for v in lat]
    res.update(median_us=float(np.median(med)), p95_us=float(np.median(p95)), median_us_min=min(med),
               median_us_max=max(med), p95_us_min=min(p95), p95_us_max=max(p95), n_calls=calls * repeats,
               latencies_us=lat, starts_ns=starts, batch=batch, batch_latencies_us=[], throughput_sps_repeats=[],
               throughput_sps=None)
    if batch:
        n_b = max(1, math.ceil(calls / batch))
        idx = np.arange(n_b * batch) % len(X)
        xb = [lm.prepare_input(X[idx[k * batch:(k + 1) * batch]]) for k in range(n_b)]
        _time_calls(lm, xb, max(2, math.ceil(warmup / batch)))  # resize + warm-up at the batch size
        for _ in range(repeats):
            ns = _time_calls(lm, xb, n_b)
            res["batch_latencies_us"].append([v / 1e3 for v in ns])
            res["throughput_sps_repeats"].append(batch * n_b / (sum(ns) / 1e9))
        res["throughput_sps"] = float(np.median(res["throughput_sps_repeats"]))
    return res


def accuracy(lm: LiteModel, X: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose argmax output (batch 1) equals the label (1 = malignant)."""
    return float(np.mean(lm.predict(X, batch=1).argmax(1) == np.asarray(labels)))


# ------------------------------------------------------------------------------------------------ system
def read_temp_c(path: Path = THERMAL_ZONE) -> float | None:
    """SoC temperature in degrees C (the file holds millidegrees); None where there is no such file."""
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def read_throttled(vcgencmd: str | None) -> str | None:
    """``vcgencmd get_throttled`` -> ``'0x50000'``; None without vcgencmd or on any failure."""
    if not vcgencmd:
        return None
    try:
        out = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"throttled=(0x[0-9a-fA-F]+)", out)
    return m.group(1) if m else None


def device_name(override: str | None = None) -> str:
    if override:
        return override
    try:
        model = DEVICE_MODEL.read_bytes().decode("utf-8", "replace").strip("\x00 \n")
        if model:
            return model
    except OSError:
        pass
    return platform.node() or "unknown"


def runtime_info() -> tuple[str, str]:
    """(package, version) of the interpreter :class:`LiteModel` uses."""
    pkg = "ai-edge-litert" if Interpreter.__module__.startswith("ai_edge_litert") else "tflite-runtime"
    try:
        return pkg, metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return pkg, ""


def _utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")


# ------------------------------------------------------------------------------------------------ session
class SessionLog:
    """The session's CSV: one flushed row per :meth:`write`, thread-safe, constant columns filled in."""

    def __init__(self, out_dir, constants: dict):
        self.t0_ns = time.perf_counter_ns()
        self.wall0 = time.time()
        host = re.sub(r"[^A-Za-z0-9-]+", "_", platform.node() or socket.gethostname() or "host")
        stamp = datetime.fromtimestamp(self.wall0, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        session = f"{host}_{stamp}"
        for k in range(1000):  # two sessions started in the same second get _1, _2 ...
            self.path = out / f"pi_session_{session}{'' if k == 0 else f'_{k}'}.csv"
            try:
                self._fh = open(self.path, "x", newline="", encoding="utf-8")
                break
            except FileExistsError:
                continue
        self.constants = {"session": self.path.stem.removeprefix("pi_session_"), **constants}
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS, lineterminator="\n")
        self._lock = threading.Lock()
        self.current_model: dict = {}
        with self._lock:
            self._writer.writeheader()
            self._fh.flush()

    def write(self, event: str, t_ns: int | None = None, **fields) -> None:
        """One row; ``t_ns`` (a ``perf_counter_ns`` value) dates it, default now."""
        t_ns = time.perf_counter_ns() if t_ns is None else t_ns
        rel = (t_ns - self.t0_ns) / 1e9
        row = {**self.constants, "event": event, "timestamp_utc": _utc_iso(self.wall0 + rel),
               "t_rel_s": f"{rel:.6f}", **fields}
        row = {k: ("" if v is None else (f"{v:.10g}" if isinstance(v, float) else v)) for k, v in row.items()}
        with self._lock:
            self._writer.writerow(row)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class Monitor(threading.Thread):
    """Every ``interval`` s, and once more when stopped: CPU, memory, swap, temperature, throttling -> a
    ``monitor`` row."""

    def __init__(self, log: SessionLog, interval: float):
        super().__init__(daemon=True, name="pi-monitor")
        self.psutil, self.log, self.interval = psutil, log, interval
        self.vcgencmd = shutil.which("vcgencmd")
        self._stop_event = threading.Event()
        psutil.cpu_percent(None)  # prime: the first call always returns 0.0

    def sample(self) -> dict:
        p = self.psutil
        return {"cpu_percent": float(p.cpu_percent(None)), "mem_percent": float(p.virtual_memory().percent),
                "swap_percent": float(p.swap_memory().percent), "temp_c": read_temp_c(),
                "throttled": read_throttled(self.vcgencmd)}

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.log.write("monitor", **self.log.current_model, **self.sample())
        self.log.write("monitor", **self.sample())  # closing sample: every session has at least one

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def run_session(bundle: Bundle, out_dir, calls=1000, warmup=100, repeats=5, batch=32, threads=1, interval=0.5,
                device=None, echo=None) -> Path:
    """Benchmark every model of ``bundle``; returns the CSV's path."""
    echo = echo or (lambda line: print(line, flush=True))
    runtime, version = runtime_info()
    log = SessionLog(out_dir, {
        "device": device_name(device), "os": platform.platform(), "machine": platform.machine(),
        "python": platform.python_version(), "runtime": runtime, "runtime_version": version, "threads": threads,
        "run": bundle.run, "split": bundle.split})
    monitor = Monitor(log, interval) if interval > 0 else None
    echo(f"session {log.constants['session']}: {len(bundle.models)} models, {len(bundle.inputs)} rows, "
         f"{runtime} {version}, {threads} thread(s) -> {log.path}")
    try:
        if monitor:
            monitor.start()
        for i, m in enumerate(bundle.models, 1):
            ident = {"model": m["name"], "model_sha256": m["sha256"]}
            log.current_model = {"model": m["name"]}
            lm, load_ms, first_us = cold_start(m["content"], bundle.inputs, threads)
            log.write("load", **ident, load_ms=load_ms, latency_us=first_us, batch=1)
            acc = accuracy(lm, bundle.inputs, bundle.labels)
            log.write("accuracy", **ident, accuracy=acc)

            def on_repeat(r, lat_us, starts_ns, ident=ident):
                for c, (us, t) in enumerate(zip(lat_us, starts_ns)):
                    log.write("invoke", t_ns=t, **ident, repeat=r, index=c, batch=1, latency_us=us)

            res = bench(lm, bundle.inputs, calls, warmup, repeats, batch, num_threads=threads, on_repeat=on_repeat)
            for r, (blat, sps) in enumerate(zip(res["batch_latencies_us"], res["throughput_sps_repeats"])):
                log.write("batch", **ident, repeat=r, batch=batch, latency_us=float(np.median(blat)),
                          throughput_sps=sps)
            log.current_model = {}
            thr = f"{res['throughput_sps']:.0f} samples/s at batch {batch}" if batch else "no batch run"
            echo(f"[{i}/{len(bundle.models)}] {m['name']}: load {load_ms:.2f} ms, first call {first_us:.0f} us, "
                 f"accuracy {acc:.4f}, median {res['median_us']:.1f} us (p95 {res['p95_us']:.1f}; repeats "
                 f"{res['median_us_min']:.1f}-{res['median_us_max']:.1f}), {thr}")
    finally:
        if monitor:
            monitor.stop()
        log.close()
    return log.path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.device.pi_runner", description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", help="bundle folder (manifest.json, *.tflite, inputs.npy, labels.npy)")
    ap.add_argument("--out", required=True, help="folder for the session CSV")
    ap.add_argument("--calls", type=int, default=1000, help="timed single-row invokes per repeat")
    ap.add_argument("--warmup", type=int, default=100, help="untimed invokes before the repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32, help="rows per invoke for throughput (0: skip)")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads")
    ap.add_argument("--interval", type=float, default=0.5, help="monitor period in s (0: no monitor)")
    ap.add_argument("--device", help="device name for the CSV (default: /proc/device-tree/model or host name)")
    ap.add_argument("--models", help="comma-separated model names (default: all in the bundle)")
    a = ap.parse_args(argv)
    if a.calls < 1 or a.repeats < 1 or a.warmup < 0 or a.batch < 0 or a.threads < 1 or a.interval < 0:
        ap.error("need --calls >= 1, --repeats >= 1, --warmup >= 0, --batch >= 0, --threads >= 1, --interval >= 0")
    names = [n.strip() for n in a.models.split(",") if n.strip()] if a.models else None
    try:
        bundle = read_bundle(a.bundle, names)
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    path = run_session(bundle, a.out, a.calls, a.warmup, a.repeats, a.batch, a.threads, a.interval, a.device)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
