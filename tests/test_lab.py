"""``make lab``: JupyterLab starts as root with LAB_ARGS, its kernels write into a scratch copy of outputs/, and a
notebook saved under notebooks/ loses its outputs, so git status stays clean."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from lib.core import paths
from lib.tools import lab

ROOT = paths.ROOT


def _with_outputs(path: Path) -> dict:
    nb = nbformat.read(path, 4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2"}  # what a running kernel adds
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 3
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a result\n")]
    return nb


def test_pre_save_hook_strips_sources_only():
    src = ROOT / "notebooks" / "01_data_exploration.ipynb"
    model = {"type": "notebook", "content": _with_outputs(src)}
    lab.strip_sources(model, "notebooks/01_data_exploration.ipynb", type("CM", (), {"root_dir": str(ROOT)})())
    assert nbformat.writes(model["content"]) + "\n" == src.read_text()  # byte for byte what git holds
    other = {"type": "notebook", "content": _with_outputs(src)}
    lab.strip_sources(other, "scratch/mine.ipynb")
    assert any(c.get("outputs") for c in other["content"].cells)
    text = {"type": "file", "content": "x"}
    lab.strip_sources(text, "notebooks/notes.txt")
    assert text["content"] == "x"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def git_copy(repo_copy):
    """The study's sources (``repo_copy``) in a throwaway git repository, with a small outputs tree."""
    dst = repo_copy
    shutil.copy2(ROOT / ".gitignore", dst / ".gitignore")
    (dst / "outputs" / "wdbc").mkdir(parents=True)
    (dst / "outputs" / "wdbc" / "results.csv").write_text("run,model\nwdbc,SM\n")
    git = ["git", "-C", str(dst), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "sources"], check=True)
    return dst


def test_make_lab_as_root_saves_clean_notebooks_and_writes_scratch(git_copy):
    port, token = _free_port(), "kdstudy-test"
    env = {**os.environ, "HOME": str(git_copy / "home"), "JUPYTER_RUNTIME_DIR": str(git_copy / "runtime")}
    env.pop("KDSTUDY_OUTPUTS", None)
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_ARGS=--no-browser --port={port} --ServerApp.token={token} "
                             "--ServerApp.open_browser=False"], cwd=git_copy, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("make lab stopped: " + proc.stdout.read()[-3000:])
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        src = git_copy / "notebooks" / "01_data_exploration.ipynb"
        body = json.dumps({"type": "notebook", "format": "json", "content": _with_outputs(src)}).encode()
        req = urllib.request.Request(f"{base}/contents/notebooks/01_data_exploration.ipynb?token={token}", data=body,
                                     method="PUT", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30)
        status = subprocess.run(["git", "-C", str(git_copy), "status", "--porcelain", "notebooks"],
                                capture_output=True, text=True, check=True).stdout
        assert status == "", status  # the saved notebook is byte for byte the committed source
        assert (git_copy / "scratch" / "outputs" / "wdbc" / "results.csv").exists()  # the kernels' outputs tree
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    if os.geteuid() == 0:
        assert "Running as root is not recommended" not in out or "--allow-root" not in out
    assert "Overriding existing pre_save_hook" not in out, out[-2000:]


def test_make_lab_passes_root_flag_args_and_scratch():
    out = subprocess.run(["make", "-n", "lab", "LAB_ARGS=--port=1234"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "--config=lib/tools/lab.py" in out and "--port=1234" in out and "KDSTUDY_OUTPUTS=" in out
    assert ("--allow-root" in out) == (os.geteuid() == 0)
    out = subprocess.run(["make", "-n", "lab", "LAB_OUTPUTS=outputs"], cwd=ROOT, capture_output=True, text=True).stdout
    assert f"KDSTUDY_OUTPUTS={ROOT / 'outputs'}" in out


def test_make_clean_keeps_committed_results():
    out = subprocess.run(["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "outputs/*/models" in out and "rm -rf outputs/*/ " not in out
    proc = subprocess.run(["make", "clean-results"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "CONFIRM=yes" in proc.stdout + proc.stderr
