"""``make pi-check``: the Raspberry Pi bundle on the Pi's architecture, under aarch64 user-mode emulation.

A 64-bit Raspberry Pi OS is Debian bookworm arm64 with Python 3.11. This check builds that userland without a Pi
(and without root-level binfmt registration, which containers often lack):

1. **Root filesystem** (cached in ``.cache/pi-arm64/rootfs``): ``debootstrap --foreign --arch=arm64`` downloads
   and unpacks bookworm's minimal base and Python 3.11 (Debian packages ``debootstrap`` and
   ``qemu-user-static``); the second stage is never run, so no arm64 binary runs as root.
2. **Python packages** (cached in ``.cache/pi-arm64/site``): the aarch64 wheels of numpy, psutil and
   ai-edge-litert at the versions of ``requirements.txt`` (``pip download --platform manylinux_*_aarch64``),
   unpacked, never installed: the Pi's runner needs nothing else.
3. **Run**: ``qemu-aarch64-static -L rootfs rootfs/usr/bin/python3.11`` executes, on the bundle, (a) this module's
   ``--dump`` (every model's raw outputs on every bundle row, through ``lib.device.litert.LiteModel``) and (b)
   ``lib.device.pi_runner`` itself, briefly (``--calls 20``), as on a Pi. The same dump runs natively on the host.
4. **Compare**: integer models must give identical outputs on both architectures, float models agree to 1e-5
   with the same decisions, and the runner's accuracies under emulation equal the host's. Emulated timings are
   not measurements of a Pi: they are not reported.

``python -m lib.tools.picheck [--bundle DIR]`` (default ``outputs/wdbc/models/pi_bundle``, written by notebook 06).
Exit 0 when everything agrees, 1 on a difference, 2 when a step cannot run (its message says which and why).
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from lib.device.litert import LiteModel
from lib.device.pi_runner import read_bundle

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "pi-arm64"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PYTHON_DEBS = "python3.11-minimal,libpython3.11-minimal,libpython3.11-stdlib,libffi8,libexpat1,zlib1g,libssl3,libbz2-1.0,liblzma5"
PI_PACKAGES = ("numpy", "psutil", "ai-edge-litert")
# manylinux tags a bookworm arm64 (glibc 2.36) accepts
PLATFORMS = [f"manylinux_2_{v}_aarch64" for v in (17, 24, 27, 28, 31, 34, 35, 36)] + ["manylinux2014_aarch64"]
QEMU = "qemu-aarch64-static"
# The Raspberry Pi 4B's CPU: qemu's default ("max") advertises extensions a Pi 4 lacks (dot product, i8mm, SVE), which
# would make LiteRT pick kernels a Pi never runs
QEMU_CPU = "cortex-a72"
FLOAT_ATOL = 1e-5


class PiCheckError(RuntimeError):
    """A step of the check that cannot run here (its message names the step and the reason)."""


def _run(cmd, step: str, **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError as e:
        raise PiCheckError(f"{step}: {cmd[0]} not found ({e}); apt-get install debootstrap qemu-user-static") from e
    if proc.returncode != 0:
        raise PiCheckError(f"{step}: {' '.join(map(str, cmd[:4]))} ... exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return proc


def pins(requirements: Path = ROOT / "requirements.txt") -> dict:
    out = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[re.sub(r"[-_.]+", "-", name).lower()] = version
    return out


# A Raspberry Pi 4's /proc/cpuinfo (4 Cortex-A72 cores). qemu-user 7.2 (bookworm) hands the emulated program the x86
# host's /proc/cpuinfo, and the cpuinfo library inside LiteRT (XNNPACK) crashes parsing it (a segmentation fault in
# Interpreter()); files under the -L prefix take the place of the host's, so the root filesystem carries this one.
PI4_CPUINFO = "\n".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n" for i in range(4)
) + "\nHardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


def rootfs(cache: Path = CACHE, log=print) -> Path:
    """bookworm arm64 with Python 3.11, unpacked (cached), with a Pi 4's /proc/cpuinfo (:data:`PI4_CPUINFO`)."""
    fs = cache / "rootfs"
    python = fs / "usr" / "bin" / "python3.11"
    if python.exists():
        (fs / "proc").mkdir(exist_ok=True)
        (fs / "proc" / "cpuinfo").write_text(PI4_CPUINFO)
        return fs
    if shutil.which("debootstrap") is None:
        raise PiCheckError("root filesystem: debootstrap is not installed (apt-get install debootstrap)")
    log(f"pi-check: downloading Debian {SUITE} arm64 (minimal base + Python 3.11) into {fs} ...")
    tmp = cache / "rootfs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _run(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", f"--include={PYTHON_DEBS}", SUITE, str(tmp),
          MIRROR], "root filesystem (debootstrap --foreign)")
    # --foreign unpacks the base only; unpack every downloaded package (Python among them) without running it
    for deb in sorted((tmp / "var" / "cache" / "apt" / "archives").glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"root filesystem (unpacking {deb.name})")
    if not (tmp / "usr" / "bin" / "python3.11").exists():
        raise PiCheckError("root filesystem: python3.11 is missing after unpacking the packages")
    tmp.rename(fs)
    (fs / "proc").mkdir(exist_ok=True)
    (fs / "proc" / "cpuinfo").write_text(PI4_CPUINFO)
    return fs


