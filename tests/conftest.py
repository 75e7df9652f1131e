"""Shared fixtures, and nbval settings (stderr is not compared: TensorFlow and LiteRT log there)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    """nbval: all cells of a run's notebooks on one xdist worker, in order (03 reads the models 02 saved)."""
    for item in items:
        path = getattr(item, "path", None)
        if path is not None and path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(f"nbval-{path.parent.name}"))


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)


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
