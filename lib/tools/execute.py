"""papermill as the study runs it: papermill's own engine (nbclient), with the kernel stopped at once after
its last cell instead of asked to exit.

A kernel that has imported TensorFlow takes seconds to tear its interpreter down when it is asked to exit
(module teardown and TensorFlow's destructors, after every ``atexit`` handler has run), and papermill waits
for it: jupyter_client waits up to half its ``shutdown_wait_time`` for the kernel to exit, then sends SIGTERM.
nbclient's ``shutdown_kernel = "immediate"`` (SIGKILL to the kernel's process group) ends the run as soon as
the last cell has. Nothing is lost: nbclient moves on from a cell only when the kernel reports it idle, after
its output, and papermill holds every output and writes the executed notebook (its end time and duration too,
then without the teardown) after the kernel is gone. Every file a notebook writes is complete when its cell
ends, and the engines of :mod:`lib.core.parallel` shut their pools and local Dask clusters down inside the cell
that used them (after a failure, worker processes still running are in the kernel's process group, so the kill
ends them too). What is skipped is only the kernel's own clean-up.

JupyterLab is not affected (its kernels shut down as usual); ``make`` executes every notebook through
``python -m lib.tools.execute``, which is the ``papermill`` command line with this engine as its default, and
:func:`execute` is ``papermill.execute_notebook`` with it (``lib.tools.recheck``, ``lib.tools.bench``, the tests)."""
from __future__ import annotations

import sys

import papermill as pm
from papermill.cli import papermill
from papermill.engines import NBClientEngine, papermill_engines

ENGINE = "kdstudy"


class ImmediateShutdownEngine(NBClientEngine):
    """nbclient's engine with ``shutdown_kernel="immediate"`` (a caller may still ask for ``graceful``)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs.setdefault("shutdown_kernel", "immediate")
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, ImmediateShutdownEngine)


def execute(input_path, output_path, **kwargs):
    """``papermill.execute_notebook`` with the study's engine (``engine_name`` may still be given)."""
    kwargs.setdefault("engine_name", ENGINE)
    return pm.execute_notebook(str(input_path), str(output_path), **kwargs)


def main(argv: list[str] | None = None) -> None:
    """The ``papermill`` command line, with ``--engine kdstudy`` unless another engine is named."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--engine" or a.startswith("--engine=") for a in args):
        args = ["--engine", ENGINE, *args]
    papermill.main(args=args, prog_name="papermill")


if __name__ == "__main__":
    main()