def site(cache: Path = CACHE, log=print) -> Path:
    """The aarch64 wheels of the Pi's packages at the lock's versions, unpacked (cached)."""
    d = cache / "site"
    if (d / "ai_edge_litert").exists():
        return d
    v = pins()
    reqs = [f"{p}=={v[p]}" for p in PI_PACKAGES if p in v]
    if len(reqs) != len(PI_PACKAGES):
        raise PiCheckError(f"python packages: requirements.txt does not pin all of {PI_PACKAGES}")
    wheels = cache / "wheels"
    log(f"pi-check: downloading the aarch64 wheels of {', '.join(reqs)} ...")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", "3.11",
           "--implementation", "cp", "--platform", "any", "-d", str(wheels), *reqs]
    for p in PLATFORMS:
        cmd[cmd.index("--platform"):cmd.index("--platform")] = ["--platform", p]
    _run(cmd, "python packages (pip download for aarch64)")
    tmp = cache / "site.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for w in sorted(wheels.glob("*.whl")):
        zipfile.ZipFile(w).extractall(tmp)
    tmp.rename(d)
    return d


def emulated(fs: Path, site_dir: Path, args: list[str], step: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """Run ``python3.11 <args>`` of the arm64 root filesystem under qemu, with the Pi's packages and this repo's
    ``lib`` on its path."""
    if shutil.which(QEMU) is None:
        raise PiCheckError(f"{step}: {QEMU} is not installed (apt-get install qemu-user-static)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{site_dir}:{ROOT}", "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(fs / "root"), "LC_ALL": "C.UTF-8"}
    return _run([QEMU, "-cpu", QEMU_CPU, "-L", str(fs), str(fs / "usr" / "bin" / "python3.11"), *args], step, env=env, cwd=ROOT,
                timeout=timeout)


# ------------------------------------------------------------------------------------------------ dump
def dump(bundle_dir, out) -> dict:
    """Every model's raw outputs on every bundle row (one row per call) and the machine, to ``out`` (.npz)."""
    b = read_bundle(bundle_dir)
    arrays, meta = {}, {"machine": platform.machine(), "python": platform.python_version(), "models": []}
    for m in b.models:
        lm = LiteModel(m["content"])
        raw = np.concatenate([lm.invoke(lm.prepare_input(b.inputs[i:i + 1])) for i in range(len(b.inputs))])
        arrays[m["name"]] = raw
        meta["models"].append({"name": m["name"], "dtype": str(raw.dtype)})
    np.savez(out, labels=b.labels, **arrays)
    Path(str(out) + ".json").write_text(json.dumps(meta))
    return meta


def _decisions(raw: np.ndarray) -> np.ndarray:
    return np.argmax(raw, axis=1)


def compare(host: Path, pi: Path) -> list[dict]:
    """One row per model: identical (integer) or max |difference| (float), and the decisions that differ."""
    a, b = np.load(host), np.load(pi)
    rows = []
    for name in [k for k in a.files if k != "labels"]:
        x, y = a[name], b[name]
        integer = np.issubdtype(x.dtype, np.integer)
        diff = float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max())
        dec = int((_decisions(x) != _decisions(y)).sum())
        ok = (diff == 0) if integer else (diff <= FLOAT_ATOL and dec == 0)
        rows.append({"model": name, "kind": "int8" if integer else "float", "rows": len(x), "max_difference": diff,
                     "decisions_differ": dec, "accuracy": float((_decisions(y) == b["labels"]).mean()), "ok": bool(ok)})
    return rows


def _runner_accuracies(csv_dir: Path) -> dict:
    """Accuracy per model from a runner session CSV (lib.device.pilogs reads the same files for notebook 07)."""
    acc = {}
    for f in sorted(csv_dir.glob("pi_session_*.csv")):
        for r in csv.DictReader(f.open()):
            if r.get("event") == "accuracy" or (r.get("accuracy") not in (None, "")):
                try:
                    acc[r["model"]] = float(r["accuracy"])
                except (KeyError, ValueError):
                    continue
    return acc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.tools.picheck", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=str(ROOT / "outputs" / "wdbc" / "models" / "pi_bundle"))
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--dump", nargs=2, metavar=("BUNDLE", "OUT"), help=argparse.SUPPRESS)  # the emulated side
    a = ap.parse_args(argv)
    if a.dump:
        dump(*a.dump)
        return 0
    bundle = Path(a.bundle)
    if not (bundle / "manifest.json").exists():
        print(f"pi-check: no bundle at {bundle}: notebook 06 writes it (make reproduce, or pass --bundle DIR)",
              file=sys.stderr)
        return 2
    cache = Path(a.cache)
    try:
        fs, site_dir = rootfs(cache), site(cache)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            dump(bundle, tmp / "host.npz")
            print("pi-check: running the bundle under aarch64 emulation (this takes a few minutes) ...", flush=True)
            emulated(fs, site_dir, ["-m", "lib.tools.picheck", "--dump", str(bundle), str(tmp / "pi.npz")],
                     "emulated dump (lib.tools.picheck --dump)")
            meta = json.loads(Path(str(tmp / "pi.npz") + ".json").read_text())
            if meta["machine"] != "aarch64":
                raise PiCheckError(f"emulated dump: ran on {meta['machine']}, not aarch64")
            emulated(fs, site_dir, ["-m", "lib.device.pi_runner", str(bundle), "--out", str(tmp / "runner"), "--calls", "20",
                                    "--warmup", "2", "--repeats", "1", "--batch", "0", "--interval", "0"],
                     "emulated lib.device.pi_runner")
            runner = _runner_accuracies(tmp / "runner")
            rows = compare(tmp / "host.npz", tmp / "pi.npz")
    except PiCheckError as e:
        print(f"pi-check blocked: {e}", file=sys.stderr)
        return 2
    print(f"bundle {bundle} ({len(rows)} models); Python {meta['python']} on {meta['machine']} (qemu user mode) vs "
          f"this host; emulated timings are not reported")
    print(f"{'model':14s} {'kind':5s} {'rows':>5s} {'max diff':>10s} {'decisions':>9s} {'accuracy':>8s} {'runner':>8s}  ok")
    bad = 0
    for r in rows:
        ra = runner.get(r["model"])
        same = ra is not None and abs(ra - r["accuracy"]) < 0.5 / r["rows"]  # the log rounds; less than one row
        ok = r["ok"] and same
        bad += not ok
        print(f"{r['model']:14s} {r['kind']:5s} {r['rows']:5d} {r['max_difference']:10.3g} {r['decisions_differ']:9d} "
              f"{r['accuracy']:8.4f} {ra if ra is not None else float('nan'):8.4f}  {'yes' if ok else 'NO'}")
    print("pi-check: " + ("every model gives the host's outputs and accuracy on aarch64" if not bad else
                          f"{bad} model(s) differ"))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
