"""The Raspberry Pi benchmark runner: bundles are written and checked, ``bench`` times sanely and leaves input
preparation out, a session (run as on a Pi, in a subprocess, with TensorFlow, pandas, scikit-learn and SciPy
made unimportable) writes the documented CSV, and a runner killed mid-write leaves a readable CSV."""
import csv
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from lib.core import paths
from lib.device import litert, pi_runner, pilogs
from lib.device.pi_runner import COLUMNS, EVENTS, BundleError, bench, read_bundle, write_bundle
from lib.train import architectures
from lib.compress import tflite

FORBIDDEN = ("tensorflow", "tf_keras", "pandas", "sklearn", "scipy")
# Run the runner as on a Pi: the heavy packages present here are made unimportable first.
BLOCKED_PRELUDE = f"""
import runpy, sys
for name in {FORBIDDEN!r}:
    sys.modules[name] = None  # 'import name' now raises ImportError
sys.argv = ["pi_runner", *sys.argv[1:]]
runpy.run_module("lib.device.pi_runner", run_name="__main__", alter_sys=True)
"""
SMALL = ["--calls", "50", "--warmup", "5", "--repeats", "2", "--interval", "0.1"]
N_ROWS, N_FEATURES = 20, 5


def _env():
    return {**os.environ, "TF_USE_LEGACY_KERAS": "1"}


