"""Every path of the study, anchored at the repository root (never at the current directory).

nbval starts a kernel in the notebook's own folder and papermill in ``--cwd``; only root-anchored paths
survive both. ``KDSTUDY_OUTPUTS`` redirects the outputs tree (tests use it to run notebooks in a temp dir).
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
LIB = ROOT / "lib"
TESTS = ROOT / "tests"


def outputs_root() -> Path:
    """Root of all outputs: ``$KDSTUDY_OUTPUTS`` if set, else ``<repo>/outputs``."""
    env = os.environ.get("KDSTUDY_OUTPUTS")
    return Path(env).resolve() if env else ROOT / "outputs"


def run_dir(run: str) -> Path:
    """``outputs/<run>/`` (created on demand): executed notebooks, tidy CSVs, figures."""
    d = outputs_root() / run
    d.mkdir(parents=True, exist_ok=True)
    return d


def figures_dir(run: str) -> Path:
    d = run_dir(run) / "figures"
    d.mkdir(parents=True, exist_ok=True)
    return d


def models_dir(run: str) -> Path:
    """Trained models: large binaries, kept out of git (see .gitignore)."""
    d = run_dir(run) / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def resolve(path: str | os.PathLike) -> Path:
    """A path from a params file: absolute as given, relative ones anchored at the repo root."""
    p = Path(os.path.expandvars(os.path.expanduser(str(path))))
    return p if p.is_absolute() else (ROOT / p).resolve()
