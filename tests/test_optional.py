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


def _checked_notebook(path, plain: str, html: str, fresh_plain: str, fresh_html: str):
    """An executed notebook of one checked cell: its stored output (``plain``, ``html``), and code that prints
    the fresh one (``fresh_plain``, ``fresh_html``) as a DataFrame's display would."""
    code = ("# NBVAL_CHECK_OUTPUT\nfrom IPython.display import display\n"
            f"display({{'text/plain': {fresh_plain!r}, 'text/html': {fresh_html!r}}}, raw=True)")
    cell = nbformat.v4.new_code_cell(code, execution_count=1, outputs=[nbformat.v4.new_output(
        "display_data", data={"text/plain": plain, "text/html": html})])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


def test_a_table_is_checked_by_its_plain_text_and_its_declared_fragile_count(tmp_path):
    """nbval compares a checked table through its plain text: a count declared fragile (the runtimes table's rows
    that two runtimes round differently, measured 96 -> 106 under the stand-in) passes whether or not the HTML
    beside it shows it too; a number outside its tolerance in the plain text still fails."""
    row = ("SM_INT8 litert_ref   10   860   0.9547\n\n"  # a wide table as pandas wraps it: the counts below
           "        litert_ref                   {}                      0  ")
    html = "<table><tr><th>litert_ref</th><td>0.9547</td><td>{}</td><td>0</td></tr></table>"
    run = tmp_path / "outputs" / "wdbc-paper"  # a full-profile run: its count is declared fragile
    fragile = _checked_notebook(run / "06_fragile.ipynb", row.format(96), html.format(96), row.format(106),
                                html.format(106))
    changed = _checked_notebook(run / "06_changed.ipynb", row.format(96), html.format(96),
                                row.format(96).replace("0.9547", "0.5547"), html.format(96))
    for nb, passes in ((fragile, True), (changed, False)):
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.nbval_plugin",
                               "--nbval-lax", "--nbval-current-env", str(nb)], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert (proc.returncode == 0) == passes, proc.stdout[-3000:]