@pytest.fixture(scope="module")
def tiny():
    """A tiny student (5 features) as float and int8 .tflite, 20 random rows, random labels."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES, 1)).astype(np.float32)
    y = rng.integers(0, 2, N_ROWS)
    m = architectures.build_student(N_FEATURES)
    return {"SM": tflite.convert(m, "float"), "SM_INT8": tflite.convert(m, "int8", X)}, X, y


@pytest.fixture(scope="module")
def bundle(tiny, tmp_path_factory):
    contents, X, y = tiny
    return write_bundle(tmp_path_factory.mktemp("bundle"), "test-run", "s0", contents, X, y)


@pytest.fixture(scope="module")
def session_csv(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("pi_out")
    r = subprocess.run([sys.executable, "-c", BLOCKED_PRELUDE, str(bundle), "--out", str(out), *SMALL],
                       cwd=paths.ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"runner failed without TF/pandas/sklearn/scipy:\n{r.stdout}\n{r.stderr}"
    files = list(out.glob("pi_session_*.csv"))
    assert len(files) == 1, files
    return files[0], r.stdout


# ------------------------------------------------------------------------------------------------ bundle
def test_bundle_layout(bundle, tiny):
    contents, X, y = tiny
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {"run", "split", "created_utc", "inputs", "labels", "models"} <= set(manifest)
    assert [m["name"] for m in manifest["models"]] == ["SM", "SM_INT8"]
    for m in manifest["models"]:
        assert (bundle / m["file"]).read_bytes() == contents[m["name"]]
        assert m["sha256"] == pi_runner.sha256(contents[m["name"]])
    np.testing.assert_array_equal(np.load(bundle / "inputs.npy"), X)
    np.testing.assert_array_equal(np.load(bundle / "labels.npy"), y)
    b = read_bundle(bundle, ["SM_INT8"])
    assert (b.run, b.split, [m["name"] for m in b.models]) == ("test-run", "s0", ["SM_INT8"])


def test_bundle_errors_name_the_file(bundle, tmp_path):
    def copy(name):
        d = tmp_path / name
        shutil.copytree(bundle, d)
        return d

    d = copy("no_manifest")
    (d / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json: manifest missing"):
        read_bundle(d)

    d = copy("tampered")
    with open(d / "SM_INT8.tflite", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match=r"SM_INT8\.tflite: sha256 mismatch"):
        read_bundle(d)

    d = copy("wrong_shape")
    np.save(d / "inputs.npy", np.zeros((N_ROWS, N_FEATURES + 1, 1), np.float32))
    with pytest.raises(BundleError, match=r"SM\.tflite: model input is \(batch, 5, 1\) but .*inputs\.npy rows"):
        read_bundle(d)

    d = copy("missing_model")
    (d / "SM.tflite").unlink()
    with pytest.raises(BundleError, match=r"SM\.tflite: model file missing"):
        read_bundle(d)

    with pytest.raises(BundleError, match=r"no model named \['XX'\]"):
        read_bundle(bundle, ["XX"])
    assert pi_runner.main([str(tmp_path / "no_manifest"), "--out", str(tmp_path / "o")]) == 2


def test_write_bundle_rejects_bad_input(tmp_path, tiny):
    contents, X, y = tiny
    with pytest.raises(BundleError, match="labels must be"):
        write_bundle(tmp_path, "r", "s", contents, X, np.eye(2)[y])  # one-hot, not class indices
    with pytest.raises(BundleError, match="inputs must have shape"):
        write_bundle(tmp_path, "r", "s", contents, X[:, :, 0], y)
    with pytest.raises(BundleError, match="model names"):
        write_bundle(tmp_path, "r", "s", {"a/b": contents["SM"]}, X, y)


# ------------------------------------------------------------------------------------------------ bench
def test_bench_numbers_are_sane(tiny):
    contents, X, _ = tiny
    r = bench(contents["SM_INT8"], X, calls=30, warmup=3, repeats=3, batch=8)
    assert r["load_ms"] > 0 and r["first_us"] > 0
    assert r["p95_us"] >= r["median_us"] > 0
    assert r["median_us_min"] <= r["median_us"] <= r["median_us_max"]
    assert r["p95_us_min"] <= r["p95_us"] <= r["p95_us_max"]
    assert r["throughput_sps"] > 0 and len(r["throughput_sps_repeats"]) == 3
    assert r["n_calls"] == 90 and [len(v) for v in r["latencies_us"]] == [30, 30, 30]
    assert all(v > 0 for rep in r["latencies_us"] for v in rep)
    assert [len(v) for v in r["batch_latencies_us"]] == [4, 4, 4]  # ceil(30 / 8) batch invokes per repeat

    r = bench(litert.LiteModel(contents["SM"]), X, calls=10, warmup=0, repeats=1, batch=0)
    assert "load_ms" not in r and r["throughput_sps"] is None and r["median_us"] > 0


def test_bench_excludes_input_preparation(tiny):
    contents, X, _ = tiny
    lm = litert.LiteModel(contents["SM_INT8"])
    prepare = lm.prepare_input

    def slow_prepare(x):  # 5 ms per preparation: would dominate any timing that included it
        time.sleep(0.005)
        return prepare(x)

    lm.prepare_input = slow_prepare
    r = bench(lm, X, calls=40, warmup=2, repeats=2, batch=4)
    assert r["p95_us"] < 2500  # tiny model: a few microseconds per call, far below the 5000 us preparation
    assert r["throughput_sps"] > 4 / 0.0025


# ------------------------------------------------------------------------------------------------ session
def test_session_csv_matches_schema(session_csv, bundle):
    path, stdout = session_csv
    assert path.name.startswith("pi_session_") and path.name.endswith("Z.csv")
    assert stdout.count("] SM") == 2 and "wrote" in stdout  # one progress line per model
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS
    events = [r["event"] for r in rows]
    assert set(events) == set(EVENTS)
    count = {e: events.count(e) for e in EVENTS}
    assert count["load"] == count["accuracy"] == 2 and count["batch"] == 2 * 2 and count["monitor"] >= 1
    assert count["invoke"] == 2 * 2 * 50
    assert len({r["session"] for r in rows}) == 1
    assert {r["runtime"] for r in rows} <= {"ai-edge-litert", "tflite-runtime"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    sha = {m["name"]: m["sha256"] for m in manifest["models"]}
    for r in rows:
        assert r["run"] == "test-run" and r["split"] == "s0" and r["timestamp_utc"].endswith("+00:00")
        if r["event"] != "monitor":
            assert r["model_sha256"] == sha[r["model"]]
        if r["event"] == "monitor":
            assert float(r["cpu_percent"]) >= 0 and 0 < float(r["mem_percent"]) <= 100
            assert r["temp_c"] == "" or 0 < float(r["temp_c"]) < 120
            assert r["throttled"] == "" or r["throttled"].startswith("0x")
            assert r["latency_us"] == ""
        else:
            assert r["cpu_percent"] == r["temp_c"] == ""

    df = pilogs.parse_runner(path)
    assert len(df) == len(rows) and df["file"].iloc[0] == str(path)
    inv = df[df.event == "invoke"]
    assert (inv.latency_us > 0).all() and set(inv["index"]) == set(range(50)) and set(inv["repeat"]) == {0, 1}
    assert (inv.batch == 1).all()
    load = df[df.event == "load"]
    assert (load.load_ms > 0).all() and (load.latency_us > 0).all()
    assert df[df.event == "batch"].throughput_sps.gt(0).all() and df[df.event == "batch"].batch.eq(32).all()
    assert df[df.event == "accuracy"].accuracy.between(0, 1).all()
    assert df["t_rel_s"].ge(0).all() and str(df["timestamp_utc"].dtype).startswith("datetime64")


def test_runner_imports_no_heavy_package(bundle, tmp_path):
    """Run as ``python -m lib.device.pi_runner`` with everything installed: none of the heavy packages gets loaded.
    (The session fixture runs it with them made unimportable.)"""
    code = (f"import runpy, sys\n"
            f"sys.argv = ['pi_runner', {str(bundle)!r}, '--out', {str(tmp_path)!r}, '--models', 'SM', "
            f"'--calls', '5', '--warmup', '1', '--repeats', '1', '--interval', '0']\n"
            f"try:\n    runpy.run_module('lib.device.pi_runner', run_name='__main__', alter_sys=True)\n"
            f"except SystemExit as e:\n    assert not e.code, e.code\n"
            f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r})))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout, r.stdout


def test_killed_runner_leaves_a_readable_csv(session_csv, tmp_path):
    path, _ = session_csv
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    keep = len(lines) // 2
    cut = tmp_path / "partial.csv"
    cut.write_text("".join(lines[:keep]) + lines[keep][: len(lines[keep]) // 2])  # cut in the middle of a line
    with pytest.warns(UserWarning, match=rf"partial\.csv:{keep + 1}: truncated last line dropped"):
        df = pilogs.parse_runner(cut)
    assert len(df) == keep - 1  # every complete row (the header is line 1)
    full = pilogs.parse_runner(path)
    assert df["latency_us"].equals(full["latency_us"].iloc[: keep - 1])


def test_device_package_imports_nothing_else_of_lib():
    """lib/device/ is what a Pi copies: its modules import each other and the standard library, NumPy, psutil and
    LiteRT (pilogs, the log parsers of notebook 07, also pandas), never another lib package."""
    import ast

    allowed_heavy = {"numpy", "psutil", "ai_edge_litert", "tflite_runtime"}
    for f in sorted((paths.ROOT / "lib" / "device").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                assert not name.startswith("lib.") or name.startswith("lib.device"), (f.name, name)
                assert top not in FORBIDDEN or (f.name == "pilogs.py" and top == "pandas"), (f.name, name)
                if top not in sys.stdlib_module_names and top not in ("lib", "pandas"):
                    assert top in allowed_heavy, (f.name, name)


def test_a_copy_of_lib_device_alone_runs_the_bundle(bundle, tmp_path):
    """The copy docs/pi.md prescribes (lib/__init__.py and lib/device/), nothing else of the repository."""
    import shutil

    pi = tmp_path / "kdbench"
    (pi / "lib" / "device").mkdir(parents=True)
    shutil.copy(paths.ROOT / "lib" / "__init__.py", pi / "lib")
    for f in (paths.ROOT / "lib" / "device").glob("*.py"):
        shutil.copy(f, pi / "lib" / "device")
    code = BLOCKED_PRELUDE.replace('sys.argv = ["pi_runner", *sys.argv[1:]]',
                                   f'sys.argv = ["pi_runner", {str(bundle)!r}, "--out", {str(tmp_path / "out")!r}, '
                                   f'"--models", "SM", "--calls", "5", "--warmup", "1", "--repeats", "1", '
                                   f'"--interval", "0"]')
    env = {k: v for k, v in _env().items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-S", "-c", "import site; site.main(); import sys; "
                        f"sys.path = [p for p in sys.path if p.rstrip('/') != {str(paths.ROOT)!r}]; "
                        f"sys.path.insert(0, {str(pi)!r}); exec({code!r})"],
                       cwd=pi, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list((tmp_path / "out").glob("pi_session_*.csv"))
