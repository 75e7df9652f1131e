"""Notebooks run headless under papermill (fast profile), committed outputs match their sources, and a failed
notebook never leaves an output that make treats as up to date."""
import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from lib.core import paths
from lib.analysis import runs

ROOT = paths.ROOT
FAST_RUNS = [r for r in runs.ordinary_runs() if r.endswith("-fast")]  # 01 runs no transfer run


def run_papermill(notebook: str, run: str, out_dir: Path, env_extra=None) -> nbformat.NotebookNode:
    from lib.tools.execute import execute

    out = out_dir / run / f"{notebook}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    execute(str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out), kernel_name="kdstudy",
            parameters={"run": run}, cwd=str(ROOT), progress_bar=False)
    return nbformat.read(out, as_version=4)


@pytest.mark.parametrize("run", FAST_RUNS)
def test_01_runs_under_papermill(run, scratch_outputs, request, monkeypatch):
    if run.startswith("pbcnt"):  # only PBCNT needs the study's data folder; WDBC and BCD ship with packages
        shared_data = request.getfixturevalue("shared_data")
        monkeypatch.setenv("PBCNT_CSV", str(shared_data / "GSE58606_data.csv"))
    nb = run_papermill("01_data_exploration", run, scratch_outputs)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    d = scratch_outputs / run
    for f in ("splits.json", "data_summary.csv", "pca_variance.csv", "figures/01_correlation.png",
              "figures/01_pca_variance.png", "figures/01_feature_distributions.png"):
        assert (d / f).exists(), f
    header = json.loads((d / "splits.json").read_text())["header"]
    assert header["run"] == run


def _code(nb):
    return [c.source for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


EXECUTED = sorted(p for p in ROOT.glob("outputs/*/[0-9]*.ipynb") if p.name.count(".") == 1)  # not .tmp/.failed


@pytest.mark.parametrize("executed", EXECUTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_outputs_come_from_current_notebooks(executed):
    source = ROOT / "notebooks" / executed.name
    assert source.exists(), f"{executed} has no source notebook"
    assert _code(nbformat.read(executed, 4)) == _code(nbformat.read(source, 4)), \
        f"{executed} is stale: re-run 'make reproduce' / 'make reproduce-fast'"


def test_notebooks_have_parameters_cell_with_literals_only():
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, 4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, nb_path.name
        for line in tagged[0].source.splitlines():
            code = line.split("#")[0].strip()
            if code:
                name, _, value = code.partition("=")
                compile(value.strip(), "<param>", "eval")
                assert value.strip()[0] in "\"'0123456789[-TFN", f"{nb_path.name}: derived value in {line!r}"
        assert nb.metadata["kernelspec"]["name"] == "kdstudy"


def test_failed_notebook_leaves_no_up_to_date_output(repo_copy):
    nb_path = repo_copy / "notebooks" / "01_data_exploration.ipynb"
    nb = nbformat.read(nb_path, 4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom')"))
    nbformat.write(nb, nb_path)
    target = "outputs/wdbc-fast/01_data_exploration.ipynb"
    env = {**os.environ, "KDSTUDY_OUTPUTS": str(repo_copy / "outputs")}
    proc = subprocess.run(["make", "-s", "-o", ".venv/.installed", target], cwd=repo_copy, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert not (repo_copy / target).exists()
    assert (repo_copy / (target + ".failed.ipynb")).exists()
    assert "failed" in proc.stdout + proc.stderr
