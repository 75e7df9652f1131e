"""lib.tools.execute: papermill with the kernel stopped at once after its last cell (make, lib.tools.recheck, lib.tools.bench)."""
from __future__ import annotations

import nbformat
import pytest

from lib.tools import execute


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "kdstudy", "display_name": "KD study (.venv)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_the_command_line_defaults_to_the_study_engine(monkeypatch):
    from papermill.cli import papermill

    seen = {}
    monkeypatch.setattr(papermill, "main", lambda args, prog_name: seen.update(args=args))
    execute.main(["in.ipynb", "out.ipynb", "-k", "kdstudy"])
    assert seen["args"][:2] == ["--engine", execute.ENGINE]
    execute.main(["in.ipynb", "out.ipynb", "--engine", "nbclient"])  # a named engine is kept
    assert seen["args"] == ["in.ipynb", "out.ipynb", "--engine", "nbclient"]


def test_the_engine_stops_the_kernel_at_once_unless_told(monkeypatch):
    from papermill.engines import NBClientEngine, papermill_engines

    assert papermill_engines.get_engine(execute.ENGINE) is execute.ImmediateShutdownEngine
    seen = []
    monkeypatch.setattr(NBClientEngine, "execute_managed_notebook",
                        classmethod(lambda cls, nb_man, kernel_name, **kw: seen.append(kw["shutdown_kernel"])))
    execute.ImmediateShutdownEngine.execute_managed_notebook(None, "kdstudy")
    execute.ImmediateShutdownEngine.execute_managed_notebook(None, "kdstudy", shutdown_kernel="graceful")
    assert seen == ["immediate", "graceful"]


def test_every_output_is_kept_and_a_failure_still_fails(tmp_path, monkeypatch):
    """The kernel is stopped at once (jupyter_client is asked for ``now=True``) and only after papermill holds
    every cell's output; a failing cell still raises and leaves the error in the executed notebook."""
    from jupyter_client.manager import AsyncKernelManager
    from papermill.exceptions import PapermillExecutionError

    nows, shutdown = [], AsyncKernelManager.shutdown_kernel

    async def recording(self, now=False, restart=False):
        nows.append(now)
        return await shutdown(self, now=now, restart=restart)

    monkeypatch.setattr(AsyncKernelManager, "shutdown_kernel", recording)

    src = _notebook(tmp_path / "ok.ipynb", "x = 6 * 7\nprint('first', x)", "import sys\nprint('last', file=sys.stderr)\nx")
    nb = execute.execute(src, tmp_path / "ok-out.ipynb", kernel_name="kdstudy", progress_bar=False)
    outs = [o for c in nb.cells for o in c.outputs]
    assert any(o.get("text") == "first 42\n" for o in outs)
    assert any(o.get("name") == "stderr" and "last" in o.get("text", "") for o in outs)
    assert any(o.get("data", {}).get("text/plain") == "42" for o in outs)
    assert nows == [True]
    assert nb.metadata.papermill.duration > 0 and nb.metadata.papermill.end_time
    bad = _notebook(tmp_path / "bad.ipynb", "print('before')", "raise ValueError('named problem')")
    with pytest.raises(PapermillExecutionError, match="named problem"):
        execute.execute(bad, tmp_path / "bad-out.ipynb", kernel_name="kdstudy", progress_bar=False)
    assert "named problem" in (tmp_path / "bad-out.ipynb").read_text()
    assert nows == [True, True]
