"""Optional data stays optional: without PBCNT's CSV (or the authors' Pi logs) the re-execution checks leave out
exactly the notebooks that need it, with one line that says so; make reproduce skips the pbcnt run with one
line; notebook 08 summarises the runs it has."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pandas as pd

from lib.core import optional, paths

ROOT = paths.ROOT
FAST_NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("outputs/*-fast/[0-9]*.ipynb")
                        if p.name.count(".") == 1)
MISSING = "/nonexistent/GSE58606_data.csv"


def _collect(env_extra: dict) -> tuple[list[str], str]:
    env = {**os.environ, **env_extra}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "tests.nbval_plugin", "--nbval-lax", "--nbval-current-env", *FAST_NOTEBOOKS],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    items = [line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line]
    return sorted(set(items)), proc.stdout


def test_without_pbcnt_exactly_its_notebooks_are_left_out_with_one_line(monkeypatch):
    notebooks, out = _collect({"PBCNT_CSV": MISSING})
    assert notebooks, out
    assert not [n for n in notebooks if "pbcnt" in n or "summary-fast" in n]
    expected = {n for n in FAST_NOTEBOOKS if "pbcnt" not in n and "summary-fast" not in n}
    if not optional.available("pi-reference"):
        expected = {n for n in expected if "07_" not in n}
    assert set(notebooks) == expected
    lines = [line for line in out.splitlines() if line.startswith("optional data missing: PBCNT")]
    assert len(lines) == 1 and MISSING in lines[0] and "pbcnt-fast/02_teacher.ipynb" in lines[0]


def test_without_the_authors_pi_logs_notebook_07_and_08_are_left_out(monkeypatch, shared_data):
    notebooks, out = _collect({"PBCNT_CSV": str(shared_data / "GSE58606_data.csv"),
                               "KDSTUDY_PI_REFERENCE": "/nonexistent/pi_reference"})
    assert not [n for n in notebooks if "07_" in n or "summary-fast" in n]
    assert [n for n in notebooks if "pbcnt-fast/02" in n]
    lines = [line for line in out.splitlines() if line.startswith("optional data missing")]
    assert len(lines) == 1 and "Pi logs" in lines[0]


def test_notebook_07_default_is_the_path_the_checks_look_at():
    nb = nbformat.read(ROOT / "notebooks" / "07_pi_measurements.ipynb", 4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert f'reference_logs = "{optional.PI_REFERENCE_LOGS}"' in cell.source


def test_make_reproduce_without_pbcnt_skips_the_run_with_one_line():
    proc = subprocess.run(["make", "-n", "--no-print-directory", "reproduce", f"PBCNT_CSV={MISSING}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout + proc.stderr
    assert len([line for line in text.splitlines() if "pbcnt skipped" in line]) == 1
    assert not re.search(r"outputs/pbcnt[-/]", text.replace("pbcnt skipped", ""))


def test_notebook_08_runs_without_pbcnt(tmp_path, monkeypatch):
    """08 (fast profile) on the committed fast runs minus pbcnt-fast: it summarises the others and says so."""
    from lib.tools.execute import execute

    out = tmp_path / "outputs"
    for run in ("wdbc-fast", "bcd-fast", "wdbc-paper-fast", "wdbc-to-bcd-fast"):
        shutil.copytree(ROOT / "outputs" / run, out / run, ignore=shutil.ignore_patterns("*.ipynb", "models"))
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(out))
    monkeypatch.setenv("PBCNT_CSV", MISSING)
    (out / "summary-fast").mkdir()
    nb = execute(str(ROOT / "notebooks" / "08_statistics.ipynb"),
                 str(out / "summary-fast" / "08_statistics.ipynb"), kernel_name="kdstudy",
                 parameters={"profile": "fast"}, cwd=str(ROOT), progress_bar=False)
    text = json.dumps(nb["cells"][nb["cells"].index(next(c for c in nb["cells"] if c["cell_type"] == "code"
                                                         and "tables.available" in "".join(c["source"])))])
    assert "not summarised (no results): pbcnt-fast" in text
    table = pd.read_csv(out / "summary-fast.csv")
    assert set(table.run) == {"wdbc-fast", "bcd-fast", "wdbc-paper-fast"}
    assert (out / "summary-fast.md").read_text().strip()
