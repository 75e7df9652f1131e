"""Shared fixtures. The nbval settings live in tests/nbval_plugin.py (make test loads it with -p)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import lib  # noqa: E402,F401  (its thread defaults, before any test imports TensorFlow)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "wdbc.csv").exists():
        pytest.skip(f"the study's reference data are not at {SHARED_DATA} (set SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def scratch_outputs(tmp_path, monkeypatch) -> Path:
    """Redirect outputs/ to a temp dir for the test."""
    out = tmp_path / "outputs"
    out.mkdir()
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(out))
    return out


@pytest.fixture
def params_dir(tmp_path, monkeypatch) -> Path:
    """An empty params/ folder in a temp dir, where lib.core.params (and lib.transfer.transfer_params, lib.analysis.runs) look for runs."""
    from lib.core import params

    monkeypatch.setattr(params.paths, "PARAMS", tmp_path)
    return tmp_path


@pytest.fixture
def write():
    """``write(folder, run, text)``: writes ``<folder>/<run>.yaml`` (a params file of a test)."""
    def _write(d: Path, name: str, text: str) -> Path:
        path = d / f"{name}.yaml"
        path.write_text(text)
        return path
    return _write


@pytest.fixture
def repo_copy(tmp_path):
    """A throwaway copy of the study's sources sharing this checkout's .venv."""
    dst = tmp_path / "repo"
    for item in ("lib", "notebooks", "params", "Makefile", "requirements.txt"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst / item)
    (dst / ".venv").symlink_to(ROOT / ".venv")  # make runs there with -o .venv/.installed: never reinstall it
    # (a kernel registered from the copy would point into this temporary folder). -o does not reach a recursive
    # make (make run calls one), so the copy's requirements.txt is also dated before the venv's stamp: a checkout
    # newer than the shared venv (a fresh git worktree) would otherwise reinstall it and re-register its kernel.
    stamp = ROOT / ".venv" / ".installed"
    if stamp.exists():
        t = stamp.stat().st_mtime_ns - 1_000_000_000
        os.utime(dst / "requirements.txt", ns=(t, t))
    return dst
